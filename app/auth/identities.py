"""The ways an account signs in: its password (or none, for accounts made through Apple or Google) and its Apple and
Google identities; listing them, and unlinking one as long as another way to sign in remains."""

from __future__ import annotations

from typing import Literal

from app.auth.schemas import SignInMethods
from app.core.errors import Conflict, NotFound
from app.core.identity import CurrentUser
from app.db.queries import identities as q
from app.db.types import Connection

Provider = Literal["apple", "google"]
PROVIDERS: tuple[Provider, ...] = ("apple", "google")


def password_not_set(what: str) -> Conflict:
    """The refusal where a password is required and the account has none (it signs in with Apple or Google)."""
    return Conflict(
        "PASSWORD_NOT_SET",
        f"This account has no password (it signs in with Apple or Google); {what}. Ask for a password reset "
        "link (POST /auth/forgot-password) to set a first one.",
    )


async def sign_in_methods(conn: Connection, caller: CurrentUser) -> SignInMethods:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        has_password = await q.has_password(conn, user_id=caller.id)
        identities = await q.list_identities(conn, user_id=caller.id)
    return SignInMethods(password=bool(has_password), identities=identities)


async def unlink(conn: Connection, caller: CurrentUser, provider: str) -> SignInMethods:
    """Remove the caller's identities of `provider` (404 IDENTITY_NOT_FOUND when there is none), unless it is the
    last way to sign in (409 LAST_SIGN_IN_METHOD). The account row is locked meanwhile, so two concurrent unlinks of
    the last two identities cannot both succeed."""
    if provider not in PROVIDERS:
        raise NotFound("IDENTITY_NOT_FOUND", f"This account has no {provider!r} identity.")
    async with conn.transaction():
        has_password = await q.lock_sign_in_methods(conn, user_id=caller.id)
        if has_password is None:
            raise NotFound("USER_NOT_FOUND", "This account no longer exists.")
        if await q.unlink_identity(conn, user_id=caller.id, provider=provider, has_password=has_password) == 0:
            if not await q.count_identities_of(conn, user_id=caller.id, provider=provider):
                raise NotFound("IDENTITY_NOT_FOUND", f"This account has no {provider} identity.")
            raise Conflict(
                "LAST_SIGN_IN_METHOD",
                f"{provider.capitalize()} is this account's only way to sign in; set a password or link another "
                "provider first.",
            )
    return await sign_in_methods(conn, caller)
