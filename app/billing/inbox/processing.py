"""Inbound provider events, processed at most once in effect.

An effect that is one subscription state (`StoredWith`: Stripe's subscription events) is stored with the event in
ONE statement (cookcam_store_subscription_event): the event inserted as processed, the state recorded with
everything that follows it (migration 0057). A statement is atomic: a concurrent delivery waits on the event row, a
failure leaves nothing, and the statement of a killed worker either finishes whole in its orphaned session (the
provider's redelivery is then a duplicate) or leaves nothing (tests/e2e/test_webhook_crash.py).

An effect that needs nothing else from its provider beyond the event (`Applying`: Connect events, transfer reversals,
unknown types) is stored, applied and marked processed in ONE transaction: the event row is inserted as
processed first (a concurrent delivery of the same event waits on that row, then finds it processed), the effect
follows, and the commit makes all of it true at once. If the effect fails, the transaction is rolled back and the
event is stored with its failure in the next statement, and the failure re-raised (5xx) so the provider delivers
it again; if the worker dies mid-transaction, PostgreSQL rolls all of it back, no 2xx was sent, and the provider's
redelivery (or the retry job, for a recorded failure) applies it once.

An effect that asks its provider first (any other `Effect`: a fetched subscription, a refund's cancellations) is
stored and claimed in one statement (committed at once, so a crash leaves a claim whose lease runs out); it then
asks the provider holding no connection (a slow provider holds neither a pooled connection nor a row lock) and
applies what it learnt in a transaction that first locks the claimed row, fenced by the claim's attempt number, and
marks the event processed in the same commit. A crashed worker's claim is taken over after its lease, and a failure
is recorded and re-raised as above.

Either way concurrent deliveries of one event produce one effect, and a redelivery of a processed event (the common
retry) is answered from one read.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from app.billing.schemas import EventSource
from app.core import metrics
from app.core.errors import AppError, ServiceUnavailable
from app.db.queries import events as q
from app.db.types import Connection, ConnectionSource

log = logging.getLogger("cookcam.billing.events")

DEFAULT_LEASE_SECONDS = 60.0
EventOutcome = Literal["processed", "duplicate"]
# What storing an event with its effect found: stored and applied ('processed'), processed before ('duplicate'), or
# neither stored nor applied because another worker holds it or processed it meanwhile ('taken').
StoreVerdict = Literal["processed", "duplicate", "taken"]
# The part of an event's effect that writes: runs in the event's transaction, calls no provider.
Apply = Callable[[Connection], Awaitable[None]]
# The effect of an event that asks its provider first: gathers what the writes need, borrowing a connection only
# around its own reads (never while a provider answers), and returns the Apply that records it.
Fetch = Callable[[ConnectionSource], Awaitable[Apply]]


@dataclass(frozen=True)
class InboxEvent:
    provider: EventSource
    event_id: str
    event_type: str
    payload: Any


@dataclass(frozen=True)
class StoredWith:
    """The effect of an event that one statement stores with the event (no status read first, no transaction)."""

    store: Callable[[Connection, InboxEvent], Awaitable[StoreVerdict]]


@dataclass(frozen=True)
class Applying:
    """The effect of an event that needs nothing from its provider beyond the event itself: process_once stores,
    applies and completes it in one transaction. (Called as an Effect, it fetches nothing.)"""

    apply: Apply

    async def __call__(self, _: ConnectionSource) -> Apply:
        return self.apply

    async def store(self, conn: Connection, event: InboxEvent) -> StoreVerdict:
        """Store the event as processed and apply it, in one transaction."""
        # A redelivery of a processed event is answered from one read, writing nothing and opening no transaction.
        if await q.get_event_status(conn, provider=event.provider, event_id=event.event_id) == "processed":
            return "duplicate"
        async with conn.transaction():
            if await _store(conn, event, "processed") is None:
                return "taken"
            await self.apply(conn)
        return "processed"


# An event's effect, in one of the three forms above.
Effect = StoredWith | Applying | Fetch


async def no_writes(_: Connection) -> None:
    """The Apply of an event that changes nothing here (a test notification, an unknown type, a partial refund)."""


def applying(apply: Apply) -> Applying:
    """The effect of an event that needs nothing from its provider beyond the event itself."""
    return Applying(apply)


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
    event = InboxEvent(provider, event_id, event_type, payload)
    if isinstance(effect, Applying | StoredWith):
        return await _stored_with_effect(connect, event, effect.store)
    return await _claimed_then_applied(connect, event, effect, lease_seconds)


async def _stored_with_effect(
    connect: ConnectionSource, event: InboxEvent, store: Callable[[Connection, InboxEvent], Awaitable[StoreVerdict]]
) -> EventOutcome:
    async with connect() as conn:
        try:
            verdict = await store(conn, event)
        except Exception as exc:
            _log_failure(event, None, exc)
            await _store_failure(conn, event, exc)
            raise
        if verdict == "duplicate":
            return _duplicate(event.provider)
        if verdict == "taken":
            return await _taken_elsewhere(conn, event)
    metrics.PROVIDER_EVENTS.labels(event.provider, "processed").inc()
    return "processed"


async def _store(
    conn: Connection, event: InboxEvent, status: Literal["processed", "failed"], exc: Exception | None = None
) -> q.StoreEventRow | None:
    return await q.store_event(
        conn,
        provider=event.provider,
        event_id=event.event_id,
        event_type=event.event_type,
        status=status,
        payload=event.payload,
        error=None if exc is None else _error_text(exc),
    )


async def _store_failure(conn: Connection, event: InboxEvent, exc: Exception) -> None:
    """Keep the rolled-back attempt's failure on the event for operators and the retry job; if even that fails (the
    database is what failed), nothing is stored and the provider's redelivery processes the event."""
    try:
        await _store(conn, event, "failed", exc)
    except Exception:
        log.warning("could not record the failure of %s event %s", event.provider, event.event_id, exc_info=True)


