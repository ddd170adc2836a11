"""Achievements (the seeded catalogue of migration 0018): unlocked by the server in the transaction of the action
that reaches them, once per user, each worth achievement_unlocked XP and announced as achievement.unlocked."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import gamification as q
from app.db.types import Connection
from app.gamification.schemas import Achievement
from app.gamification.xp import award
from app.realtime.events import RealtimeEvent, publish


async def evaluate(conn: Connection, user_id: uuid.UUID) -> list[str]:
    """Unlock whatever the user's counts now reach; call inside the transaction of the action that changed them.
    Returns the slugs unlocked now."""
    if not conn.is_in_transaction():
        raise RuntimeError("evaluate achievements inside the transaction of the action that earns them")
    metrics = await q.achievement_metrics(conn, user_id=user_id)
    assert metrics is not None  # scalar subqueries always make a row
    unlocked = await q.unlock_achievements(conn, user_id=user_id, reached=msgspec.to_builtins(metrics))
    for slug in unlocked:
        await award(conn, user_id, "achievement_unlocked", slug)
        await publish(conn, user_id, RealtimeEvent("achievement.unlocked", {"slug": slug}))
    return unlocked


async def list_for(conn: Connection, user_id: uuid.UUID) -> list[Achievement]:
    """The whole catalogue in display order, with the user's progress towards each and when it was unlocked."""
    metrics = await q.achievement_metrics(conn, user_id=user_id)
    assert metrics is not None
    reached: dict[str, int] = msgspec.to_builtins(metrics)
    return [
        Achievement(
            slug=row.slug,
            name=row.name,
            description=row.description,
            metric=row.metric,
            threshold=row.threshold,
            progress=min(reached[row.metric], row.threshold),
            unlocked=row.unlocked_at is not None,
            unlocked_at=row.unlocked_at,
        )
        for row in await q.list_achievements(conn, user_id=user_id)
    ]
