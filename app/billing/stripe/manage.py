"""Managing a Stripe subscription on the user's behalf: the customer portal, cancel and resume at period end,
and plan changes (upgrades paid before they apply, downgrades at the period's end).

Every change goes through Stripe's API; the local row is updated from the subscription object Stripe returns
(provider data, fetched with our secret key), never from the request alone.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Literal

import msgspec
import stripe

from app.billing.account import STORE_INSTRUCTIONS
from app.billing.entitlements import TIER_RANK, Cause, record_subscription_state
from app.billing.products import parse_products
from app.billing.providers import PaymentProviders
from app.billing.redirects import require_allowed
from app.billing.stripe.checkout import lookup_key_for, price_id_for
from app.billing.stripe.client import require_stripe, stripe_call
from app.billing.stripe.models import LatestInvoice, Subscription, state_of
from app.core.errors import Conflict, ErrorDetail, NotFound, PaymentRequired
from app.core.request_context import current_request_id
from app.db.queries import billing as q
from app.db.types import ConnectionSource
from app.settings import Settings

log = logging.getLogger("cookcam.billing.stripe")


class PortalRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    return_url: str = "cookcam://subscription"


class PortalSession(msgspec.Struct, frozen=True):
    portal_url: str


async def open_portal(
    connect: ConnectionSource,
    client: stripe.StripeClient | None,
    settings: Settings,
    user_id: uuid.UUID,
    request: PortalRequest,
) -> PortalSession:
    stripe_client = require_stripe(client)
    require_allowed("return_url", request.return_url, settings.billing.redirect_allowlist)
    async with connect() as conn:
        customer_id = await q.get_stripe_customer(conn, user_id=user_id)
    if customer_id is None:
        raise NotFound("NO_STRIPE_CUSTOMER", "There is no web subscription to manage for this account.")
    session = await stripe_call(
        stripe_client.v1.billing_portal.sessions.create_async(
            params={"customer": customer_id, "return_url": request.return_url}
        )
    )
    return PortalSession(portal_url=session.url)


async def set_cancel_at_period_end(
    connect: ConnectionSource,
    payments: PaymentProviders,
    settings: Settings,
    user_id: uuid.UUID,
    *,
    cancel: bool,
) -> str:
    """Cancel (or resume) the user's live Stripe subscription at the end of its paid period; return its status."""
    stripe_client = require_stripe(payments.stripe.client)
    subscription_id = await _stripe_subscription_id(connect, user_id)
    if cancel:
        # A subscription whose downgrade is scheduled is managed by its schedule, and Stripe refuses a cancellation
        # set on it directly: the schedule (the downgrade) is dropped first, since the subscription now ends anyway.
        current = await _retrieve(stripe_client, subscription_id)
        if current.schedule is not None:
            await stripe_call(stripe_client.v1.subscription_schedules.release_async(current.schedule))
    updated = await stripe_call(
        stripe_client.v1.subscriptions.update_async(subscription_id, params={"cancel_at_period_end": cancel})
    )
    return await _record_returned(connect, payments, settings, updated, "cancel" if cancel else "resume")


class ChangeTierRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tier: Literal["regular", "creator"]
    billing_period: Literal["monthly", "yearly"]


PERIOD_RANK = {"monthly": 0, "yearly": 1}


async def change_tier(
    connect: ConnectionSource,
    payments: PaymentProviders,
    settings: Settings,
    user_id: uuid.UUID,
    request: ChangeTierRequest,
) -> str:
    """Move the user's Stripe subscription to another plan through Stripe, never as a local grant.

    An upgrade (a higher tier, or the same tier yearly instead of monthly) is invoiced at once for the proration and
    applied by Stripe only when that invoice is paid (a pending update until then: 402 with the invoice's page). A
    downgrade is scheduled for the end of the paid period with a subscription schedule. Choosing the current plan
    again drops a scheduled downgrade.
    """
    stripe_client = require_stripe(payments.stripe.client)
    subscription_id = await _stripe_subscription_id(connect, user_id)
    current = await _retrieve(stripe_client, subscription_id)
    item = current.items.data[0] if current.items.data else None
    held = parse_products(settings.stripe.prices).get(item.price.lookup_key or "") if item is not None else None
    if item is None or item.id is None or held is None:
        raise Conflict("SUBSCRIPTION_UNCHANGEABLE", "This subscription cannot be changed here; use the portal.")
    if current.pending_update is not None:
        raise _payment_required(current, "An earlier plan change is waiting for its payment.")
    if current.cancel_at_period_end:
        raise Conflict("SUBSCRIPTION_ENDING", "This subscription ends with its period; resume it to change plans.")
    if item.price.lookup_key == lookup_key_for(settings, request.tier, request.billing_period):
        if current.schedule is None:
            raise Conflict("SAME_PLAN", "You are already on this plan.")
        released = await stripe_call(stripe_client.v1.subscription_schedules.release_async(current.schedule))
        log.info("scheduled plan change of %s dropped (%s)", subscription_id, released.id)
        return current.status
    price_id = await price_id_for(stripe_client, settings, request.tier, request.billing_period)
    upgrade = (TIER_RANK[request.tier], PERIOD_RANK[request.billing_period]) > (
        TIER_RANK[held.tier_slug],
        PERIOD_RANK[held.billing_period],
    )
    if not upgrade:
        await _schedule_at_period_end(stripe_client, current, price_id, request.billing_period)
        return current.status
    if current.schedule is not None:  # an upgrade replaces a scheduled downgrade
        await stripe_call(stripe_client.v1.subscription_schedules.release_async(current.schedule))
    updated = await stripe_call(
        stripe_client.v1.subscriptions.update_async(
            subscription_id,
            params={
                "items": [{"id": item.id, "price": price_id}],
                # Invoice the proration now and apply the change only once that invoice is paid; Stripe accepts only
                # the pending-update parameters with this behaviour (no cancel_at_period_end).
                "proration_behavior": "always_invoice",
                "payment_behavior": "pending_if_incomplete",
                "expand": ["latest_invoice"],
            },
        )
    )
    status = await _record_returned(connect, payments, settings, updated, "change-tier")
    returned = msgspec.convert(updated.to_dict(), Subscription)
    if returned.pending_update is not None:
        raise _payment_required(returned, "The new plan starts once its payment goes through.")
    return status


