"""Stripe's objects as we read them (events, subscriptions) and a subscription mapped onto our subscription state.

Subscriptions created by our checkout carry `metadata.user_id`, written by this server when it creates the
Checkout Session; signed events and Stripe's own API are the only inputs, so that id is ours, not a client's.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Annotated, TypeVar

import msgspec

from app.billing.entitlements import ProviderState
from app.billing.products import parse_products, tier_of
from app.billing.schemas import Status
from app.core.errors import BadRequest
from app.settings import StripeSettings

log = logging.getLogger("cookcam.billing.stripe")

# Stripe's times are Unix seconds. Bounded to what a datetime holds (to 9999-12-31): a larger one, even signed,
# would fail converting (2**62 raised OSError, once answered as a database outage).
UnixTime = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799)]
T = TypeVar("T")

# Stripe's subscription statuses on ours (docs/payments.md has the table and the reasons).
STATUS_MAP: dict[str, Status] = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "billing_retry",
    "unpaid": "billing_retry",
    "incomplete": "billing_retry",
    "incomplete_expired": "expired",
    "canceled": "expired",
    "paused": "paused",
}


class Price(msgspec.Struct, frozen=True):
    id: str
    lookup_key: str | None = None


class SubscriptionItem(msgspec.Struct, frozen=True):
    price: Price
    id: str | None = None
    # Since API version 2025-03-31 the billing period lives on the items.
    current_period_start: UnixTime | None = None
    current_period_end: UnixTime | None = None


class SubscriptionItems(msgspec.Struct, frozen=True):
    data: list[SubscriptionItem]


class PendingUpdate(msgspec.Struct, frozen=True):
    """A plan change waiting for its invoice to be paid (payment_behavior=pending_if_incomplete): applied by Stripe
    once paid, discarded at `expires_at`."""

    expires_at: UnixTime


class LatestInvoice(msgspec.Struct, frozen=True):
    """The subscription's latest invoice, when asked for expanded (`expand=["latest_invoice"]`)."""

    id: str
    status: str | None = None
    hosted_invoice_url: str | None = None


class Subscription(msgspec.Struct, frozen=True):
    id: str
    status: str
    items: SubscriptionItems
    cancel_at_period_end: bool = False
    pending_update: PendingUpdate | None = None
    latest_invoice: str | LatestInvoice | None = None
    # The subscription schedule managing it (a downgrade scheduled for the period's end), if any.
    schedule: str | None = None
    trial_end: UnixTime | None = None
    current_period_start: UnixTime | None = None
    current_period_end: UnixTime | None = None
    metadata: dict[str, str] = {}
    livemode: bool = True
    # The customer's id (expanded objects are not asked for here); checked against imported bindings.
    customer: str | None = None


class EventData(msgspec.Struct, frozen=True):
    object: msgspec.Raw


class Event(msgspec.Struct, frozen=True):
    id: str
    type: str
    created: UnixTime
    data: EventData
    livemode: bool = True
    # The connected account an event happened on (events delivered to a Connect endpoint); None for our own.
    account: str | None = None


def event_object(event: Event, kind: type[T]) -> T:
    """The event's object as `kind`. One that is not (a missing field, a time out of range) cannot be processed
    however often Stripe delivers it: 400 STRIPE_EVENT_INVALID, as for a signed body that is not an event; the event
    stays stored as failed, and the retry job gives up on it after its attempts (app/billing/inbox/recovery.py)."""
    try:
        return msgspec.json.decode(event.data.object, type=kind)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise BadRequest("STRIPE_EVENT_INVALID", f"The event's object is not a readable {kind.__name__}.") from exc


def _timestamp(value: int | None) -> datetime.datetime | None:
    return datetime.datetime.fromtimestamp(value, datetime.UTC) if value is not None else None


def state_of(
    subscription: Subscription, observed_at: datetime.datetime, settings: StripeSettings
) -> ProviderState | None:
    """Our view of a Stripe subscription object (from a signed event or from Stripe's API). The tier is the one of
    the subscription's items: a plan change waiting for its payment (`pending_update`) grants nothing yet."""
    user_id = subscription.metadata.get("user_id")
    item = subscription.items.data[0] if subscription.items.data else None
    mapping = parse_products(settings.prices).get(item.price.lookup_key or "") if item is not None else None
    if user_id is None or mapping is None or item is None:
        log.warning("Stripe subscription %s has no user or no known price; not mapped", subscription.id)
        return None
    tier, period = tier_of(mapping)
    period_start = subscription.current_period_start or item.current_period_start
    return ProviderState(
        user_id=uuid.UUID(user_id),
        provider="stripe",
        provider_subscription_id=subscription.id,
        tier_slug=tier,
        status=STATUS_MAP.get(subscription.status, "expired"),
        environment="production" if subscription.livemode else "sandbox",
        billing_period=period,
        trial_ends_at=_timestamp(subscription.trial_end),
        current_period_start=_timestamp(period_start),
        current_period_end=_timestamp(subscription.current_period_end or item.current_period_end),
        cancel_at_period_end=subscription.cancel_at_period_end,
        grace_until=_grace_until(subscription, period_start, settings.grace_days),
        provider_updated_at=observed_at,
    )


def _grace_until(subscription: Subscription, period_start: int | None, grace_days: int) -> datetime.datetime | None:
    """When a failed renewal stops granting access: `grace_days` after the renewal (the period's start, Stripe's own
    field, so every delivery and every fetch computes the same end). Only `past_due` (Stripe is retrying) and only a
    paid-to-paid renewal: the first charge after a free trial (the period starts at the trial's end) has paid
    nothing yet, and `unpaid` or `incomplete` mean the retries are over or never began."""
    if subscription.status != "past_due" or period_start is None or period_start == subscription.trial_end:
        return None
    return datetime.datetime.fromtimestamp(period_start, datetime.UTC) + datetime.timedelta(days=grace_days)
