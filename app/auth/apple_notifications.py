"""Apple's server-to-server notifications for Sign in with Apple ("Processing changes for Sign in with Apple
accounts", https://developer.apple.com/documentation/sign_in_with_apple/processing_changes_for_sign_in_with_apple_accounts):
a JWT signed with the keys of Apple's JWKS (the identity tokens' keys), whose `events` claim (a JSON string) names one
event about one Apple ID (`sub`):

- `email-disabled` / `email-enabled`: the person stopped or restarted the forwarding of their private-relay address;
  recorded on the identity (`email_forwarding_disabled`);
- `consent-revoked`: the person stopped using Sign in with Apple for CookCam: the identity is unlinked and every
  session of the account ends (sessions do not record how they signed in, so all of them; the person signs in
  again with any method left);
- `account-delete`: the Apple ID was deleted: the identity goes, and so does the account when no other way to sign in
  remains (no password, no other identity), since nobody could ever reach it again; an account with another way in
  stays.

Every event is applied once in effect: an identity linked after the event's time is never removed by it, an email
event older than the last one applied changes nothing, and a second delivery finds nothing left to do.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from app.auth.apple_signin import AppleSignIn
from app.auth.service import revoke_sessions
from app.core.errors import BadRequest
from app.db.queries import identities as q
from app.db.types import ConnectionSource

log = logging.getLogger(__name__)

# Erases an account and everything it owns (app.account's deletion, passed in by the wiring).
AccountEraser = Callable[[uuid.UUID], Awaitable[object]]
KNOWN_EVENTS = frozenset({"email-disabled", "email-enabled", "consent-revoked", "account-delete"})


class AppleEvent(msgspec.Struct, frozen=True):
    type: str
    sub: Any = None
    event_time: Any = None  # milliseconds since the epoch


def _invalid() -> BadRequest:
    return BadRequest("APPLE_NOTIFICATION_INVALID", "The notification's events are not a Sign in with Apple event.")


def _event(claims: dict[str, Any] | Any) -> AppleEvent:
    events = claims.get("events") if isinstance(claims, dict) else None
    try:
        if isinstance(events, str):
            events = json.loads(events)
        event = msgspec.convert(events, AppleEvent)
    except (ValueError, msgspec.ValidationError):
        raise _invalid() from None
    if not isinstance(event.sub, str) or not 1 <= len(event.sub) <= 255:
        raise _invalid()
    return event


def _event_time(event: AppleEvent, claims: dict[str, Any]) -> datetime.datetime:
    """When the event happened: `event_time` (ms), else the notification's `iat`."""
    try:
        if isinstance(event.event_time, int | float) and not isinstance(event.event_time, bool):
            return datetime.datetime.fromtimestamp(event.event_time / 1000, datetime.UTC)
        return datetime.datetime.fromtimestamp(float(claims["iat"]), datetime.UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise _invalid() from None


async def handle_notification(
    connect: ConnectionSource, apple: AppleSignIn, erase_account: AccountEraser, payload: str
) -> str:
    """Verify Apple's notification and act on its event; returns the event's type (unknown types are ignored)."""
    claims = dict(await apple.verified_claims(payload, require_exp=False))
    event = _event(claims)
    if event.type not in KNOWN_EVENTS:
        log.info("ignored a Sign in with Apple notification of type %r", event.type[:40])
        return event.type
    subject, at = event.sub, _event_time(event, claims)
    if event.type == "account-delete" and await _erase_sole_apple_account(connect, erase_account, subject, at):
        return event.type
    async with connect() as conn, conn.transaction():
        if event.type in ("email-disabled", "email-enabled"):
            disabled = event.type == "email-disabled"
            await q.set_apple_email_forwarding(conn, disabled=disabled, event_time=at, subject=subject)
        else:
            user_id = await q.revoke_apple_identity(conn, subject=subject, event_time=at)
            if user_id is not None and event.type == "consent-revoked":
                await revoke_sessions(conn, user_id, "apple_consent_revoked")
    log.info("applied a Sign in with Apple notification of type %s", event.type)
    return event.type


async def _erase_sole_apple_account(
    connect: ConnectionSource, erase_account: AccountEraser, subject: str, at: datetime.datetime
) -> bool:
    """For account-delete: erase the account when Apple was its only way in (the identity goes with it). The
    deletion runs each domain's close step holding no connection; if it fails, nothing was changed and the error
    answer makes Apple deliver again."""
    async with connect() as conn:
        owner = await q.apple_identity_owner(conn, subject=subject, event_time=at)
        sole = owner is not None and not await q.has_sign_in_method_besides(conn, user_id=owner, provider="apple")
    if owner is None or not sole:
        return False
    await erase_account(owner)
    log.info("erased the account of a deleted Apple ID (its only way to sign in)")
    return True
