"""The account's share of its own export: sign-in sessions, Apple and Google identities, and the referral that
brought it."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import auth as q
from app.db.queries import identities as identities_q
from app.db.queries.rows import Identity
from app.db.types import Connection


class SessionsSection(msgspec.Struct, frozen=True):
    sessions: list[q.ExportSessionsRow]
    identities: list[Identity]
    referral: q.ExportReferralRow | None


async def export_section(conn: Connection, user_id: uuid.UUID) -> SessionsSection:
    return SessionsSection(
        sessions=await q.export_sessions(conn, user_id=user_id),
        identities=await identities_q.list_identities(conn, user_id=user_id),
        referral=await q.export_referral(conn, user_id=user_id),
    )
