"""The caller's progress: total XP, level and the counts behind it, derived from the ledger's total."""

from __future__ import annotations

import datetime
import uuid

from app.db.queries import gamification as q
from app.db.types import Connection
from app.gamification import streaks
from app.gamification.levels import progress_of
from app.gamification.schemas import GamificationProfile


async def progress(conn: Connection, user_id: uuid.UUID) -> GamificationProfile:
    row = await q.get_xp_progress(conn, user_id=user_id)
    assert row is not None  # scalar subqueries always make a row
    level = progress_of(row.total_xp)
    return GamificationProfile(
        user_id=user_id,
        total_xp=row.total_xp,
        level=level.level,
        current_level_xp=level.current_level_xp,
        next_level_xp=level.next_level_xp,
        achievements_earned=row.achievements_earned,
        recipes_created=row.recipes_created,
        scans_completed=row.scans_completed,
        streak_days=await streaks.current(conn, user_id, datetime.datetime.now(datetime.UTC)),
    )
