"""/api/v1/subscription (tiers, products, status, Stripe webhook) and /api/v1/users/subscription."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from app.billing import entitlements
from app.billing.entitlements import Cause
from app.billing.inbox.processing import process_once
from app.billing.inbox.receipt import WebhookReceipt
from app.billing.products import parse_products, product_catalogue
from app.billing.providers import Billing
from app.billing.reconcile import refresh_user
from app.billing.schemas import Product, SubscriptionStatus, Tier, UserSubscription
from app.billing.stripe import checkout, manage
from app.billing.stripe.checkout import CheckoutRequest, CheckoutSession
from app.billing.stripe.effects import event_effect
from app.billing.stripe.manage import ChangeTierRequest, PortalRequest, PortalSession
from app.billing.stripe.webhook import verified_event
from app.core.identity import CurrentUser, provide_caller, provide_caller_briefly
from app.core.request_context import current_request_id
from app.db.types import Connection, ConnectionSource
from app.settings import Settings

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
        """The plans, each with its limits and features; no account needed."""
        return await entitlements.list_tiers(db)

    @get("/products", operation_id="listProducts")
    async def products(self, settings: NamedDependency[Settings], db: NamedDependency[Connection]) -> list[Product]:
        """The store and Stripe products that sell each plan (BILLING_PRODUCTS); no account needed."""
        mappings = parse_products(settings.billing.products)
        return product_catalogue(mappings, await entitlements.list_tiers(db))

    @post(
        "/create-checkout",
        status_code=200,
        operation_id="createCheckout",
        dependencies=BRIEF_CALLER,
    )
    async def create_checkout(
        self, billing: NamedDependency[Billing], caller: NamedDependency[CurrentUser], data: JSONBody[CheckoutRequest]
    ) -> CheckoutSession:
        """A Stripe Checkout page for a plan and billing period. 409 ALREADY_SUBSCRIBED for this plan or a better
        one; 422 REDIRECT_NOT_ALLOWED for a return address that is not the app's; 502 PAYMENT_PROVIDER_ERROR; 503
        STRIPE_UNCONFIGURED or STRIPE_PRICE_UNCONFIGURED."""
        return await checkout.create_checkout(
            billing.connect, billing.payments.stripe.client, billing.settings, caller, data
        )

    @post("/portal", status_code=200, operation_id="openPortal", dependencies=BRIEF_CALLER)
    async def portal(
        self,
        billing: NamedDependency[Billing],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[PortalRequest | None] = None,
    ) -> PortalSession:
        """A Stripe customer portal page for the web subscription. 404 NO_STRIPE_CUSTOMER without one; 422
        REDIRECT_NOT_ALLOWED; 502 PAYMENT_PROVIDER_ERROR; 503 STRIPE_UNCONFIGURED."""
        return await manage.open_portal(
            billing.connect,
            billing.payments.stripe.client,
            billing.settings,
            caller.id,
            data or PortalRequest(),
        )

    @post(
        "/cancel",
        status_code=200,
        operation_id="cancelSubscription",
        dependencies=BRIEF_CALLER,
    )
    async def cancel(self, billing: NamedDependency[Billing], caller: NamedDependency[CurrentUser]) -> UserSubscription:
        """Cancel at the end of the paid period (access continues until then). 404 NO_SUBSCRIPTION; 409
        STORE_SUBSCRIPTION for one bought in a store (cancelled there); 502 PAYMENT_PROVIDER_ERROR; 503
        STRIPE_UNCONFIGURED."""
        return await self._change_renewal(billing, caller, cancel=True)

    @post(
        "/resume",
        status_code=200,
        operation_id="resumeSubscription",
        dependencies=BRIEF_CALLER,
    )
    async def resume(self, billing: NamedDependency[Billing], caller: NamedDependency[CurrentUser]) -> UserSubscription:
        """Undo a cancellation before the period ends. 404 NO_SUBSCRIPTION; 409 STORE_SUBSCRIPTION; 502
        PAYMENT_PROVIDER_ERROR; 503 STRIPE_UNCONFIGURED."""
        return await self._change_renewal(billing, caller, cancel=False)

    @post(
        "/change-tier",
        status_code=200,
        operation_id="changeTier",
        dependencies=BRIEF_CALLER,
    )
    async def change_tier(
        self, billing: NamedDependency[Billing], caller: NamedDependency[CurrentUser], data: JSONBody[ChangeTierRequest]
    ) -> UserSubscription:
        """Switch plans through Stripe. An upgrade is invoiced at once and applies only when Stripe says that invoice
        is paid (402 PLAN_CHANGE_PAYMENT_REQUIRED with the invoice's page while it waits); a downgrade applies at the
        end of the paid period. 404 NO_SUBSCRIPTION; 409 STORE_SUBSCRIPTION, SUBSCRIPTION_UNCHANGEABLE,
        SUBSCRIPTION_ENDING or SAME_PLAN; 502 PAYMENT_PROVIDER_ERROR; 503 STRIPE_UNCONFIGURED or
        STRIPE_PRICE_UNCONFIGURED."""
        await manage.change_tier(billing.connect, billing.payments, billing.settings, caller.id, data)
        return await _subscription_now(billing.connect, caller)

    @post(
        "/refresh-status",
        status_code=200,
        operation_id="refreshStatus",
        dependencies=BRIEF_CALLER,
    )
    async def refresh_status(
        self, billing: NamedDependency[Billing], caller: NamedDependency[CurrentUser]
    ) -> UserSubscription:
        """Ask each provider about the caller's live subscriptions now and answer with the resulting entitlement."""
        cause = Cause("api", f"refresh-status:{current_request_id()}")
        await refresh_user(billing.connect, billing.payments, billing.settings, caller.id, cause)
        return await _subscription_now(billing.connect, caller)

    @staticmethod
    async def _change_renewal(billing: Billing, caller: CurrentUser, *, cancel: bool) -> UserSubscription:
        await manage.set_cancel_at_period_end(
            billing.connect, billing.payments, billing.settings, caller.id, cancel=cancel
        )
        return await _subscription_now(billing.connect, caller)

    @get("/status", operation_id="subscriptionStatus", dependencies={"caller": Provide(provide_caller)})
    async def status(self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]) -> SubscriptionStatus:
        """The caller's plan now, its limits and features, and every subscription behind it."""
        entitlement = await entitlements.entitlement_for(db, caller.id)
        return SubscriptionStatus(
            tier_slug=entitlement.slug,
            is_paid=entitlement.slug != "free",
            limits=entitlement.tier.limits,
            features=entitlement.tier.features,
            subscription=entitlement.subscription,
            subscriptions=await entitlements.user_subscriptions(db, caller.id),
        )


