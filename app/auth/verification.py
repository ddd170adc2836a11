"""Email verification: a link at sign-up, on request (resend) and for a new address (email change); the rules in
functions the API routes and the server-rendered page /account/verify-email both call.

- A verification link works once, for 24 hours (VERIFICATION_LINK_TTL); only the sha256 of its token is stored.
- One pending verification per account: a new link (resend, an email change) ends the account's unused ones.
- An email change takes effect only when the new address is verified through its link, and needs the password; the
  old address gets a notice when the change is asked for. Until then the account keeps its old address.
"""

from __future__ import annotations

import asyncpg

from app.auth.emails import queue_account_email, queue_verification
from app.auth.identities import password_not_set
from app.auth.recovery import PASSWORD_RESET, refusal, why_unusable
from app.auth.schemas import ChangeEmailRequest
from app.auth.service import Credentials, normalise_email
from app.core.errors import Conflict, Unauthorized
from app.core.identity import CurrentUser
from app.core.tokens import hash_link_token
from app.db.queries import auth as auth_q
from app.db.queries import recovery as q
from app.db.types import ConnectionSource

EMAIL_VERIFICATION = "email_verification"


async def resend_verification(connect: ConnectionSource, credentials: Credentials, caller: CurrentUser) -> None:
    """A new link for the account's address (the older ones stop working); 409 when it is verified already."""
    user = caller.user
    if user.email_verified:
        raise Conflict("EMAIL_ALREADY_VERIFIED", "This email address is verified already.")
    async with connect() as conn, conn.transaction():
        await queue_verification(conn, credentials.mail, user.id, user.email, user.name)


async def verify_email(connect: ConnectionSource, token: str) -> None:
    """Verify the address a link was sent to: the link is spent and the address becomes the account's, verified
    (for an email change, the change takes effect; the account's unused reset links, sent to the old address, stop
    working). Raises LinkRefused (VERIFICATION_TOKEN_INVALID, _UNKNOWN, _USED, _EXPIRED), or Conflict EMAIL_TAKEN
    when another account took the address meanwhile."""
    async with connect() as conn:
        refused = await why_unusable(conn, token, EMAIL_VERIFICATION, "VERIFICATION")
        if refused is not None:
            raise refused
        try:
            async with conn.transaction():
                spent = await q.spend_account_token(conn, token_hash=hash_link_token(token), purpose=EMAIL_VERIFICATION)
                if spent is not None and spent.email is not None:
                    confirmed = await q.confirm_email(conn, user_id=spent.user_id, email=spent.email)
                    assert confirmed is not None  # the token's row cascades from the user's
                    await q.drop_unused_account_tokens(conn, user_id=spent.user_id, purpose=PASSWORD_RESET)
                    return
        except asyncpg.UniqueViolationError:
            raise Conflict("EMAIL_TAKEN", "Another account uses this email address now.") from None
        # Spent or expired between the check and the update (a concurrent use of the same link).
        raise await why_unusable(conn, token, EMAIL_VERIFICATION, "VERIFICATION") or refusal("VERIFICATION", "USED")


async def change_email(
    connect: ConnectionSource, credentials: Credentials, caller: CurrentUser, request: ChangeEmailRequest
) -> None:
    """Ask to move the account to `new_email`: the password is checked, a link goes to the new address and a notice
    to the old one. Nothing changes until the link is used. No connection is held while argon2id runs."""
    new_email = normalise_email(request.new_email)
    user = caller.user
    if new_email == user.email:
        raise Conflict("EMAIL_UNCHANGED", "This is already the account's email address.")
    async with connect() as conn:
        password_hash = await auth_q.get_password_hash(conn, user_id=user.id)
    if password_hash is None:
        raise password_not_set("the email address cannot be changed without one")
    if not await credentials.passwords.verify(password_hash, request.password, account=user.email):
        raise Unauthorized("INVALID_PASSWORD", "The password is incorrect; the email address was not changed.")
    async with connect() as conn, conn.transaction():
        if await q.email_in_use(conn, email=new_email, user_id=user.id):
            raise Conflict("EMAIL_TAKEN", "An account with this email already exists.")
        await queue_verification(conn, credentials.mail, user.id, new_email, user.name)
        await queue_account_email(
            conn,
            credentials.mail,
            "email_change_notice",
            recipient=user.email,
            user_id=user.id,
            values={"name": user.name, "new_email": new_email},
        )
