"""Rate limits on the credential and email-sending endpoints: per account and per client address."""

from __future__ import annotations

from typing import Literal

from litestar.di import NamedDependency

from app.auth.service import normalise_email
from app.core.ratelimit import RateLimit, RateLimiter
from app.db.types import ConnectionSource
from app.settings import RateLimitSettings, Settings

Action = Literal[
    "signin",
    "signup",
    "refresh",
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

    async def count(self, action: Action, account: str | None) -> None:
        """Count the attempt; raise TooManyRequests past a limit."""
        limits = self._limits
        attempts = [(RateLimit(f"{action}:addr", limits.per_address, limits.window_seconds), self._address)]
        if account is not None:
            subject = normalise_email(account) if "@" in account else account
            per_account = limits.emails_per_account if action in EMAIL_ACTIONS else limits.per_account
            attempts.append((RateLimit(f"{action}:acct", per_account, limits.window_seconds), subject))
        async with self._connect() as conn:
            await self._rate_limiter.check(conn, attempts)

    async def count_account(self, action: Action, account: str) -> None:
        """Count the attempt against the account only (its address was counted already, before the account was
        known: a provider's sign-in learns it from the verified token)."""
        limits = self._limits
        async with self._connect() as conn:
            await self._rate_limiter.check(
                conn, [(RateLimit(f"{action}:acct", limits.per_account, limits.window_seconds), account)]
            )


def provide_throttle(
    connect: NamedDependency[ConnectionSource],
    rate_limiter: NamedDependency[RateLimiter],
    settings: NamedDependency[Settings],
    client_address: NamedDependency[str],
) -> Throttle:
    return Throttle(connect, rate_limiter, settings.ratelimit, client_address)
