"""What higher domains ask billing to run on its changes, registered by the web wiring (and the job runner) at
start-up and passed down with the provider clients: billing knows the shape of each hook, nothing of who handles it.
Every hook runs inside the transaction of the change that calls it.

A recorded subscription state is followed up in the database itself, so that a provider event is one statement
(migration 0057): a higher domain's migration registers a trigger on subscriptions, and its Python side registers
here what that trigger needs to know of a state beyond what is stored, under its own key of the recording's context
(e.g. the creators' revenue share: the provider's hold, Family Sharing, Google's order id)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.billing.entitlements import ProviderState
from app.billing.schemas import Provider
from app.billing.stripe.models import Event
from app.db.types import Connection

# What a trigger on subscriptions needs of a state beyond what is stored, as JSON-able values.
RecordingContext = Callable[[ProviderState], dict[str, Any]]
# A provider voided (refunded, charged back) the order that paid for one period of a subscription, named by the
# provider, its subscription id and the order id (Google Play's voided purchases): the revenue share's reversal.
OnOrderVoided = Callable[[Connection, Provider, str, str], Awaitable[None]]
# A Stripe event that is not billing's own: Connect account events, transfer reversals (the creators' payouts).
OnStripeEvent = Callable[[Connection, Event], Awaitable[None]]


@dataclass(frozen=True)
class BillingHooks:
    # By key of the recording's context (cookcam.recording_context, read by the triggers of migration 0057).
    recording_context: tuple[tuple[str, RecordingContext], ...] = ()
    on_order_voided: tuple[OnOrderVoided, ...] = ()
    # By event type, for events on our own account (the payments endpoint).
    on_stripe_event: tuple[tuple[str, OnStripeEvent], ...] = ()
    # Every event of the Connect endpoint (`stripe_connect` in the event store), also when the retry job re-runs it.
    on_connect_event: OnStripeEvent | None = None

    def context_of(self, state: ProviderState) -> dict[str, Any]:
        """The recording's context for `state`: what each registered trigger needs, under its key."""
        return {key: context(state) for key, context in self.recording_context}

    async def order_voided(self, conn: Connection, provider: Provider, subscription_id: str, order_id: str) -> None:
        for hook in self.on_order_voided:
            await hook(conn, provider, subscription_id, order_id)

    def stripe_event_handler(self, event_type: str) -> OnStripeEvent | None:
        return next((hook for kind, hook in self.on_stripe_event if kind == event_type), None)
