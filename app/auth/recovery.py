"""Account recovery by email: forgot-password and reset-password, the rules in functions the API routes and the
server-rendered page /account/reset-password both call.

- A reset link works once, for 30 minutes (RESET_LINK_TTL); only the sha256 of its token is stored.
- Only the newest link works: asking again deletes the account's unused reset tokens, so an older link answers
  RESET_TOKEN_UNKNOWN. A password set another way (a change, a reset) also ends the unused links.
- forgot-password does the same work whether or not an account uses the address: one statement that issues a token
  only when there is an account, then one email queued either way (the reset link, or a note that no account uses
  the address), in one transaction. The caller's answer is the same 202 and body.
"""

from __future__ import annotations

import datetime

from app.auth.emails import RESET_LINK_TTL, queue_account_email
from app.auth.password_policy import check_new_password
from app.auth.service import Credentials, normalise_email, password_changed_notice, revoke_sessions
from app.core.errors import BadRequest
from app.core.tokens import hash_link_token, link_token_intact, new_link_token
from app.db.queries import recovery as q
from app.db.types import Connection, ConnectionSource

PASSWORD_RESET = "password_reset"  # noqa: S105 - the purpose of a link, not a secret


async def request_password_reset(connect: ConnectionSource, credentials: Credentials, email: str) -> None:
    """Queue a reset link to `email` if an account uses it, else a note that none does; the same work either way."""
    address = normalise_email(email)
    token = new_link_token()
    expires_at = datetime.datetime.now(datetime.UTC) + RESET_LINK_TTL
    mail = credentials.mail
    async with connect() as conn, conn.transaction():
        account = await q.request_password_reset(
            conn, email=address, token_hash=hash_link_token(token), expires_at=expires_at
        )
        if account is None:
            await queue_account_email(
                conn, mail, "password_reset_no_account", recipient=address, user_id=None, values={}
            )
            return
        values = {
            "name": account.name,
            "link": mail.link("reset-password", token),
            "minutes": str(int(RESET_LINK_TTL.total_seconds() // 60)),
        }
        await queue_account_email(
            conn, mail, "password_reset", recipient=address, user_id=account.user_id, values=values
        )


class LinkRefused(BadRequest):
    """A single-use link that cannot be used, with one code per reason (`<PREFIX>_TOKEN_<REASON>`)."""


def refusal(prefix: str, reason: str) -> LinkRefused:
    messages = {
        "INVALID": "This link is damaged or was altered; open the link from the email as it is, or ask for a new one.",
        "UNKNOWN": "This link is not valid (a newer one may have been sent); ask for a new one.",
        "EXPIRED": "This link has expired; ask for a new one.",
        "USED": "This link was already used; ask for a new one if you still need it.",
    }
    return LinkRefused(f"{prefix}_TOKEN_{reason}", messages[reason])


async def why_unusable(conn: Connection, token: str, purpose: str, prefix: str) -> LinkRefused | None:
    """The refusal a link gets now, or None while it can be used (INVALID, UNKNOWN, USED, EXPIRED)."""
    if not link_token_intact(token):
        return refusal(prefix, "INVALID")
    known = await q.get_account_token(conn, token_hash=hash_link_token(token), purpose=purpose)
    if known is None:
        return refusal(prefix, "UNKNOWN")
    if known.used_at is not None:
        return refusal(prefix, "USED")
    if known.expires_at <= datetime.datetime.now(datetime.UTC):
        return refusal(prefix, "EXPIRED")
    return None


async def reset_password(connect: ConnectionSource, credentials: Credentials, token: str, new_password: str) -> None:
    """Set a new password with a reset link's token: the link is spent, every session of the account ends (with
    `session.revoked` events), its other unused reset links stop working, and a notice is queued, in one
    transaction. Raises LinkRefused (RESET_TOKEN_INVALID, _UNKNOWN, _USED, _EXPIRED) or the policy's Unprocessable.
    No connection is held while argon2id runs."""
    async with connect() as conn:
        refused = await why_unusable(conn, token, PASSWORD_RESET, "RESET")
    if refused is not None:
        raise refused
    check_new_password(new_password)
    token_hash = hash_link_token(token)
    # The account is known once the link is spent: until then the link names the hashing share.
    password_hash = await credentials.passwords.hash(new_password, account=token_hash.hex())
    async with connect() as conn:
        async with conn.transaction():
            spent = await q.spend_account_token(conn, token_hash=token_hash, purpose=PASSWORD_RESET)
            if spent is not None:
                account = await q.set_password_hash(conn, password_hash=password_hash, user_id=spent.user_id)
                assert account is not None  # the token's row cascades from the user's
                await revoke_sessions(conn, account.id, "password_reset")
                await q.drop_unused_account_tokens(conn, user_id=account.id, purpose=PASSWORD_RESET)
                await password_changed_notice(conn, credentials.mail, account.id, account.email, account.name)
                return
        # Spent or expired while the password was hashed (a concurrent use of the same link).
        refused = await why_unusable(conn, token, PASSWORD_RESET, "RESET")
    raise refused or refusal("RESET", "USED")
