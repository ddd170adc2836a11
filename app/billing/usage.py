"""Usage limits for tier-limited features: atomic counters per user, metric and period in PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import AsyncIterator

from app.core.errors import AppError
from app.core.limits import LimitReached, Period, period_bounds
from app.db.queries import billing as q
from app.db.types import Connection, ConnectionSource


class UsageLimitReached(LimitReached):
    def __init__(self, code: str, metric: str, limit: int, period: Period, resets_at: datetime.datetime) -> None:
        super().__init__(code, f"You have used all {limit} {metric.replace('_', ' ')} of this {period}", resets_at)


async def consume(
    conn: Connection,
    user_id: uuid.UUID,
    metric: str,
    *,
    limit: int | None,
    period: Period,
    limit_code: str,
    now: datetime.datetime | None = None,
) -> int | None:
    """Count one use; raise UsageLimitReached (with the reset time) when the limit is already used up.

    Returns how many uses the period has had, or None for an unlimited tier (nothing is counted). Concurrent calls
    with one use left: exactly one succeeds, because the increment and the check are one statement.
    """
    if limit is None:
        return None
    start, resets_at = period_bounds(period, now or datetime.datetime.now(datetime.UTC))
    used = (
        await q.consume_usage(conn, user_id=user_id, metric=metric, period_start=start, usage_limit=limit)
        if limit > 0
        else None
    )
    if used is None:
        raise UsageLimitReached(limit_code, metric, limit, period, resets_at)
    return used


async def release(
    conn: Connection, user_id: uuid.UUID, metric: str, *, period: Period, now: datetime.datetime | None = None
) -> None:
    """Give back one use counted by `consume` for work that then failed (not the user's doing)."""
    start, _ = period_bounds(period, now or datetime.datetime.now(datetime.UTC))
    await q.release_usage(conn, user_id=user_id, metric=metric, period_start=start)


@contextlib.asynccontextmanager
async def reserved(
    connect: ConnectionSource,
    user_id: uuid.UUID,
    metric: str,
    *,
    limit: int | None,
    period: Period,
    limit_code: str,
) -> AsyncIterator[None]:
    """Count one use before work that calls a provider, and give it back if that work fails with an AppError
    (the provider's failure, not the user's doing). No pooled connection is held while the work runs."""
    async with connect() as conn:
        counted = await consume(conn, user_id, metric, limit=limit, period=period, limit_code=limit_code) is not None
    try:
        yield
    except AppError:
        if counted:
            async with connect() as conn:
                await release(conn, user_id, metric, period=period)
        raise
