"""Leaderboard periods: UTC days, ISO weeks (starting on Monday) and calendar months, as app/core/limits.py defines
them for everything. Awards file their XP under these starts and leaderboards read them, so no boundary is computed
twice."""

from __future__ import annotations

import datetime
from typing import Literal

from app.core.limits import Period, period_bounds

Board = Literal["daily", "weekly", "monthly"]
PERIODS: dict[Board, Period] = {"daily": "day", "weekly": "week", "monthly": "month"}


def period_start(board: Board, now: datetime.datetime) -> datetime.date:
    return period_bounds(PERIODS[board], now)[0].date()
