"""Rate limits on the credential endpoints: per account and per client address."""

from __future__ import annotations

from typing import Literal

from app.auth.service import normalise_email
from app.core.ratelimit import RateLimit, RateLimiter
from app.db.types import Connection
from app.settings import RateLimitSettings

Action = Literal["signin", "signup", "refresh"]


async def throttle(
    conn: Connection,
    limiter: RateLimiter,
    settings: RateLimitSettings,
    action: Action,
    *,
    address: str,
    account: str | None,
) -> None:
    """Count the attempt from `address` (and against `account` when known); raise TooManyRequests past a limit."""
    attempts = [(RateLimit(f"{action}:addr", settings.per_address, settings.window_seconds), address)]
    if account is not None:
        subject = normalise_email(account) if "@" in account else account
        attempts.append((RateLimit(f"{action}:acct", settings.per_account, settings.window_seconds), subject))
    await limiter.check(conn, attempts)