async def _claimed_then_applied(
    connect: ConnectionSource, event: InboxEvent, fetch: Fetch, lease_seconds: float
) -> EventOutcome:
    async with connect() as conn:
        if await q.get_event_status(conn, provider=event.provider, event_id=event.event_id) == "processed":
            return _duplicate(event.provider)
        claim = await q.claim_event(
            conn,
            provider=event.provider,
            event_id=event.event_id,
            event_type=event.event_type,
            payload=event.payload,
            lease_seconds=lease_seconds,
        )
        if claim is None:
            return await _taken_elsewhere(conn, event)
    started = time.monotonic()
    try:
        apply = await fetch(connect)
        async with connect() as conn, conn.transaction():
            if await q.hold_claim(conn, id=claim.id, attempt=claim.attempts) is None:
                raise EventInProgress()  # our lease ran out and another worker took the event over
            await apply(conn)
            await q.complete_event(conn, id=claim.id, duration_ms=int((time.monotonic() - started) * 1000))
    except EventInProgress:
        metrics.PROVIDER_EVENTS.labels(event.provider, "in_progress").inc()
        raise
    except Exception as exc:
        _log_failure(event, claim.attempts, exc)
        await _record_failure(connect, claim.id, claim.attempts, exc)
        raise
    metrics.PROVIDER_EVENTS.labels(event.provider, "processed").inc()
    return "processed"


def _duplicate(provider: EventSource) -> EventOutcome:
    metrics.PROVIDER_EVENTS.labels(provider, "duplicate").inc()
    return "duplicate"


async def _taken_elsewhere(conn: Connection, event: InboxEvent) -> EventOutcome:
    """The event could not be stored or claimed: processed meanwhile, or another worker holds a live claim."""
    if await q.get_event_status(conn, provider=event.provider, event_id=event.event_id) == "processed":
        return _duplicate(event.provider)
    metrics.PROVIDER_EVENTS.labels(event.provider, "in_progress").inc()
    raise EventInProgress()


def _log_failure(event: InboxEvent, attempt: int | None, exc: Exception) -> None:
    metrics.PROVIDER_EVENTS.labels(event.provider, "failed").inc()
    on_attempt = f" on attempt {attempt}" if attempt is not None else ""
    log.exception("%s event %s (%s) failed%s", event.provider, event.event_id, event.event_type, on_attempt)


def _error_text(exc: Exception) -> str:
    detail = f"{exc.code}: {exc}" if isinstance(exc, AppError) else str(exc)  # the code names the cause
    return f"{type(exc).__name__}: {detail}"[:2000]


async def _record_failure(connect: ConnectionSource, claim_id: uuid.UUID, attempt: int, exc: Exception) -> None:
    """Keep the failure on the event for operators and the retry job; if even that fails (the database is what
    failed), the claim's lease runs out and the event is retried all the same."""
    try:
        async with connect() as conn:
            await q.fail_event(conn, id=claim_id, attempt=attempt, error=_error_text(exc))
    except Exception:
        log.warning("could not record the failure of event claim %s", claim_id, exc_info=True)
