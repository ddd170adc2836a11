"""Dashboard periods: UTC days, ISO weeks (Monday 00:00 to the next Monday), calendar months, all time."""

from __future__ import annotations

import datetime

import pytest

from app.analytics.service import period_bounds

UTC = datetime.UTC
SINCE = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def utc(*parts: int) -> datetime.datetime:
    return datetime.datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "week_start"),
    [
        (utc(2026, 11, 23, 0, 0), utc(2026, 11, 23)),  # Monday midnight starts a week
        (utc(2026, 11, 29, 23, 59, 59), utc(2026, 11, 23)),  # Sunday's last second still belongs to it
        (utc(2026, 11, 30, 0, 0), utc(2026, 11, 30)),
        (utc(2027, 1, 1, 9, 0), utc(2026, 12, 28)),  # across a year: ISO week 53 of 2026
    ],
)
def test_weeks_run_monday_to_sunday_in_utc(now: datetime.datetime, week_start: datetime.datetime) -> None:
    assert period_bounds("week", now, SINCE) == (week_start, week_start + datetime.timedelta(days=7))


def test_local_times_are_placed_in_their_utc_period() -> None:
    # Monday 08:00 in Tokyo is Sunday 23:00 UTC: the week before.
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    now = datetime.datetime(2026, 11, 30, 8, 0, tzinfo=tokyo)
    assert period_bounds("week", now, SINCE) == (utc(2026, 11, 23), utc(2026, 11, 30))
    assert period_bounds("day", now, SINCE) == (utc(2026, 11, 29), utc(2026, 11, 30))


def test_days_and_months() -> None:
    now = utc(2026, 12, 31, 18, 30)
    assert period_bounds("day", now, SINCE) == (utc(2026, 12, 31), utc(2027, 1, 1))
    assert period_bounds("month", now, SINCE) == (utc(2026, 12, 1), utc(2027, 1, 1))
    assert period_bounds("month", utc(2028, 2, 29, 1), SINCE) == (utc(2028, 2, 1), utc(2028, 3, 1))


def test_all_time_runs_from_the_accounts_creation_to_now() -> None:
    now = utc(2026, 11, 25, 10)
    assert period_bounds("all", now, SINCE) == (SINCE, now)
    # A creation time a skewed clock puts after now still makes a valid, empty-or-more range.
    assert period_bounds("all", now, now + datetime.timedelta(seconds=2)) == (now, now)
