"""Gamification's share of an account's export: every XP award (its total is their sum), the streak as last
stored, achievements unlocked and the cooking log they count."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import gamification as q
from app.db.types import Connection


class GamificationSection(msgspec.Struct, frozen=True):
    xp_awards: list[q.ExportXpLedgerRow]
    streak: q.GetStreakRow | None
    achievements: list[q.ExportAchievementsRow]
    cooking_log: list[q.ExportCookingLogRow]


async def export_section(conn: Connection, user_id: uuid.UUID) -> GamificationSection:
    return GamificationSection(
        xp_awards=await q.export_xp_ledger(conn, user_id=user_id),
        streak=await q.get_streak(conn, user_id=user_id),
        achievements=await q.export_achievements(conn, user_id=user_id),
        cooking_log=await q.export_cooking_log(conn, user_id=user_id),
    )
