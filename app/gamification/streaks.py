"""Daily cooking streaks in the user's own time zone (docs/gamification.md, "Streaks").

A local day with a recipe_cooked claim extends the streak. When exactly one day was missed, a freeze token is spent
for it automatically (the frozen day keeps the streak alive without counting); more missed days, or one without a
token, break it. Milestones (streak_milestones) award their XP once per streak and may give freeze tokens.
"""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from dataclasses import dataclass, replace

from app.db.queries import gamification as q
from app.db.types import Connection
from app.gamification.schemas import StreakStatus
from app.gamification.xp import action_named, award
from app.realtime.events import RealtimeEvent, publish

MAX_FREEZE_TOKENS = 3  # also a check constraint on streaks.freeze_tokens


@dataclass(frozen=True)
class Streak:
    current: int
    longest: int
    started_on: datetime.date | None
    last_day: datetime.date | None  # the last local day the streak covers (cooked or frozen)
    freeze_tokens: int


def local_today(time_zone: str, now: datetime.datetime) -> datetime.date:
    """The user's calendar date at `now` (an aware instant); DST only moves the wall clock, never the date logic."""
    return now.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def settled(streak: Streak, today: datetime.date) -> tuple[Streak, int]:
    """The streak as of `today`, before any cooking today: (streak, freeze tokens spent)."""
    if streak.current == 0 or streak.last_day is None or (today - streak.last_day).days <= 1:
        return streak, 0
    if (today - streak.last_day).days == 2 and streak.freeze_tokens > 0:
        return replace(streak, last_day=today - datetime.timedelta(days=1), freeze_tokens=streak.freeze_tokens - 1), 1
    return replace(streak, current=0, started_on=None), 0


def extended(streak: Streak, today: datetime.date) -> Streak:
    """A settled streak after cooking on `today`."""
    if streak.current > 0 and streak.last_day is not None and streak.last_day >= today:
        return streak  # already counted today (or a clock moved back by a time-zone change)
    if streak.current > 0 and streak.last_day == today - datetime.timedelta(days=1):
        current, started_on = streak.current + 1, streak.started_on
    else:
        current, started_on = 1, today
    return Streak(current, max(streak.longest, current), started_on, today, streak.freeze_tokens)


def status_of(streak: Streak, today: datetime.date) -> StreakStatus:
    return StreakStatus(
        current_streak=streak.current,
        longest_streak=streak.longest,
        freeze_tokens=streak.freeze_tokens,
        extended_today=streak.current > 0 and streak.last_day == today,
    )


async def record_cooking(conn: Connection, user_id: uuid.UUID, now: datetime.datetime) -> StreakStatus:
    """A cooking day for the streak; call inside the transaction of the claim. Milestones reached award their XP."""
    stored, today = await _locked(conn, user_id, now)
    before, spent = settled(stored, today)
    after = extended(before, today)
    if after.current > before.current:
        after = await _reward_milestone(conn, user_id, after)
    await _save(conn, user_id, stored, after, spent)
    return status_of(after, today)


async def check(conn: Connection, user_id: uuid.UUID, now: datetime.datetime) -> StreakStatus:
    """The streak as of now, spending a freeze token for yesterday or breaking the streak if that is due."""
    async with conn.transaction():
        stored, today = await _locked(conn, user_id, now)
        streak, spent = settled(stored, today)
        await _save(conn, user_id, stored, streak, spent)
    return status_of(streak, today)


async def current(conn: Connection, user_id: uuid.UUID, now: datetime.datetime) -> int:
    """The current streak as of now, for reading (nothing is spent or saved)."""
    row = await q.get_streak(conn, user_id=user_id)
    if row is None:
        return 0
    stored = Streak(row.current_streak, row.longest_streak, row.started_on, row.last_day, row.freeze_tokens)
    return settled(stored, local_today(row.time_zone, now))[0].current


async def _locked(conn: Connection, user_id: uuid.UUID, now: datetime.datetime) -> tuple[Streak, datetime.date]:
    row = await q.lock_streak(conn, user_id=user_id)
    assert row is not None  # insert ... returning
    streak = Streak(row.current_streak, row.longest_streak, row.started_on, row.last_day, row.freeze_tokens)
    return streak, local_today(row.time_zone, now)


async def _reward_milestone(conn: Connection, user_id: uuid.UUID, streak: Streak) -> Streak:
    for milestone in await q.list_streak_milestones(conn):
        if milestone.days == streak.current:
            await award(conn, user_id, action_named(milestone.action), f"{streak.started_on}:{milestone.days}")
            tokens = min(MAX_FREEZE_TOKENS, streak.freeze_tokens + milestone.freeze_tokens)
            return replace(streak, freeze_tokens=tokens)
    return streak


async def _save(conn: Connection, user_id: uuid.UUID, stored: Streak, streak: Streak, spent: int) -> None:
    if streak == stored:
        return
    await q.save_streak(
        conn,
        current_streak=streak.current,
        longest_streak=streak.longest,
        started_on=streak.started_on,
        last_day=streak.last_day,
        freeze_tokens=streak.freeze_tokens,
        freezes_spent=spent,
        user_id=user_id,
    )
    data = {"current_streak": streak.current, "longest_streak": streak.longest, "freeze_tokens": streak.freeze_tokens}
    await publish(conn, user_id, RealtimeEvent("streak.updated", data))
