"""The account's share of its own export: sign-in sessions and the referral that brought it."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import auth as q
from app.db.types import Connection


class SessionsSection(msgspec.Struct, frozen=True):
    sessions: list[q.ExportSessionsRow]
    referral: q.ExportReferralRow | None


async def export_section(conn: Connection, user_id: uuid.UUID) -> SessionsSection:
    return SessionsSection(
        sessions=await q.export_sessions(conn, user_id=user_id), referral=await q.export_referral(conn, user_id=user_id)
    )
