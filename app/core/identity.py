"""Who is calling: the identity type every domain sees (`CurrentUser`), the one token check shared by HTTP and the
WebSocket (`authenticate`), and the route dependencies that provide the caller.

The providers take their connection as a named dependency (`db` or `connect`, registered for the whole app by
app/web/dependencies.py) and the token validator from `app.state`; domains import only this module."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from app.core.errors import Unauthorized
from app.core.request_context import user_id_var
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
    """Validate an access token and load its user, provided the session is still live."""
    claims = validator.validate(token)
    user = await q.get_session_user(conn, session_id=claims.session_id, user_id=claims.user_id)
    if user is None:
        raise Unauthorized("SESSION_REVOKED", "This session has ended; sign in again.")
    return CurrentUser(user=user, session_id=claims.session_id, token_expires_at=claims.expires_at)


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
