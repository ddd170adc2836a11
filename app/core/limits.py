"""Periods and the error for allowances that reset at a known moment (usage limits, AI budgets)."""

from __future__ import annotations

import datetime
from typing import Literal

from app.core.errors import AppError, ErrorDetail

Period = Literal["day", "week", "month"]


def seconds_until(moment: datetime.datetime) -> int:
    """A Retry-After value: whole seconds from now until `moment`, at least 1."""
    return max(1, int((moment - datetime.datetime.now(datetime.UTC)).total_seconds()))


class LimitReached(AppError):
    """429: an allowance is used up until `resets_at`, said in the message, `details` and Retry-After."""

    status_code = 429

    def __init__(self, code: str, used_up: str, resets_at: datetime.datetime) -> None:
        super().__init__(
            code,
            f"{used_up}; the limit resets at {resets_at.isoformat()}.",
            details=[ErrorDetail(message=resets_at.isoformat(), field="resets_at")],
            headers={"Retry-After": str(seconds_until(resets_at))},
        )
        self.resets_at = resets_at


def period_bounds(period: Period, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The UTC start of the current period and the moment the next one starts: the one definition of days, ISO weeks
    (Monday to Sunday) and calendar months, for usage limits, leaderboards and the analytics dashboard."""
    day = now.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + datetime.timedelta(days=1)
    if period == "week":
        monday = day - datetime.timedelta(days=day.weekday())
        return monday, monday + datetime.timedelta(days=7)
    month = day.replace(day=1)
    following = (month + datetime.timedelta(days=32)).replace(day=1)
    return month, following
