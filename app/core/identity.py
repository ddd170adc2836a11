"""Who is calling: the identity type every domain sees (`CurrentUser`), the one token check shared by HTTP and the
WebSocket (`authenticate`), and the route dependencies that provide the caller.

The providers take their collaborators as named dependencies (`db` or `connect`, and `token_validator`), which
the web wiring (app/web/dependencies.py) registers for the whole app; domains import only this module."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.di import NamedDependency

from app.core.errors import Unauthorized
from app.core.request_context import user_id_var
from app.core.tokens import AccessTokenValidator, bearer_token
from app.db.queries import auth as q
from app.db.types import Connection, ConnectionSource


class User(msgspec.Struct, frozen=True):
    id: uuid.UUID
    email: str
    name: str
    avatar_url: str | None
    is_creator: bool
    creator_tier: str | None
    onboarding_completed: bool
    default_serving_size: int | None
    meal_prep_enabled: bool | None
    default_meal_prep_count: int | None
    kitchen_appliances: list[str]
    dietary_preferences: list[str]
    cuisine_preferences: list[str]
    cooking_skill_level: str | None
    created_at: datetime.datetime
    time_zone: str  # IANA name; streaks count days in it


@dataclass(frozen=True)
class CurrentUser:
    """The authenticated caller: their profile, the session their access token belongs to, and when it expires."""

    user: User
    session_id: uuid.UUID
    token_expires_at: int

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


def user_of(row: msgspec.Struct) -> User:
    # The session and profile queries select exactly User's columns in User's order (a test checks the field lists).
    return User(*msgspec.structs.astuple(row))


async def authenticate(conn: Connection, validator: AccessTokenValidator, token: str) -> CurrentUser:
    """Validate an access token and load its user, provided the session is still live."""
    claims = validator.validate(token)
    row = await q.get_session_user(conn, session_id=claims.session_id, user_id=claims.user_id)
    if row is None:
        raise Unauthorized("SESSION_REVOKED", "This session has ended; sign in again.")
    return CurrentUser(user=user_of(row), session_id=claims.session_id, token_expires_at=claims.expires_at)


async def provide_caller(
    request: Request[Any, Any, Any],
    db: NamedDependency[Connection],
    token_validator: NamedDependency[AccessTokenValidator],
) -> CurrentUser:
    """The caller of a request that holds a pooled connection (`db`) anyway."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("UNAUTHENTICATED", "Sign in to continue: an Authorization: Bearer token is required.")
    caller = await authenticate(db, token_validator, token)
    user_id_var.set(str(caller.id))
    return caller


async def provide_caller_briefly(
    request: Request[Any, Any, Any],
    connect: NamedDependency[ConnectionSource],
    token_validator: NamedDependency[AccessTokenValidator],
) -> CurrentUser:
    """The caller, authenticated on a connection returned at once: for routes that wait on other companies' APIs,
    so that a slow provider does not hold a pooled connection for the whole request."""
    async with connect() as conn:
        return await provide_caller(request, conn, token_validator)
