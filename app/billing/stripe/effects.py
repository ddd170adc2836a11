"""What each Stripe event does. A subscription event is recorded with the event in one statement, and any other
event whose object is all its effect needs in one transaction; for the others Stripe is asked first, holding no
connection, and what it answers is then recorded in the event store's fenced transaction
(app/billing/inbox/processing.py).

- customer.subscription.created|updated|deleted|paused|resumed|pending_update_applied|pending_update_expired: the
  subscription object in the event is the state (its items, never a `pending_update` waiting for payment).
- checkout.session.completed, invoice.paid, invoice.payment_failed: the subscription they name is fetched from
  Stripe and recorded, so access starts, renews or pauses even if a subscription event is late or lost.
- charge.refunded (in full) and charge.dispute.created: the customer's live subscriptions are cancelled at Stripe
  and recorded as revoked; a dispute is also a security event for the fraud report.
- customer.subscription.trial_will_end: the user's sockets get `subscription.trial_ending`.
- transfer.reversed: a creator payout's transfer was reversed; that amount returns to the creator's balance
  (app/creators/payouts.py). Transfers to connected accounts are the platform's, so this arrives here, not at the
  Connect endpoint.
Anything else is stored and acknowledged without effect.
"""

from __future__ import annotations

import datetime
import logging
import uuid

import msgspec
import stripe

from app.billing.entitlements import Cause, ProviderState, apply_provider_state, record_with_event
from app.billing.fraud import record_security_event
from app.billing.hooks import BillingHooks
from app.billing.inbox.processing import (
    Apply,
    Effect,
    InboxEvent,
    StoredWith,
    StoreVerdict,
    applying,
    no_writes,
)
from app.billing.providers import PaymentProviders
from app.billing.stripe.client import require_stripe, stripe_call
from app.billing.stripe.models import Event, Subscription, event_object, state_of
from app.db.queries import billing as q
from app.db.types import Connection, ConnectionSource
from app.realtime.events import RealtimeEvent, publish
from app.settings import StripeSettings

log = logging.getLogger("cookcam.billing.stripe")

SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        # A plan change waiting for its payment was applied (paid) or discarded (expired): the subscription object
        # says which plan holds now.
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
    }
)
TRIAL_ENDING = "subscription.trial_ending"
NAMING_A_SUBSCRIPTION = frozenset({"checkout.session.completed", "invoice.paid", "invoice.payment_failed"})
REVOKING = frozenset({"charge.refunded", "charge.dispute.created"})


class CheckoutSession(msgspec.Struct, frozen=True):
    id: str
    mode: str | None = None
    subscription: str | None = None


class SubscriptionDetails(msgspec.Struct, frozen=True):
    subscription: str | None = None


class InvoiceParent(msgspec.Struct, frozen=True):
    subscription_details: SubscriptionDetails | None = None


class Invoice(msgspec.Struct, frozen=True):
    id: str
    # Before API version 2025-03-31 the subscription was a top-level field; since then it is under `parent`.
    subscription: str | None = None
    parent: InvoiceParent | None = None

    @property
    def subscription_id(self) -> str | None:
        details = self.parent.subscription_details if self.parent else None
        return self.subscription or (details.subscription if details else None)


class Charge(msgspec.Struct, frozen=True):
    id: str
    customer: str | None = None
    refunded: bool = False


class Dispute(msgspec.Struct, frozen=True):
    id: str
    charge: str
    reason: str = ""


def event_effect(event: Event, payments: PaymentProviders, settings: StripeSettings) -> Effect:
    """The effect of one Stripe event: recorded with the event in one transaction, unless Stripe must be asked
    first (the subscription an invoice or checkout names, a refund's or dispute's cancellations)."""
    if event.type in NAMING_A_SUBSCRIPTION or event.type in REVOKING:

        async def fetch_then_apply(connect: ConnectionSource) -> Apply:
            return await _ask_stripe(connect, event, payments, settings)

        return fetch_then_apply
    if event.type in SUBSCRIPTION_EVENTS:
        return StoredWith(lambda conn, stored: _store_subscription_event(conn, stored, event, payments.hooks, settings))
    return applying(lambda conn: _apply(conn, event, payments.hooks))


async def _store_subscription_event(
    conn: Connection, stored: InboxEvent, event: Event, hooks: BillingHooks, settings: StripeSettings
) -> StoreVerdict:
    """The subscription object in the event is the state, recorded with the event in one statement."""
    subscription = event_object(event, Subscription)
    # Stripe objects carry no modification time; the event's creation time orders deliveries.
    observed = datetime.datetime.fromtimestamp(event.created, datetime.UTC)
    state = state_of(subscription, observed, settings)
    if state is None:  # not one of ours (no user, no known price): stored without effect
        return await applying(no_writes).store(conn, stored)
    return await record_with_event(conn, stored, state, hooks)


