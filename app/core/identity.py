"""Who is calling: the identity type every domain sees (`CurrentUser`), the one token check shared by HTTP and the
WebSocket (`authenticate`), and the route dependencies that provide the caller.

The providers take their connection as a named dependency (`db` or `connect`, registered for the whole app by
app/web/dependencies.py) and the token validator from `app.state`; domains import only this module."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from app.core.errors import Unauthorized
from app.core.request_context import user_id_var
from app.core.supabase_tokens import SupabaseTokens
from app.core.tokens import AccessTokenValidator, bearer_token
from app.db.queries import auth as q
from app.db.queries.rows import User
from app.db.types import Connection, ConnectionSource


@dataclass(frozen=True)
class CurrentUser:
    """The authenticated caller: their profile (`User`, the row GetSessionUser returns: `-- row: User` in the SQL),
    the session their access token belongs to, and when it expires."""

    user: User
    session_id: uuid.UUID
    token_expires_at: int

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


async def authenticate(conn: Connection, validator: AccessTokenValidator, token: str) -> CurrentUser:
    """Validate an access token and load its user, provided the session is still live. During the move from
    Supabase, a token ours refused whose header is Supabase's is tried as one (`_authenticate_supabase`)."""
    try:
        claims = validator.validate(token)
    except Unauthorized:
        supabase = validator.supabase
        if supabase is None or not supabase.is_theirs(token):
            raise
        return await _authenticate_supabase(conn, supabase, token)
    user = await q.get_session_user(conn, session_id=claims.session_id, user_id=claims.user_id)
    if user is None:
        raise _session_ended()
    return CurrentUser(user=user, session_id=claims.session_id, token_expires_at=claims.expires_at)


def _session_ended() -> Unauthorized:
    return Unauthorized("SESSION_REVOKED", "This session has ended; sign in again.")


async def _authenticate_supabase(conn: Connection, supabase: SupabaseTokens, token: str) -> CurrentUser:
    """A verified Supabase access token stands for our session linked to its Supabase session (opened on first use,
    sql/queries/auth.sql: OpenSupabaseSession), so every revocation of ours ends it too."""
    claims = await supabase.verify(token)
    issued_at = datetime.fromtimestamp(claims.issued_at, UTC)
    session_id = None
    for _ in range(2):  # a concurrent first use of the same Supabase session linked it: read that link
        session_id = await q.open_supabase_session(
            conn, supabase_session_id=claims.supabase_session_id, user_id=claims.user_id, issued_at=issued_at
        )
        if session_id is not None:
            break
    user = None if session_id is None else await q.get_session_user(conn, session_id=session_id, user_id=claims.user_id)
    if user is None or session_id is None:
        raise _session_ended()
    return CurrentUser(user=user, session_id=session_id, token_expires_at=claims.expires_at)


def token_validator_of(request: Request[Any, Any, Any]) -> AccessTokenValidator:
    """The worker's validator, which the web wiring puts on `app.state.token_validator` at start-up. Read from the
    state rather than injected: the caller is resolved on almost every request, and each injected dependency costs
    Litestar a resolution (measured: /auth/me 2,163 req/s with it injected, 3,020 without)."""
    validator: AccessTokenValidator = request.app.state.token_validator
    return validator


async def provide_caller(request: Request[Any, Any, Any], db: NamedDependency[Connection]) -> CurrentUser:
    """The caller of a request that holds a pooled connection (`db`) anyway."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("UNAUTHENTICATED", "Sign in to continue: an Authorization: Bearer token is required.")
    caller = await authenticate(db, token_validator_of(request), token)
    user_id_var.set(str(caller.id))
    return caller


async def provide_caller_briefly(
    request: Request[Any, Any, Any], connect: NamedDependency[ConnectionSource]
) -> CurrentUser:
    """The caller, authenticated on a connection returned at once: for routes that wait on other companies' APIs,
    so that a slow provider does not hold a pooled connection for the whole request."""
    async with connect() as conn:
        return await provide_caller(request, conn)
