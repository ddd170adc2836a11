"""What each Stripe event does (run inside the event store's fenced transaction; see app/billing/events.py).

- customer.subscription.created|updated|deleted|paused|resumed: the subscription object in the event is the state.
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

from app.billing.entitlements import Cause, apply_provider_state
from app.billing.fraud import record_security_event
from app.billing.hooks import BillingHooks
from app.billing.products import parse_products
from app.billing.providers import PaymentProviders
from app.billing.stripe.client import require_stripe, stripe_call
from app.billing.stripe.models import Event, Subscription, state_of
from app.db.queries import billing as q
from app.db.types import Connection
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
    }
)
TRIAL_ENDING = "subscription.trial_ending"


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


async def apply_event(conn: Connection, event: Event, payments: PaymentProviders, settings: StripeSettings) -> None:
    """The effect of one Stripe event."""
    cause = Cause("stripe_event", event.id)
    hooks = payments.hooks
    client = payments.stripe.client
    if event.type in SUBSCRIPTION_EVENTS:
        subscription = msgspec.json.decode(event.data.object, type=Subscription)
        # Stripe objects carry no modification time; the event's creation time orders deliveries.
        observed = datetime.datetime.fromtimestamp(event.created, datetime.UTC)
        await apply_provider_state(
            conn, state_of(subscription, observed, parse_products(settings.prices)), cause, hooks
        )
    elif event.type == "customer.subscription.trial_will_end":
        await _announce_trial_end(conn, msgspec.json.decode(event.data.object, type=Subscription))
    elif event.type == "checkout.session.completed":
        session = msgspec.json.decode(event.data.object, type=CheckoutSession)
        if session.mode == "subscription" and session.subscription:
            await _refetch(conn, require_stripe(client), session.subscription, settings, cause, hooks=hooks)
    elif event.type in ("invoice.paid", "invoice.payment_failed"):
        subscription_id = msgspec.json.decode(event.data.object, type=Invoice).subscription_id
        if subscription_id:
            await _refetch(conn, require_stripe(client), subscription_id, settings, cause, hooks=hooks)
    elif event.type == "charge.refunded":
        charge = msgspec.json.decode(event.data.object, type=Charge)
        if charge.refunded and charge.customer:  # partial refunds keep access
            await _revoke_customer(conn, require_stripe(client), charge.customer, settings, cause, hooks=hooks)
    elif event.type == "charge.dispute.created":
        dispute = msgspec.json.decode(event.data.object, type=Dispute)
        await _dispute(conn, require_stripe(client), dispute, settings, cause, hooks=hooks)
    elif (handler := hooks.stripe_event_handler(event.type)) is not None:  # e.g. transfer.reversed: creators' payouts
        await handler(conn, event)
    else:
        log.info("Stripe event %s (%s) stored; this type has no effect", event.id, event.type)


async def _refetch(
    conn: Connection,
    client: stripe.StripeClient,
    subscription_id: str,
    settings: StripeSettings,
    cause: Cause,
    *,
    hooks: BillingHooks,
) -> None:
    fetched = await stripe_call(client.v1.subscriptions.retrieve_async(subscription_id))
    subscription = msgspec.convert(fetched.to_dict(), Subscription)
    now = datetime.datetime.now(datetime.UTC)
    await apply_provider_state(conn, state_of(subscription, now, parse_products(settings.prices)), cause, hooks)


async def _revoke_customer(
    conn: Connection,
    client: stripe.StripeClient,
    customer_id: str,
    settings: StripeSettings,
    cause: Cause,
    *,
    hooks: BillingHooks,
) -> uuid.UUID | None:
    """Cancel the customer's live subscriptions at Stripe now and record them revoked; the customer's user."""
    user_id = await q.get_user_by_stripe_customer(conn, customer_id=customer_id)
    if user_id is None:
        log.warning("%s: customer %s is not one of ours", cause.ref, customer_id)
        return None
    for subscription_id in await q.list_live_provider_subscriptions(conn, user_id=user_id, provider="stripe"):
        current = await stripe_call(client.v1.subscriptions.retrieve_async(subscription_id))
        if current.status not in ("canceled", "incomplete_expired"):
            current = await stripe_call(client.v1.subscriptions.cancel_async(subscription_id))
        subscription = msgspec.convert(current.to_dict(), Subscription)
        state = state_of(subscription, datetime.datetime.now(datetime.UTC), parse_products(settings.prices))
        revoked = msgspec.structs.replace(state, status="revoked") if state else None
        await apply_provider_state(conn, revoked, cause, hooks)
    return user_id


async def _dispute(
    conn: Connection,
    client: stripe.StripeClient,
    dispute: Dispute,
    settings: StripeSettings,
    cause: Cause,
    *,
    hooks: BillingHooks,
) -> None:
    charge = msgspec.convert((await stripe_call(client.v1.charges.retrieve_async(dispute.charge))).to_dict(), Charge)
    if charge.customer is None:
        return
    user_id = await _revoke_customer(conn, client, charge.customer, settings, cause, hooks=hooks)
    if user_id is not None:
        await record_security_event(
            conn, user_id, "stripe", "payment_disputed", identity=charge.id, detail=f"{dispute.id}: {dispute.reason}"
        )


async def _announce_trial_end(conn: Connection, subscription: Subscription) -> None:
    user_id = subscription.metadata.get("user_id")
    if user_id is None or subscription.trial_end is None:
        return
    ends_at = datetime.datetime.fromtimestamp(subscription.trial_end, datetime.UTC).isoformat()
    await publish(conn, uuid.UUID(user_id), RealtimeEvent(TRIAL_ENDING, {"trial_ends_at": ends_at}))
