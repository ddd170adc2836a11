"""Signing in with a verified Apple or Google identity: which account it binds to, the session it starts.

Binding rules, in order (docs/security.md, "Sign in with Apple and Google"):
1. an identity already bound (provider, subject) signs its account in;
2. else, when the provider vouches for the email (`email_verified`, and not an Apple private-relay address) and an
   account uses that email: if that account's own email is verified, the identity is linked to it and it signs in;
   if not, 409 ACCOUNT_EMAIL_UNVERIFIED (nobody takes over an account whose address was never proven);
3. else, when an account uses the email anyway (the provider does not vouch for it, or it is a relay address): 409
   EMAIL_TAKEN, nothing linked;
4. else a new account without a password, its email verified as the provider says (unverified: a verification link
   is queued, as at sign-up).
Everything happens in one transaction with the session it starts; a refusal writes nothing.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.auth.emails import queue_verification
from app.auth.identities import Provider
from app.auth.schemas import AuthResponse
from app.auth.service import (
    Credentials,
    auth_response,
    issue_session,
    new_session_refresh_token,
    normalise_email,
)
from app.core.errors import Conflict, Unprocessable
from app.db.queries import identities as q
from app.db.types import Connection, ConnectionSource

PRIVATE_RELAY_DOMAIN = "privaterelay.appleid.com"
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
DEFAULT_NAME = "CookCam cook"


@dataclass(frozen=True)
class VerifiedIdentity:
    """What a verified provider token says about the person signing in."""

    provider: Provider
    subject: str
    email: str | None
    email_verified: bool
    # The token's `iat`: when the provider signed the person in (a deletion wants a recent one).
    issued_at: datetime.datetime
    # Apple's is_private_email, or an address at privaterelay.appleid.com.
    private_relay: bool = False
    name: str | None = None


@dataclass(frozen=True)
class ProviderSignIn:
    auth: AuthResponse
    created: bool


def bool_claim(value: object) -> bool:
    """A boolean claim as providers send it: true/false, or the strings "true"/"false" (Apple)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def email_claim(value: object) -> str | None:
    """The token's email, normalised; None when absent or not a plausible address."""
    if not isinstance(value, str):
        return None
    email = normalise_email(value)
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > MAX_EMAIL_LENGTH or any(c.isspace() for c in email):
        return None
    return email


def issued_at_claim(claims: Mapping[str, Any]) -> datetime.datetime:
    """The token's `iat` (present and numeric: both verifiers require and check it)."""
    return datetime.datetime.fromtimestamp(float(claims["iat"]), datetime.UTC)


def is_private_relay(email: str | None) -> bool:
    return email is not None and email.endswith("@" + PRIVATE_RELAY_DOMAIN)


def _display_name(identity: VerifiedIdentity) -> str:
    name = " ".join((identity.name or "").split())[:MAX_NAME_LENGTH]
    if name:
        return name
    if identity.email and not identity.private_relay:
        return identity.email.partition("@")[0][:MAX_NAME_LENGTH] or DEFAULT_NAME
    return DEFAULT_NAME


async def sign_in_with_identity(
    connect: ConnectionSource, issuer: Credentials, identity: VerifiedIdentity
) -> ProviderSignIn:
    """Bind the verified identity to an account (the rules above) and start a session on it."""
    refresh_token = new_session_refresh_token(issuer)
    async with connect() as conn:
        # A concurrent first sign-in of the same identity (two taps) makes one insert fail: the second try finds it.
        for attempt in (1, 2):
            try:
                async with conn.transaction():
                    user_id, created = await _bind(conn, issuer, identity)
                    session_id = await issue_session(conn, user_id, refresh_token)
                break
            except asyncpg.UniqueViolationError:
                if attempt == 2:
                    raise Conflict(
                        "SIGN_IN_CONFLICT", "Another sign-in of this account is under way; try again."
                    ) from None
        return ProviderSignIn(await auth_response(conn, issuer, user_id, session_id, refresh_token.token), created)


async def _bind(conn: Connection, issuer: Credentials, identity: VerifiedIdentity) -> tuple[uuid.UUID, bool]:
    email = identity.email
    bound = await q.sign_in_with_identity(
        conn,
        email=email,
        email_verified=identity.email_verified,
        provider=identity.provider,
        subject=identity.subject,
    )
    if bound is not None:
        return bound, False
    if email is None:
        raise Unprocessable(
            "PROVIDER_EMAIL_MISSING",
            "The provider did not share an email address; allow CookCam to see your email and try again.",
        )
    account = await q.get_account_for_linking(conn, email=email)
    if account is not None:
        if not identity.email_verified or identity.private_relay:
            raise Conflict(
                "EMAIL_TAKEN",
                "An account already uses this email; sign in with its password (the provider cannot vouch for it).",
            )
        if not account.email_verified:
            raise Conflict(
                "ACCOUNT_EMAIL_UNVERIFIED",
                "An account uses this email but its address was never verified; sign in with its password and "
                "verify the address first, then sign in this way.",
            )
        await q.link_identity(
            conn,
            user_id=account.id,
            provider=identity.provider,
            subject=identity.subject,
            email=email,
            email_verified=identity.email_verified,
        )
        return account.id, False
    name = _display_name(identity)
    created = await q.create_identity_account(
        conn,
        email=email,
        name=name,
        email_verified=identity.email_verified,
        provider=identity.provider,
        subject=identity.subject,
    )
    assert created is not None  # the statement inserts and returns exactly one row
    if not identity.email_verified:
        await queue_verification(conn, issuer.mail, created, email, name)
    return created, True
