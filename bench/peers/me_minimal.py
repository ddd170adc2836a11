"""peer-me-minimal: /auth/me's work and nothing else, with Litestar, asyncpg and pyjwt. Decode the access JWT (HS256,
the app's secret and issuer, so the bench's token works on both), one query joining the session and its user (the
project's tables, the same columns GetSessionUser reads), the user out through msgspec. No middleware, no
dependency injection, no access log.

    PEER_DATABASE_URL=... PEER_JWT_SECRET=... PEER_JWT_ISSUER=... python -m bench.peers.me_minimal --port 8101
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import jwt
import msgspec
from litestar import Litestar, Request, get
from litestar.exceptions import NotAuthorizedException

from bench.baseline_app import serve

ME_PATH = "/api/v1/auth/me"
READY_PATH = "/ready"
# The project's pool per worker (DATABASE_POOL_MIN_SIZE / DATABASE_POOL_MAX_SIZE defaults).
POOL_MIN_SIZE, POOL_MAX_SIZE = 2, 10
# sql/queries/auth.sql GetSessionUser's columns, so the peer reads and answers what /auth/me does.
SESSION_USER = """
select u.id, u.email, u.name, u.avatar_url, cookcam_is_creator(u.creator_until) as is_creator,
       (case when cookcam_is_creator(u.creator_until) then cookcam_creator_level(u.id) end)::integer as creator_tier,
       u.onboarding_completed, u.default_serving_size, u.meal_prep_enabled, u.default_meal_prep_count,
       u.kitchen_appliances, u.dietary_preferences, u.cuisine_preferences, u.cooking_skill_level, u.created_at,
       u.time_zone, u.email_verified
from sessions s
join users u on u.id = s.user_id
where s.id = $1 and s.user_id = $2 and s.revoked_at is null
"""


class User(msgspec.Struct, frozen=True):
    id: uuid.UUID
    email: str
    name: str
    avatar_url: str | None
    is_creator: bool
    creator_tier: int | None
    onboarding_completed: bool
    default_serving_size: int | None
    meal_prep_enabled: bool | None
    default_meal_prep_count: int | None
    kitchen_appliances: list[str]
    dietary_preferences: list[str]
    cuisine_preferences: list[str]
    cooking_skill_level: str | None
    created_at: datetime.datetime
    time_zone: str
    email_verified: bool


def create_app(database_url: str, jwt_secret: str, jwt_issuer: str) -> Litestar:
    @asynccontextmanager
    async def pool(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(database_url, min_size=POOL_MIN_SIZE, max_size=POOL_MAX_SIZE)
        try:
            yield
        finally:
            await app.state.pool.close()

    @get(ME_PATH)
    async def me(request: Request[None, None, None]) -> User:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            raise NotAuthorizedException()
        try:
            claims = jwt.decode(
                token, jwt_secret, algorithms=["HS256"], issuer=jwt_issuer, options={"require": ["exp", "sub", "sid"]}
            )
            session_id, user_id = uuid.UUID(claims["sid"]), uuid.UUID(claims["sub"])
        except (jwt.PyJWTError, ValueError, TypeError):
            raise NotAuthorizedException() from None
        async with request.app.state.pool.acquire() as conn:
            row = await conn.fetchrow(SESSION_USER, session_id, user_id)
        if row is None:
            raise NotAuthorizedException()
        return User(**row)

    @get(READY_PATH)
    async def ready() -> None:
        return None

    return Litestar(route_handlers=[me, ready], lifespan=[pool], debug=False, logging_config=None)


def app_from_environment() -> Litestar:
    """The app in a granian worker: its settings from the environment the bench started the server with."""
    return create_app(os.environ["PEER_DATABASE_URL"], os.environ["PEER_JWT_SECRET"], os.environ["PEER_JWT_ISSUER"])


if __name__ == "__main__":
    serve("bench.peers.me_minimal:app_from_environment", __doc__.splitlines()[0] if __doc__ else None, factory=True)
