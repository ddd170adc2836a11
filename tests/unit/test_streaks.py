"""Streak rules as pure functions: extension, one missed day covered by a freeze token, breaks, and local dates in
the user's time zone across DST changes."""

from __future__ import annotations

import datetime

from app.gamification.streaks import Streak, extended, local_today, settled

D = datetime.date(2026, 11, 2)
UTC = datetime.UTC


def day(n: int) -> datetime.date:
    return D + datetime.timedelta(days=n)


def cooked_on(*days: int, tokens: int = 0) -> Streak:
    streak = Streak(0, 0, None, None, tokens)
    for n in days:
        streak = extended(settled(streak, day(n))[0], day(n))
    return streak


def test_consecutive_days_extend_and_the_same_day_counts_once() -> None:
    streak = cooked_on(0, 1, 2, 2, 3)
    assert (streak.current, streak.longest, streak.started_on, streak.last_day) == (4, 4, day(0), day(3))


def test_one_missed_day_spends_a_token_and_does_not_count() -> None:
    streak = cooked_on(0, 1, tokens=1)
    frozen, spent = settled(streak, day(3))
    assert (spent, frozen.freeze_tokens, frozen.current, frozen.last_day) == (1, 0, 2, day(2))
    assert extended(frozen, day(3)).current == 3
    assert settled(frozen, day(3)) == (frozen, 0)  # settling again spends nothing more


def test_a_missed_day_without_a_token_or_two_missed_days_break_it() -> None:
    broken, spent = settled(cooked_on(0, 1), day(3))
    assert (broken.current, broken.longest, spent) == (0, 2, 0)
    assert extended(broken, day(3)).current == 1
    two_missed, spent = settled(cooked_on(0, 1, tokens=3), day(4))
    assert (two_missed.current, two_missed.freeze_tokens, spent) == (0, 3, 0)


def test_yesterday_keeps_the_streak_alive_until_tonight() -> None:
    streak = cooked_on(0, 1)
    assert settled(streak, day(2)) == (streak, 0)


def test_a_clock_moved_back_by_a_time_zone_change_counts_nothing() -> None:
    streak = cooked_on(0, 1)
    assert extended(settled(streak, day(0))[0], day(0)) == streak


def test_local_dates_follow_the_users_time_zone() -> None:
    instant = datetime.datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
    assert local_today("America/Los_Angeles", instant) == datetime.date(2026, 11, 24)
    assert local_today("Pacific/Auckland", instant) == datetime.date(2026, 11, 25)
    assert local_today("UTC", instant) == datetime.date(2026, 11, 25)


def test_dst_changes_move_the_clock_not_the_days() -> None:
    new_york = "America/New_York"
    # Spring forward (8 March 2026): 23:30 on the 7th and 23:30 on the 8th are 23 hours apart, still two days.
    before = local_today(new_york, datetime.datetime(2026, 3, 8, 4, 30, tzinfo=UTC))
    after = local_today(new_york, datetime.datetime(2026, 3, 9, 3, 30, tzinfo=UTC))
    assert (before, after) == (datetime.date(2026, 3, 7), datetime.date(2026, 3, 8))
    assert extended(extended(Streak(0, 0, None, None, 0), before), after).current == 2
    # Fall back (1 November 2026): 00:30 and 23:30 on the 1st are 24 hours apart, still one day.
    early = local_today(new_york, datetime.datetime(2026, 11, 1, 4, 30, tzinfo=UTC))
    late = local_today(new_york, datetime.datetime(2026, 11, 2, 4, 30, tzinfo=UTC))
    assert early == late == datetime.date(2026, 11, 1)
    assert extended(extended(Streak(0, 0, None, None, 0), early), late).current == 1