async def _apply(conn: Connection, event: Event, hooks: BillingHooks) -> None:
    """The other events whose object is all their effect needs."""
    if event.type == "customer.subscription.trial_will_end":
        await _announce_trial_end(conn, event_object(event, Subscription))
    elif (handler := hooks.stripe_event_handler(event.type)) is not None:  # e.g. transfer.reversed: creators' payouts
        await handler(conn, event)
    else:
        log.info("Stripe event %s (%s) stored; this type has no effect", event.id, event.type)


def _cause(event: Event) -> Cause:
    return Cause("stripe_event", event.id)


async def _ask_stripe(
    connect: ConnectionSource, event: Event, payments: PaymentProviders, settings: StripeSettings
) -> Apply:
    cause, hooks = _cause(event), payments.hooks
    if event.type in NAMING_A_SUBSCRIPTION:
        # Fetched rather than trusted from the event: access starts, renews or pauses even if subscription events
        # are late or lost.
        subscription_id = _named_subscription(event)
        states = [await _fetch_state(payments, subscription_id, settings)] if subscription_id else []
        return _recording(states, cause, hooks)
    client = require_stripe(payments.stripe.client)
    return await _revocation(connect, client, event, settings=settings, cause=cause, hooks=hooks)


def _named_subscription(event: Event) -> str | None:
    if event.type == "checkout.session.completed":
        session = event_object(event, CheckoutSession)
        return session.subscription if session.mode == "subscription" else None
    return event_object(event, Invoice).subscription_id


async def _fetch_state(
    payments: PaymentProviders, subscription_id: str, settings: StripeSettings
) -> ProviderState | None:
    client = require_stripe(payments.stripe.client)
    fetched = await stripe_call(client.v1.subscriptions.retrieve_async(subscription_id))
    return state_of(msgspec.convert(fetched.to_dict(), Subscription), datetime.datetime.now(datetime.UTC), settings)


def _recording(states: list[ProviderState | None], cause: Cause, hooks: BillingHooks) -> Apply:
    async def record(conn: Connection) -> None:
        for state in states:
            await apply_provider_state(conn, state, cause, hooks)

    return record


class Revocation(msgspec.Struct, frozen=True):
    """A customer's live subscriptions, cancelled at Stripe and to be recorded as revoked."""

    user_id: uuid.UUID | None
    states: list[ProviderState | None]


async def _revoke_customer(
    connect: ConnectionSource, client: stripe.StripeClient, customer_id: str, settings: StripeSettings
) -> Revocation:
    """Cancel the customer's live subscriptions at Stripe now; their states, to be recorded revoked."""
    async with connect() as conn:
        user_id = await q.get_user_by_stripe_customer(conn, customer_id=customer_id)
        live = await q.list_live_provider_subscriptions(conn, user_id=user_id, provider="stripe") if user_id else []
    if user_id is None:
        log.warning("customer %s is not one of ours", customer_id)
        return Revocation(None, [])
    states: list[ProviderState | None] = []
    for subscription_id in live:
        current = await stripe_call(client.v1.subscriptions.retrieve_async(subscription_id))
        if current.status not in ("canceled", "incomplete_expired"):
            current = await stripe_call(client.v1.subscriptions.cancel_async(subscription_id))
        subscription = msgspec.convert(current.to_dict(), Subscription)
        state = state_of(subscription, datetime.datetime.now(datetime.UTC), settings)
        states.append(msgspec.structs.replace(state, status="revoked") if state else None)
    return Revocation(user_id, states)


async def _revocation(
    connect: ConnectionSource,
    client: stripe.StripeClient,
    event: Event,
    *,
    settings: StripeSettings,
    cause: Cause,
    hooks: BillingHooks,
) -> Apply:
    """A full refund or a dispute: the customer's live subscriptions are cancelled at Stripe and recorded revoked; a
    dispute is also a security event for the fraud report. Partial refunds keep access."""
    dispute = None
    if event.type == "charge.dispute.created":
        dispute = event_object(event, Dispute)
        charge = msgspec.convert(
            (await stripe_call(client.v1.charges.retrieve_async(dispute.charge))).to_dict(), Charge
        )
    else:
        charge = event_object(event, Charge)
        if not charge.refunded:
            return no_writes
    if charge.customer is None:
        return no_writes
    revoked = await _revoke_customer(connect, client, charge.customer, settings)
    record_revocations = _recording(revoked.states, cause, hooks)

    async def record(conn: Connection) -> None:
        await record_revocations(conn)
        if dispute is not None and revoked.user_id is not None:
            detail = f"{dispute.id}: {dispute.reason}"
            await record_security_event(
                conn, revoked.user_id, "stripe", "payment_disputed", identity=charge.id, detail=detail
            )

    return record


async def _announce_trial_end(conn: Connection, subscription: Subscription) -> None:
    user_id = subscription.metadata.get("user_id")
    if user_id is None or subscription.trial_end is None:
        return
    ends_at = datetime.datetime.fromtimestamp(subscription.trial_end, datetime.UTC).isoformat()
    await publish(conn, uuid.UUID(user_id), RealtimeEvent(TRIAL_ENDING, {"trial_ends_at": ends_at}))