async def _schedule_at_period_end(
    client: stripe.StripeClient, current: Subscription, price_id: str, period: str
) -> None:
    """A downgrade at the end of the paid period: the subscription's schedule (created from it when it has none)
    keeps the current plan until the period ends, then the new one, and then releases the subscription."""
    if current.schedule is None:
        schedule = await stripe_call(
            client.v1.subscription_schedules.create_async(params={"from_subscription": current.id})
        )
    else:
        schedule = await stripe_call(client.v1.subscription_schedules.retrieve_async(current.schedule))
    phase = schedule.current_phase
    item = current.items.data[0]
    if phase is None:
        raise Conflict("SUBSCRIPTION_UNCHANGEABLE", "This subscription cannot be changed here; use the portal.")
    await stripe_call(
        client.v1.subscription_schedules.update_async(
            schedule.id,
            params={
                "end_behavior": "release",
                "phases": [
                    {
                        "items": [{"price": item.price.id, "quantity": 1}],
                        "start_date": phase.start_date,
                        "end_date": phase.end_date,
                    },
                    {
                        "items": [{"price": price_id, "quantity": 1}],
                        "duration": {"interval": "year" if period == "yearly" else "month", "interval_count": 1},
                        "proration_behavior": "none",
                    },
                ],
            },
        )
    )


def _payment_required(subscription: Subscription, reason: str) -> PaymentRequired:
    """402: the plan change waits for its invoice (declined card or a bank's 3-D Secure check); the invoice's page
    takes another card or the confirmation, and Stripe discards the change when `expires_at` passes."""
    assert subscription.pending_update is not None
    expires = datetime.datetime.fromtimestamp(subscription.pending_update.expires_at, datetime.UTC)
    details = [ErrorDetail(field="expires_at", message=expires.isoformat())]
    invoice = subscription.latest_invoice
    if isinstance(invoice, LatestInvoice) and invoice.hosted_invoice_url:
        details.insert(0, ErrorDetail(field="payment_url", message=invoice.hosted_invoice_url))
    message = f"{reason} Confirm it with your bank or pay with another card on the invoice page before it lapses."
    return PaymentRequired("PLAN_CHANGE_PAYMENT_REQUIRED", message, details=details)


async def _retrieve(client: stripe.StripeClient, subscription_id: str) -> Subscription:
    fetched = await stripe_call(
        client.v1.subscriptions.retrieve_async(subscription_id, params={"expand": ["latest_invoice"]})
    )
    return msgspec.convert(fetched.to_dict(), Subscription)


async def _stripe_subscription_id(connect: ConnectionSource, user_id: uuid.UUID) -> str:
    async with connect() as conn:
        live = await q.list_live_subscriptions(conn, user_id=user_id)
    web = [s.provider_subscription_id for s in live if s.provider == "stripe"]
    if web:
        return web[0]
    stores = sorted({STORE_INSTRUCTIONS[s.provider] for s in live if s.provider in STORE_INSTRUCTIONS})
    if stores:
        raise Conflict("STORE_SUBSCRIPTION", " ".join(stores))
    raise NotFound("NO_SUBSCRIPTION", "There is no subscription to change.")


async def _record_returned(
    connect: ConnectionSource,
    payments: PaymentProviders,
    settings: Settings,
    returned: stripe.Subscription,
    action: str,
) -> str:
    """Record the subscription object Stripe returned (provider data fetched with our key), caused by this call."""
    subscription = msgspec.convert(returned.to_dict(), Subscription)
    state = state_of(subscription, datetime.datetime.now(datetime.UTC), settings.stripe)
    if state is not None:
        async with connect() as conn:
            cause = Cause("api", f"{action}:{current_request_id() or 'cli'}")
            await record_subscription_state(conn, state, cause, payments.hooks)
    return subscription.status
