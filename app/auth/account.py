"""The account's share of its own export: sign-in sessions (and the previous backend's sessions and refresh tokens
taken over from it), Apple and Google identities, the single-use links it was sent, the emails about it, and the
referral that brought it. Never a token, a token's hash or an email body (bodies carry links)."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import auth as q
from app.db.queries import email as email_q
from app.db.queries import identities as identities_q
from app.db.queries.rows import Identity
from app.db.types import Connection


class SessionsSection(msgspec.Struct, frozen=True):
    sessions: list[q.ExportSessionsRow]
    supabase_sessions: list[q.ExportSupabaseSessionsRow]
    imported_refresh_tokens: list[q.ExportImportedRefreshTokensRow]
    identities: list[Identity]
    account_tokens: list[q.ExportAccountTokensRow]
    emails: list[email_q.ExportEmailsRow]
    referral: q.ExportReferralRow | None


async def export_section(conn: Connection, user_id: uuid.UUID) -> SessionsSection:
    return SessionsSection(
        sessions=await q.export_sessions(conn, user_id=user_id),
        supabase_sessions=await q.export_supabase_sessions(conn, user_id=user_id),
        imported_refresh_tokens=await q.export_imported_refresh_tokens(conn, user_id=user_id),
        identities=await identities_q.list_identities(conn, user_id=user_id),
        account_tokens=await q.export_account_tokens(conn, user_id=user_id),
        emails=await email_q.export_emails(conn, user_id=user_id),
        referral=await q.export_referral(conn, user_id=user_id),
    )
