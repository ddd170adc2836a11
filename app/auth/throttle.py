"""Rate limits on the credential endpoints: per account and per client address."""

from __future__ import annotations

from typing import Literal

from app.auth.service import normalise_email
from app.core.ratelimit import RateLimit
from app.services import Services

Action = Literal["signin", "signup", "refresh"]


async def throttle(services: Services, action: Action, *, address: str, account: str | None) -> None:
    """Count the attempt from `address` (and against `account` when known); raise TooManyRequests past a limit."""
    limits = services.settings.ratelimit
    attempts = [(RateLimit(f"{action}:addr", limits.per_address, limits.window_seconds), address)]
    if account is not None:
        subject = normalise_email(account) if "@" in account else account
        attempts.append((RateLimit(f"{action}:acct", limits.per_account, limits.window_seconds), subject))
    async with services.connection() as conn:
        await services.rate_limiter.check(conn, attempts)
