"""Inbound provider events, processed at most once in effect.

Protocol: the event is stored and claimed in one statement (committed at once, so a crash leaves a claim whose
lease runs out); the effect then asks the provider for what it needs holding no connection (`Effect`: a slow
provider holds neither a pooled connection nor a row lock) and applies it in a transaction that first locks the
claimed row, fenced by the claim's attempt number, and marks the event processed in the same commit. So concurrent
deliveries of one event produce one effect, a crashed worker's claim is taken over after its lease, and a failure
is recorded and re-raised so the provider's retry (after a 5xx) can process it again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from app.billing.schemas import EventSource
from app.core import metrics
from app.core.errors import AppError, ServiceUnavailable
from app.db.queries import events as q
from app.db.types import Connection, ConnectionSource

log = logging.getLogger("cookcam.billing.events")

DEFAULT_LEASE_SECONDS = 60.0
EventOutcome = Literal["processed", "duplicate"]
# The part of an event's effect that writes: runs in the fenced transaction, calls no provider.
Apply = Callable[[Connection], Awaitable[None]]
# An event's effect: gathers from the provider what the writes need, borrowing a connection only around its own reads
# (never while a provider answers), and returns the Apply that records it.
Effect = Callable[[ConnectionSource], Awaitable[Apply]]


async def no_writes(_: Connection) -> None:
    """The Apply of an event that changes nothing here (a test notification, an unknown type, a partial refund)."""


def applying(apply: Apply) -> Effect:
    """The effect of an event that needs nothing from its provider beyond the event itself."""

    async def nothing_to_fetch(_: ConnectionSource) -> Apply:
        return apply

    return nothing_to_fetch


class EventInProgress(ServiceUnavailable):
    """Another worker holds a live claim on this event: answer 503 so the provider delivers it again later."""

    def __init__(self) -> None:
        super().__init__(
            "EVENT_IN_PROGRESS", "This event is being processed; deliver it again later.", retry_after_seconds=30
        )


async def process_once(
    connect: ConnectionSource,
    *,
    provider: EventSource,
    event_id: str,
    event_type: str,
    payload: Any,
    effect: Effect,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> EventOutcome:
    """Store the event and apply `effect` unless it was applied before; raise EventInProgress while another worker
    holds it, and re-raise the effect's failure after recording it."""
    async with connect() as conn:
        # A redelivery of a processed event (the common retry) is answered from one read, writing nothing: the
        # claim below would lock and rewrite the row even when it changes nothing.
        if await q.get_event_status(conn, provider=provider, event_id=event_id) == "processed":
            metrics.PROVIDER_EVENTS.labels(provider, "duplicate").inc()
            return "duplicate"
        claim = await q.claim_event(
            conn,
            provider=provider,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            lease_seconds=lease_seconds,
        )
        if claim is None:
            if await q.get_event_status(conn, provider=provider, event_id=event_id) == "processed":
                metrics.PROVIDER_EVENTS.labels(provider, "duplicate").inc()
                return "duplicate"
            metrics.PROVIDER_EVENTS.labels(provider, "in_progress").inc()
            raise EventInProgress()
    started = time.monotonic()
    try:
        apply = await effect(connect)
        async with connect() as conn, conn.transaction():
            if await q.hold_claim(conn, id=claim.id, attempt=claim.attempts) is None:
                raise EventInProgress()  # our lease ran out and another worker took the event over
            await apply(conn)
            await q.complete_event(conn, id=claim.id, duration_ms=int((time.monotonic() - started) * 1000))
    except EventInProgress:
        metrics.PROVIDER_EVENTS.labels(provider, "in_progress").inc()
        raise
    except Exception as exc:
        metrics.PROVIDER_EVENTS.labels(provider, "failed").inc()
        log.exception("%s event %s (%s) failed on attempt %d", provider, event_id, event_type, claim.attempts)
        await _record_failure(connect, claim.id, claim.attempts, exc)
        raise
    metrics.PROVIDER_EVENTS.labels(provider, "processed").inc()
    return "processed"


async def _record_failure(connect: ConnectionSource, claim_id: uuid.UUID, attempt: int, exc: Exception) -> None:
    """Keep the failure on the event for operators and the retry job; if even that fails (the database is what
    failed), the claim's lease runs out and the event is retried all the same."""
    detail = f"{exc.code}: {exc}" if isinstance(exc, AppError) else str(exc)  # the code names the cause
    try:
        async with connect() as conn:
            await q.fail_event(conn, id=claim_id, attempt=attempt, error=f"{type(exc).__name__}: {detail}"[:2000])
    except Exception:
        log.warning("could not record the failure of event claim %s", claim_id, exc_info=True)
