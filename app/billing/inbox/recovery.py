"""Recovering provider events nobody finished: failed ones and those a crashed worker left claimed.

A job (`cookcam jobs run retry-events`, and the in-process scheduler) runs them again through the same
`process_once`, from the payload stored when they arrived (verified then), so a provider that has stopped
retrying does not leave a subscription out of date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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


@dataclass(frozen=True)
class RecoveryReport:
    processed: int
    failed: int
    skipped: int

    def __str__(self) -> str:
        return f"retried events: {self.processed} processed, {self.failed} failed again, {self.skipped} skipped"


async def retry_unfinished_events(
    connect: ConnectionSource, settings: Settings, payments: PaymentProviders
) -> RecoveryReport:
    """Process again every unfinished event still under MAX_ATTEMPTS; each in its own claim and transaction."""
    processed = failed = skipped = 0
    async with connect() as conn:
        retryable = await q.list_retryable_events(conn, max_attempts=MAX_ATTEMPTS)
    for row in retryable:
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
            processed += 1
        except EventInProgress:
            skipped += 1
        except Exception:  # recorded on the event by process_once; the next run tries again
            log.exception("retrying %s event %s failed", row.provider, row.event_id)
            failed += 1
    return RecoveryReport(processed, failed, skipped)


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
