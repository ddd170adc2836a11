"""Proving, on an authenticated request, that its caller holds the account right now, before the account is deleted
(DELETE /auth/account): the account's password, or a fresh token of an Apple or Google identity linked to the
account, verified by the sign-in verifiers themselves (app/auth/apple_signin.py, app/auth/google_signin.py).

A linked identity proves ownership as the password does (either one signs the account in), so an account that has
both may use either; an account without a password must use an identity. A token proves a sign-in that just
happened: its `iat` must be at most REAUTHENTICATION_MAX_AGE_SECONDS old. Every attempt is counted per account and
per client address (429 RATE_LIMITED); a password also spends the account's one password-guess budget, shared with
sign-in and the other password checks. docs/security.md, "Deleting an account"."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Protocol

from litestar.di import NamedDependency

from app.auth.identities import password_not_set
from app.auth.sign_in_providers import SignInProviders
from app.auth.social import VerifiedIdentity
from app.auth.throttle import Throttle, provide_throttle
from app.core.errors import Forbidden, Unauthorized, Unprocessable
from app.core.passwords import Passwords
from app.core.ratelimit import RateLimiter
from app.db.queries import auth as auth_q
from app.db.queries import identities as q
from app.db.types import ConnectionSource
from app.settings import Settings

# How old a provider token may be: the person signed in with Apple or Google a moment ago, in the app's deletion
# flow (Apple's identity tokens live ten minutes, Google's an hour: their expiry alone is not "a moment ago").
REAUTHENTICATION_MAX_AGE_SECONDS = 300
# Allowed difference between our clock and the provider's, as the verifiers allow it for `exp`.
CLOCK_SKEW_SECONDS = 60


class OwnerProof(Protocol):
    """What the caller sends: exactly one of the password, an Apple identity token (with the nonce it was bound
    to, if any) or a Google ID token."""

    @property
    def confirm_password(self) -> str | None: ...
    @property
    def identity_token(self) -> str | None: ...
    @property
    def nonce(self) -> str | None: ...
    @property
    def id_token(self) -> str | None: ...


@dataclass(frozen=True)
class OwnerCheck:
    """One request's check that its caller owns the account (raises when the proof fails)."""

    connect: ConnectionSource
    passwords: Passwords
    providers: SignInProviders
    throttle: Throttle

    async def __call__(self, user_id: uuid.UUID, proof: OwnerProof) -> None:
        given = [proof.confirm_password, proof.identity_token, proof.id_token]
        if sum(value is not None for value in given) != 1 or (proof.nonce is not None and proof.identity_token is None):
            raise Unprocessable(
                "PROOF_REQUIRED",
                "Confirm with exactly one of confirm_password, identity_token (Sign in with Apple, with its nonce "
                "if the sign-in used one) or id_token (Sign in with Google).",
            )
        if proof.confirm_password is not None:
            await self._password(user_id, proof.confirm_password)
            return
        await self.throttle.count("delete-account", str(user_id))
        if proof.identity_token is not None:
            await self._identity(user_id, await self.providers.apple.verify(proof.identity_token, proof.nonce, None))
        else:
            assert proof.id_token is not None  # exactly one proof was given
            await self._identity(user_id, await self.providers.google.verify(proof.id_token))

    async def _password(self, user_id: uuid.UUID, password: str) -> None:
        async with self.connect() as conn:
            holder = await auth_q.get_password_holder(conn, user_id=user_id)
        await self.throttle.count("delete-account", str(user_id), password_of=holder.email if holder else None)
        if holder is None or holder.password_hash is None:
            raise password_not_set(
                "confirm the deletion by signing in with Apple or Google again (identity_token or id_token)"
            )
        if not await self.passwords.verify(holder.password_hash, password, account=holder.email):
            raise Unauthorized("INVALID_PASSWORD", "The password is incorrect; the account was not deleted.")

    async def _identity(self, user_id: uuid.UUID, identity: VerifiedIdentity) -> None:
        age = datetime.datetime.now(datetime.UTC) - identity.issued_at
        if age > datetime.timedelta(seconds=REAUTHENTICATION_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS):
            raise Unauthorized(
                "REAUTHENTICATION_TOO_OLD",
                f"Sign in with {identity.provider.capitalize()} again right before deleting the account; this "
                "token was issued too long ago.",
            )
        async with self.connect() as conn:
            linked = await q.is_identity_of(conn, user_id=user_id, provider=identity.provider, subject=identity.subject)
        if not linked:
            raise Forbidden(
                "IDENTITY_NOT_LINKED",
                f"This {identity.provider.capitalize()} account is not linked to the signed-in account; the "
                "account was not deleted.",
            )


def provide_owner_check(
    *,
    connect: NamedDependency[ConnectionSource],
    passwords: NamedDependency[Passwords],
    sign_in_providers: NamedDependency[SignInProviders],
    rate_limiter: NamedDependency[RateLimiter],
    settings: NamedDependency[Settings],
    client_address: NamedDependency[str],
) -> OwnerCheck:
    return OwnerCheck(
        connect, passwords, sign_in_providers, provide_throttle(connect, rate_limiter, settings, client_address)
    )
