"""Stripe Checkout: one Stripe customer per user, Prices found by lookup key, one 3-day trial per person,
idempotency keys.

Nothing here grants a tier: the subscription exists only once Stripe says so through a signed webhook.
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Literal

import msgspec
import stripe
from stripe.params.checkout import SessionCreateParamsSubscriptionData

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
NEVER_STARTED = frozenset({"incomplete", "incomplete_expired"})
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


async def _offers_trial(
    connect: ConnectionSource, client: stripe.StripeClient, caller: CurrentUser, customer_id: str
) -> bool:
    """One free trial per person: none for an account that ever had a trial or a paid subscription on any provider
    (Stripe, Apple, Google, imported), nor for a Stripe customer with any subscription that started (one this server
    never recorded: a lost webhook, the previous backend's)."""
    async with connect() as conn:
        if await q.had_trial_or_paid_subscription(conn, user_id=caller.id):
            return False
    history = await stripe_call(
        client.v1.subscriptions.list_async(params={"customer": customer_id, "status": "all", "limit": 100})
    )
    # `incomplete` and `incomplete_expired`: the first payment never succeeded, and there was no trial.
    return not any(s.trial_start is not None or s.status not in NEVER_STARTED for s in history.data)


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
    trial = await _offers_trial(connect, client, caller, customer_id)
    subscription_data: SessionCreateParamsSubscriptionData = {"metadata": {"user_id": str(caller.id)}}
    if trial:
        subscription_data["trial_period_days"] = TRIAL_DAYS
    # The same request repeated within ten minutes (a double tap, a client retry) gets the same session back. The key
    # covers every parameter that can differ between two such requests (Stripe refuses a key reused with other
    # parameters): whether a trial is offered changes once the account has had one.
    window = int(time.time() // 600)
    plan = f"{request.tier}:{request.billing_period}"
    attempt = f"{caller.id}:{plan}:{request.success_url}:{request.cancel_url}:{trial}:{window}"
    session = await stripe_call(
        client.v1.checkout.sessions.create_async(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(caller.id),
                "line_items": [{"price": price_id, "quantity": 1}],
                "subscription_data": subscription_data,
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