async def _subscription_now(connect: ConnectionSource, caller: CurrentUser) -> UserSubscription:
    async with connect() as conn:
        return (await entitlements.entitlement_for(conn, caller.id)).subscription


@get(
    "/api/v1/users/subscription",
    operation_id="userSubscription",
    tags=["users"],
    dependencies={"caller": Provide(provide_caller)},
)
async def user_subscription(db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]) -> UserSubscription:
    """The subscription that gives the caller their plan now (the shipped app's address)."""
    return (await entitlements.entitlement_for(db, caller.id)).subscription


@post("/api/v1/subscription/webhook/stripe", status_code=200, operation_id="stripeWebhook", tags=["webhooks"])
async def stripe_webhook(billing: NamedDependency[Billing], request: Request[Any, Any, Any]) -> WebhookReceipt:
    """Signed by Stripe, not by a user. Verified on the raw bytes; stored before processing; processed once; any
    failure answers 5xx so that Stripe delivers it again. 400 STRIPE_SIGNATURE_INVALID or STRIPE_EVENT_INVALID;
    503 STRIPE_UNCONFIGURED."""
    stripe_settings = billing.settings.stripe
    payload = await request.body()
    verified = verified_event(payload, request.headers.get("stripe-signature"), stripe_settings)
    outcome = await process_once(
        billing.connect,
        provider="stripe",
        event_id=verified.event.id,
        event_type=verified.event.type,
        payload=verified.body,  # verified JSON, stored as sent (no decode and re-encode) unless it held a NUL
        effect=event_effect(verified.event, billing.payments, stripe_settings),
    )
    return WebhookReceipt(received=True, outcome=outcome)
