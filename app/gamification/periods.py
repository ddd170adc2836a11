"""The one definition of leaderboard periods: UTC days, ISO weeks (starting on Monday) and calendar months. Awards
file their XP under these starts and leaderboards read them, so no boundary is computed twice."""

from __future__ import annotations

import datetime
from typing import Literal

Board = Literal["daily", "weekly", "monthly"]


def period_start(board: Board, now: datetime.datetime) -> datetime.date:
    day = now.astimezone(datetime.UTC).date()
    if board == "daily":
        return day
    if board == "weekly":
        return day - datetime.timedelta(days=day.weekday())  # ISO 8601: Monday
    return day.replace(day=1)
