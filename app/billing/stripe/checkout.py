"""Stripe Checkout: one Stripe customer per user, Prices found by lookup key, a 3-day trial, idempotency keys.

Nothing here grants a tier: the subscription exists only once Stripe says so through a signed webhook.
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Literal

import msgspec
import stripe

from app.billing import entitlements
from app.billing.products import parse_products
from app.billing.redirects import require_allowed
from app.billing.stripe.client import require_stripe, stripe_call
from app.core.errors import BadGateway, Conflict, ServiceUnavailable
from app.core.identity import CurrentUser
from app.db.queries import billing as q
from app.db.types import ConnectionSource
from app.settings import Settings

TRIAL_DAYS = 3
RedirectUrl = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class CheckoutRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tier: Literal["regular", "creator"]
    billing_period: Literal["monthly", "yearly"]
    success_url: RedirectUrl
    cancel_url: RedirectUrl


class CheckoutSession(msgspec.Struct, frozen=True):
    checkout_url: str
    session_id: str


def lookup_key_for(settings: Settings, tier: str, period: str) -> str:
    for key, mapping in parse_products(settings.stripe.prices).items():
        if (mapping.tier_slug, mapping.billing_period) == (tier, period):
            return key
    raise ServiceUnavailable("STRIPE_PRICE_UNCONFIGURED", "This plan cannot be bought right now.")


async def price_id_for(client: stripe.StripeClient, settings: Settings, tier: str, period: str) -> str:
    """The active Price for a plan, found by its lookup key (STRIPE_PRICES)."""
    lookup_key = lookup_key_for(settings, tier, period)
    prices = await stripe_call(client.v1.prices.list_async(params={"lookup_keys": [lookup_key], "active": True}))
    if not prices.data:
        raise ServiceUnavailable("STRIPE_PRICE_UNCONFIGURED", "This plan cannot be bought right now.")
    return prices.data[0].id


async def _customer_id(connect: ConnectionSource, client: stripe.StripeClient, caller: CurrentUser) -> str:
    async with connect() as conn:
        existing = await q.get_stripe_customer(conn, user_id=caller.id)
    if existing is not None:
        return existing
    customer = await stripe_call(
        client.v1.customers.create_async(
            params={"email": caller.user.email, "name": caller.user.name, "metadata": {"user_id": str(caller.id)}},
            # One customer per user even when two checkouts race: Stripe replays the first creation.
            options={"idempotency_key": f"cookcam-customer-{caller.id}"},
        )
    )
    async with connect() as conn:
        stored = await q.insert_stripe_customer(conn, user_id=caller.id, customer_id=customer.id)
        return stored or await q.get_stripe_customer(conn, user_id=caller.id) or customer.id


async def create_checkout(
    connect: ConnectionSource,
    client: stripe.StripeClient | None,
    settings: Settings,
    caller: CurrentUser,
    request: CheckoutRequest,
) -> CheckoutSession:
    client = require_stripe(client)
    require_allowed("success_url", request.success_url, settings.billing.redirect_allowlist)
    require_allowed("cancel_url", request.cancel_url, settings.billing.redirect_allowlist)
    async with connect() as conn:
        current = await entitlements.entitlement_for(conn, caller.id)
    if entitlements.TIER_RANK[current.slug] >= entitlements.TIER_RANK[request.tier]:
        raise Conflict("ALREADY_SUBSCRIBED", "You already have this plan or a better one; change it instead.")
    price_id = await price_id_for(client, settings, request.tier, request.billing_period)
    customer_id = await _customer_id(connect, client, caller)
    # The same request repeated within ten minutes (a double tap, a client retry) gets the same session back.
    attempt = f"{caller.id}:{request.tier}:{request.billing_period}:{request.success_url}:{int(time.time() // 600)}"
    session = await stripe_call(
        client.v1.checkout.sessions.create_async(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(caller.id),
                "line_items": [{"price": price_id, "quantity": 1}],
                "subscription_data": {"trial_period_days": TRIAL_DAYS, "metadata": {"user_id": str(caller.id)}},
                "metadata": {"user_id": str(caller.id)},
                "success_url": request.success_url,
                "cancel_url": request.cancel_url,
            },
            options={"idempotency_key": "cookcam-checkout-" + hashlib.sha256(attempt.encode()).hexdigest()[:32]},
        )
    )
    if not session.url:
        raise BadGateway("PAYMENT_PROVIDER_ERROR", "The payment provider returned no checkout address.")
    return CheckoutSession(checkout_url=session.url, session_id=session.id)
