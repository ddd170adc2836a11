"""Rate limits on the credential and email-sending endpoints: per account and per client address."""

from __future__ import annotations

import uuid
from typing import Literal

from litestar.di import NamedDependency

from app.auth.service import normalise_email
from app.core.ratelimit import RateLimit, RateLimiter
from app.db.types import ConnectionSource
from app.settings import RateLimitSettings, Settings

Action = Literal[
    "signin",
    "signup",
    "change-password",
    "forgot-password",
    "reset-password",
    "verify-email",
    "resend-verification",
    "change-email",
    "signin-google",
    "signin-apple",
    "delete-account",
]
# Actions that send an email to the account they name: a tighter per-account limit (RATELIMIT_EMAILS_PER_ACCOUNT).
EMAIL_ACTIONS: frozenset[Action] = frozenset({"forgot-password", "resend-verification", "change-email"})


class Throttle:
    """One request's credential attempts, counted from its client address (and against the account when known)."""

    def __init__(
        self, connect: ConnectionSource, rate_limiter: RateLimiter, limits: RateLimitSettings, address: str
    ) -> None:
        self._connect, self._rate_limiter, self._limits, self._address = connect, rate_limiter, limits, address

    async def count(self, action: Action, account: str | None, *, password_of: str | None = None) -> None:
        """Count the attempt; raise TooManyRequests past a limit.

        `password_of` is the email of the account whose password the request checks. Every such route (sign-in, the
        deletion page, password and email change, account deletion) spends one budget per account and client
        address: guesses cannot be spread over routes, and a stranger's guesses from elsewhere never lock the owner
        out (the per-address limits bound a stranger's total)."""
        limits = self._limits
        attempts = [(RateLimit(f"{action}:addr", limits.per_address, limits.window_seconds), self._address)]
        if account is not None:
            subject = normalise_email(account) if "@" in account else account
            per_account = limits.emails_per_account if action in EMAIL_ACTIONS else limits.per_account
            attempts.append((RateLimit(f"{action}:acct", per_account, limits.window_seconds), subject))
        if password_of is not None:
            guesses = RateLimit("password:acct+addr", limits.per_account, limits.window_seconds)
            attempts.append((guesses, f"{normalise_email(password_of)} {self._address}"))
        await self._check(attempts)

    async def count_account(self, action: Action, account: str) -> None:
        """Count the attempt against the account only (its address was counted already, before the account was
        known: a provider's sign-in learns it from the verified token)."""
        limits = self._limits
        await self._check([(RateLimit(f"{action}:acct", limits.per_account, limits.window_seconds), account)])

    async def count_refresh(self, session_id: uuid.UUID | None) -> None:
        """Count a refresh: per client address under refresh's own limit, and per session when the token names one
        (a refresh is authenticated by its token, so the session is the account's bucket here)."""
        limits = self._limits
        attempts = [(RateLimit("refresh:addr", limits.refresh_per_address, limits.window_seconds), self._address)]
        if session_id is not None:
            per_session = RateLimit("refresh:session", limits.refresh_per_session, limits.window_seconds)
            attempts.append((per_session, str(session_id)))
        await self._check(attempts)

    async def _check(self, attempts: list[tuple[RateLimit, str]]) -> None:
        async with self._connect() as conn:
            await self._rate_limiter.check(conn, attempts)


def provide_throttle(
    connect: NamedDependency[ConnectionSource],
    rate_limiter: NamedDependency[RateLimiter],
    settings: NamedDependency[Settings],
    client_address: NamedDependency[str],
) -> Throttle:
    return Throttle(connect, rate_limiter, settings.ratelimit, client_address)
