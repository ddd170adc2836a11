"""Managing a Stripe subscription on the user's behalf: the customer portal, cancel and resume at period end,
and plan changes with proration.

Every change goes through Stripe's API; the local row is updated from the subscription object Stripe returns
(provider data, fetched with our secret key), never from the request alone.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

import msgspec
import stripe

from app.billing.account import STORE_INSTRUCTIONS
from app.billing.entitlements import Cause, record_subscription_state
from app.billing.providers import PaymentProviders
from app.billing.redirects import require_allowed
from app.billing.stripe.checkout import lookup_key_for, price_id_for
from app.billing.stripe.client import require_stripe, stripe_call
from app.billing.stripe.models import Subscription, state_of
from app.core.errors import Conflict, NotFound
from app.core.request_context import current_request_id
from app.db.queries import billing as q
from app.db.types import ConnectionSource
from app.settings import Settings


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
    updated = await stripe_call(
        stripe_client.v1.subscriptions.update_async(subscription_id, params={"cancel_at_period_end": cancel})
    )
    return await _record_returned(connect, payments, settings, updated, "cancel" if cancel else "resume")


class ChangeTierRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tier: Literal["regular", "creator"]
    billing_period: Literal["monthly", "yearly"]


async def change_tier(
    connect: ConnectionSource,
    payments: PaymentProviders,
    settings: Settings,
    user_id: uuid.UUID,
    request: ChangeTierRequest,
) -> str:
    """Move the user's Stripe subscription to another Price with proration, through Stripe: never a local grant."""
    stripe_client = require_stripe(payments.stripe.client)
    subscription_id = await _stripe_subscription_id(connect, user_id)
    current = msgspec.convert(
        (await stripe_call(stripe_client.v1.subscriptions.retrieve_async(subscription_id))).to_dict(), Subscription
    )
    item = current.items.data[0] if current.items.data else None
    if item is None or item.id is None:
        raise Conflict("SUBSCRIPTION_UNCHANGEABLE", "This subscription cannot be changed here; use the portal.")
    if item.price.lookup_key == lookup_key_for(settings, request.tier, request.billing_period):
        raise Conflict("SAME_PLAN", "You are already on this plan.")
    price_id = await price_id_for(stripe_client, settings, request.tier, request.billing_period)
    updated = await stripe_call(
        stripe_client.v1.subscriptions.update_async(
            subscription_id,
            params={
                "items": [{"id": item.id, "price": price_id}],
                "proration_behavior": "create_prorations",
                "cancel_at_period_end": False,
            },
        )
    )
    return await _record_returned(connect, payments, settings, updated, "change-tier")


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
