"""Live sessions' share of an account: in the export, the sessions it hosted, its participations, the
invitations it received (the inviting host's id) and the messages it wrote; on deletion, the others in its active
sessions are told (app/live/service.py: account_closing)."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import live as q
from app.db.types import Connection


class LiveSection(msgspec.Struct, frozen=True):
    live_sessions_hosted: list[q.ExportHostedLiveSessionsRow]
    live_session_participations: list[q.ExportLiveSessionParticipationsRow]
    live_session_invitations: list[q.ExportLiveSessionInvitationsRow]
    live_session_messages: list[q.ExportLiveSessionMessagesRow]


async def export_section(conn: Connection, user_id: uuid.UUID) -> LiveSection:
    return LiveSection(
        live_sessions_hosted=await q.export_hosted_live_sessions(conn, user_id=user_id),
        live_session_participations=await q.export_live_session_participations(conn, user_id=user_id),
        live_session_invitations=await q.export_live_session_invitations(conn, user_id=user_id),
        live_session_messages=await q.export_live_session_messages(conn, user_id=user_id),
    )
