"""/api/v1/subscription (tiers, products, status, Stripe webhook) and /api/v1/users/subscription."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from app.auth.service import CurrentUser
from app.billing import entitlements
from app.billing.entitlements import Cause
from app.billing.inbox.processing import EventOutcome, process_once
from app.billing.products import parse_products, product_catalogue
from app.billing.reconcile import refresh_user
from app.billing.schemas import Product, SubscriptionStatus, Tier, UserSubscription
from app.billing.stripe import checkout, manage
from app.billing.stripe.checkout import CheckoutRequest, CheckoutSession
from app.billing.stripe.effects import apply_event
from app.billing.stripe.manage import ChangeTierRequest, PortalRequest, PortalSession
from app.billing.stripe.webhook import verified_event
from app.core.dependencies import provide_caller, provide_caller_briefly, services_from
from app.core.request_context import current_request_id
from app.db.types import Connection
from app.services import Services

# For routes that wait on a provider: see SubscriptionController.
BRIEF_CALLER = {"caller": Provide(provide_caller_briefly)}


class SubscriptionController(Controller):
    """Routes that call Stripe (or the stores) hold no pooled connection while they wait: the caller is
    authenticated on a connection returned at once (provide_caller_briefly), and the service borrows one only for
    its own short statements, so a slow provider cannot exhaust the pool."""

    path = "/api/v1/subscription"
    tags = ["subscription"]

    @get("/tiers", operation_id="listTiers")
    async def tiers(self, db: NamedDependency[Connection]) -> list[Tier]:
        return await entitlements.list_tiers(db)

    @get("/products", operation_id="listProducts")
    async def products(self, state: State, db: NamedDependency[Connection]) -> list[Product]:
        mappings = parse_products(services_from(state).settings.billing.products)
        return product_catalogue(mappings, await entitlements.list_tiers(db))

    @post(
        "/create-checkout",
        status_code=200,
        operation_id="createCheckout",
        dependencies=BRIEF_CALLER,
    )
    async def create_checkout(
        self, state: State, caller: NamedDependency[CurrentUser], data: JSONBody[CheckoutRequest]
    ) -> CheckoutSession:
        services = services_from(state)
        return await checkout.create_checkout(
            services.connection, services.payments.stripe.client, services.settings, caller, data
        )

    @post("/portal", status_code=200, operation_id="openPortal", dependencies=BRIEF_CALLER)
    async def portal(
        self, state: State, caller: NamedDependency[CurrentUser], data: JSONBody[PortalRequest | None] = None
    ) -> PortalSession:
        services = services_from(state)
        return await manage.open_portal(
            services.connection,
            services.payments.stripe.client,
            services.settings,
            caller.id,
            data or PortalRequest(),
        )

    @post(
        "/cancel",
        status_code=200,
        operation_id="cancelSubscription",
        dependencies=BRIEF_CALLER,
    )
    async def cancel(self, state: State, caller: NamedDependency[CurrentUser]) -> UserSubscription:
        """Cancel at the end of the paid period (access continues until then)."""
        return await self._change_renewal(state, caller, cancel=True)

    @post(
        "/resume",
        status_code=200,
        operation_id="resumeSubscription",
        dependencies=BRIEF_CALLER,
    )
    async def resume(self, state: State, caller: NamedDependency[CurrentUser]) -> UserSubscription:
        """Undo a cancellation before the period ends."""
        return await self._change_renewal(state, caller, cancel=False)

    @post(
        "/change-tier",
        status_code=200,
        operation_id="changeTier",
        dependencies=BRIEF_CALLER,
    )
    async def change_tier(
        self, state: State, caller: NamedDependency[CurrentUser], data: JSONBody[ChangeTierRequest]
    ) -> UserSubscription:
        """Switch plans through Stripe, prorated; the new tier applies from the subscription Stripe returns."""
        services = services_from(state)
        await manage.change_tier(
            services.connection, services.payments.stripe.client, services.settings, caller.id, data
        )
        return await _subscription_now(services, caller)

    @post(
        "/refresh-status",
        status_code=200,
        operation_id="refreshStatus",
        dependencies=BRIEF_CALLER,
    )
    async def refresh_status(self, state: State, caller: NamedDependency[CurrentUser]) -> UserSubscription:
        """Ask each provider about the caller's live subscriptions now and answer with the resulting entitlement."""
        services = services_from(state)
        cause = Cause("api", f"refresh-status:{current_request_id()}")
        await refresh_user(services.connection, services.payments, services.settings, caller.id, cause)
        return await _subscription_now(services, caller)

    @staticmethod
    async def _change_renewal(state: State, caller: CurrentUser, *, cancel: bool) -> UserSubscription:
        services = services_from(state)
        await manage.set_cancel_at_period_end(
            services.connection, services.payments.stripe.client, services.settings, caller.id, cancel=cancel
        )
        return await _subscription_now(services, caller)

    @get("/status", operation_id="subscriptionStatus", dependencies={"caller": Provide(provide_caller)})
    async def status(self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]) -> SubscriptionStatus:
        entitlement = await entitlements.entitlement_for(db, caller.id)
        return SubscriptionStatus(
            tier_slug=entitlement.slug,
            is_paid=entitlement.slug != "free",
            limits=entitlement.tier.limits,
            features=entitlement.tier.features,
            subscription=entitlement.subscription,
            subscriptions=await entitlements.user_subscriptions(db, caller.id),
        )


async def _subscription_now(services: Services, caller: CurrentUser) -> UserSubscription:
    async with services.connection() as conn:
        return (await entitlements.entitlement_for(conn, caller.id)).subscription


@get(
    "/api/v1/users/subscription",
    operation_id="userSubscription",
    tags=["users"],
    dependencies={"caller": Provide(provide_caller)},
)
async def user_subscription(db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]) -> UserSubscription:
    return (await entitlements.entitlement_for(db, caller.id)).subscription


class WebhookReceipt(msgspec.Struct, frozen=True):
    received: bool
    outcome: EventOutcome


@post("/api/v1/subscription/webhook/stripe", status_code=200, operation_id="stripeWebhook", tags=["webhooks"])
async def stripe_webhook(state: State, request: Request[Any, Any, Any]) -> WebhookReceipt:
    """Signed by Stripe, not by a user. Verified on the raw bytes; stored before processing; processed once; any
    failure answers 5xx so that Stripe delivers it again."""
    services = services_from(state)
    settings = services.settings.stripe
    payload = await request.body()
    event = verified_event(payload, request.headers.get("stripe-signature"), settings)
    outcome = await process_once(
        services.connection,
        provider="stripe",
        event_id=event.id,
        event_type=event.type,
        payload=msgspec.Raw(payload),  # verified JSON, stored as sent (no decode and re-encode)
        effect=lambda conn: apply_event(conn, event, services.payments.stripe.client, settings),
    )
    return WebhookReceipt(received=True, outcome=outcome)
