"""Recovering provider events nobody finished: failed ones and those a crashed worker left claimed.

A job (`cookcam jobs run retry-events`, and the in-process scheduler) runs them again through the same
`process_once`, from the payload stored when they arrived (verified then), so a provider that has stopped
retrying does not leave a subscription out of date. A run goes through every unfinished event, in batches, the
likeliest to recover first, so a crashed worker's claim never waits behind events that fail on every attempt, and
starts none after its time box (BILLING_EVENT_RETRY_MAX_RUN_SECONDS, or the reconciliation's): the next run takes
the rest.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.billing.hooks import BillingHooks
from app.billing.inbox.processing import Effect, EventInProgress, applying, process_once
from app.billing.providers import PaymentProviders
from app.billing.stores.notifications import stored_apple_effect, stored_google_effect
from app.billing.stripe.effects import event_effect
from app.billing.stripe.models import Event
from app.db.queries import events as q
from app.db.types import Connection, ConnectionSource
from app.settings import Settings

log = logging.getLogger("cookcam.billing.events")

MAX_ATTEMPTS = 10
# Given-up events named in the job's output (all of them are logged).
NAMED_GIVEN_UP = 10


@dataclass
class RecoveryReport:
    recovered: int = 0
    failed: int = 0
    skipped: int = 0
    # "provider event_id" of the events whose last allowed attempt failed in this run.
    given_up: list[str] = field(default_factory=list)
    # Events not reached before the run's time box.
    left: int = 0

    def __str__(self) -> str:
        text = (
            f"retried events: {self.recovered + self.failed} retried, {self.recovered} recovered, "
            f"{self.failed} failed again, {len(self.given_up)} given up after {MAX_ATTEMPTS} attempts"
        )
        if self.given_up:
            more = len(self.given_up) - NAMED_GIVEN_UP
            text += f" ({', '.join(self.given_up[:NAMED_GIVEN_UP])}{f' and {more} more' if more > 0 else ''})"
        text += f", {self.skipped} skipped (in progress elsewhere)"
        return f"{text}, {self.left} left for the next run (time box)" if self.left else text


async def retry_unfinished_events(
    connect: ConnectionSource, settings: Settings, payments: PaymentProviders, *, deadline: float | None = None
) -> RecoveryReport:
    """Process again every unfinished event still under MAX_ATTEMPTS, once each per run; each in its own claim and
    transaction. None is started after `deadline` (the event loop's clock; by default
    BILLING_EVENT_RETRY_MAX_RUN_SECONDS from now)."""
    clock = asyncio.get_running_loop().time
    if deadline is None:
        deadline = clock() + settings.billing.event_retry_max_run_seconds
    report = RecoveryReport()
    async with connect() as conn:
        ids = await q.list_retryable_event_ids(conn, max_attempts=MAX_ATTEMPTS)
    size = settings.billing.event_retry_batch_size
    for start in range(0, len(ids), size):
        async with connect() as conn:
            rows = await q.get_retryable_events(conn, ids=ids[start : start + size], max_attempts=MAX_ATTEMPTS)
        for row in rows:
            if clock() >= deadline:
                report.left = len(ids) - ids.index(row.id)
                return report
            await _retry(connect, row, settings, payments, report)
    return report


async def _retry(
    connect: ConnectionSource,
    row: q.GetRetryableEventsRow,
    settings: Settings,
    payments: PaymentProviders,
    report: RecoveryReport,
) -> None:
    effect = _effect_for(row.provider, row.payload, settings, payments)
    try:
        await process_once(
            connect,
            provider=row.provider,  # type: ignore[arg-type]  # the column's check allows only providers
            event_id=row.event_id,
            event_type=row.event_type,
            payload=row.payload,
            effect=effect,
        )
        report.recovered += 1
    except EventInProgress:
        report.skipped += 1
    except Exception:  # recorded on the event by process_once; the next run tries again, up to MAX_ATTEMPTS
        log.exception("retrying %s event %s failed", row.provider, row.event_id)
        report.failed += 1
        if row.attempts + 1 >= MAX_ATTEMPTS:  # this run's claim was the last attempt
            log.error("%s event %s failed %d times: given up", row.provider, row.event_id, MAX_ATTEMPTS)
            report.given_up.append(f"{row.provider} {row.event_id}")


def _effect_for(provider: str, payload: Any, settings: Settings, payments: PaymentProviders) -> Effect:
    """The stored event's effect, from its payload as it arrived (Apple's is verified again)."""
    if provider == "apple":
        return stored_apple_effect(payments, payload)
    if provider == "google":
        return stored_google_effect(payments, settings.google, payload)
    event = msgspec.json.decode(msgspec.json.encode(payload), type=Event)  # data.object stays raw
    if provider == "stripe_connect":
        return _connect_effect(payments.hooks, event)
    return event_effect(event, payments, settings.stripe)


def _connect_effect(hooks: BillingHooks, event: Event) -> Effect:
    async def apply(conn: Connection) -> None:
        if hooks.on_connect_event is None:  # a runner built without the creators' hooks: the event stays retryable
            raise RuntimeError("no handler is registered for Stripe Connect events")
        await hooks.on_connect_event(conn, event)

    return applying(apply)
