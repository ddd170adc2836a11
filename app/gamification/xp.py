"""Awarding XP: the amount comes from `xp_actions` (migration 0016), never from a client; each award is a ledger row
written in the transaction of the action that earns it, unique per (user, action, key) and within the action's daily
cap; the user's total moves with it and the user's sockets hear of it when the transaction commits."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Literal, cast, get_args

from app.core.limits import period_bounds
from app.db.queries import gamification as q
from app.db.types import Connection
from app.gamification.levels import level_for
from app.gamification.periods import period_start
from app.realtime.events import RealtimeEvent, publish

# The actions of xp_actions (a test keeps the two equal); the claimable ones are in claims.py.
Action = Literal[
    "scan_completed",
    "recipe_generated",
    "recipe_rated",
    "recipe_cooked",
    "completion_photo",
    "recipe_shared",
    "daily_check_in",
    "streak_3",
    "streak_7",
    "streak_14",
    "streak_30",
    "streak_60",
    "streak_100",
    "streak_365",
    "achievement_unlocked",
    # Never awarded here: `cookcam import supabase` writes it once per account with the old backend's total
    # (migration 0032; all-time only).
    "opening_balance",
]
ACTIONS: frozenset[str] = frozenset(get_args(Action))
Outcome = Literal["awarded", "duplicate", "daily_cap_reached"]


def action_named(name: str) -> Action:
    """An action named by a table row (streak_milestones, ...), checked against the Action type."""
    if name not in ACTIONS:
        raise ValueError(f"{name!r} is not an XP action this code knows")
    return cast("Action", name)


@dataclass(frozen=True)
class Award:
    xp_awarded: int
    total_xp: int
    level: int
    leveled_up: bool
    outcome: Outcome


async def award(
    conn: Connection, user_id: uuid.UUID, action: Action, dedup_key: str, *, now: datetime.datetime | None = None
) -> Award:
    """Award `action` once per `dedup_key`, within its daily cap (UTC day). Call it inside the transaction that
    commits the action itself, so that the action and its XP exist together or not at all. `now` (the award's
    time, for its day, cap and periods) is the current time unless given."""
    if not conn.is_in_transaction():
        raise RuntimeError("award XP inside the transaction of the action that earns it")
    total_before = await q.lock_xp_total(conn, user_id=user_id)
    assert total_before is not None  # insert ... returning
    now = now or datetime.datetime.now(datetime.UTC)
    key = dedup_key[:200]  # the column's bound
    day_start, day_end = period_bounds("day", now)
    amount = await q.insert_xp_award(
        conn,
        user_id=user_id,
        action=action,
        dedup_key=key,
        awarded_at=now,
        day_start=day_start,
        day_end=day_end,
    )
    if amount is None:
        repeated = await q.xp_award_exists(conn, user_id=user_id, action=action, dedup_key=key)
        level = level_for(total_before)
        return Award(0, total_before, level, False, "duplicate" if repeated else "daily_cap_reached")
    total = await q.add_to_xp_total(conn, amount=amount, user_id=user_id)
    assert total is not None  # the row was locked above
    await q.add_to_period_totals(
        conn,
        day_start=period_start("daily", now),
        user_id=user_id,
        amount=amount,
        week_start=period_start("weekly", now),
        month_start=period_start("monthly", now),
    )
    level_before, level = level_for(total_before), level_for(total)
    await publish(conn, user_id, RealtimeEvent("xp.awarded", {"action": action, "amount": amount, "total_xp": total}))
    if level > level_before:
        await publish(conn, user_id, RealtimeEvent("level.up", {"level": level}))
    return Award(amount, total, level, level > level_before, "awarded")
