"""/api/v1/subscription/affiliate/* and /creator/*: creators' links, clicks (public), revenue, analytics, balance,
payouts through Stripe Connect; and the Connect webhook. Creator-only routes need an active creator entitlement
(403 CREATOR_REQUIRED)."""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from app.auth.service import CurrentUser
from app.billing.entitlements import entitlement_for, require_tier
from app.billing.inbox.processing import process_once
from app.billing.routes import WebhookReceipt
from app.billing.stripe.webhook import verified_event
from app.core.dependencies import provide_caller, provide_client_address, services_from
from app.core.ratelimit import RateLimit
from app.creators import connect, links, payouts, revenue
from app.creators.schemas import (
    AffiliateLink,
    AffiliateLinks,
    Balance,
    CreatorAnalytics,
    GenerateLinkRequest,
    OnboardingLink,
    OnboardRequest,
    Payout,
    PayoutAccountStatus,
    PayoutRequest,
    Revenue,
    TrackedClick,
)
from app.db.types import Connection

CLICKS_PER_ADDRESS = RateLimit("affiliate-clicks", 60, 60)
CALLER = {"caller": Provide(provide_caller)}


async def provide_creator(db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]) -> CurrentUser:
    require_tier(await entitlement_for(db, caller.id), "creator")
    return caller


CREATOR = {"caller": Provide(provide_caller), "creator": Provide(provide_creator)}


async def provide_creator_briefly(request: Request[Any, Any, Any]) -> CurrentUser:
    """The creator, checked on a connection returned at once: for routes that wait on Stripe (see
    app/billing/routes.py), so that a slow Stripe cannot hold pooled connections."""
    async with services_from(request.app.state).connection() as db:
        caller = await provide_caller(request, db)
        return await provide_creator(db, caller)


BRIEF_CREATOR = {"creator": Provide(provide_creator_briefly)}


class CreatorController(Controller):
    path = "/api/v1/subscription"
    tags = ["creators"]

    @post("/affiliate/generate", status_code=201, operation_id="generateAffiliateLink", dependencies=CREATOR)
    async def generate(
        self,
        state: State,
        db: NamedDependency[Connection],
        creator: NamedDependency[CurrentUser],
        data: JSONBody[GenerateLinkRequest | None] = None,
    ) -> AffiliateLink:
        """A new link with a random code and, optionally, a custom slug (unique; letters, digits and hyphens)."""
        slug = data.custom_slug if data else None
        return await links.create_link(db, services_from(state).settings, creator.id, slug)

    @get("/affiliate/links", operation_id="listAffiliateLinks", dependencies=CREATOR)
    async def list_links(
        self, db: NamedDependency[Connection], creator: NamedDependency[CurrentUser]
    ) -> AffiliateLinks:
        return AffiliateLinks(await links.list_links(db, creator.id))

    @post(
        "/affiliate/track/{code:str}",
        status_code=200,
        operation_id="trackAffiliateClick",
        dependencies={"client_address": Provide(provide_client_address, sync_to_thread=False)},
    )
    async def track(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db: NamedDependency[Connection],
        client_address: NamedDependency[str],
        code: FromPath[str],
    ) -> TrackedClick:
        """Count a visit through a link (no sign-in: visitors have no account yet); once a day per visitor."""
        services = services_from(state)
        await services.rate_limiter.check(db, [(CLICKS_PER_ADDRESS, client_address)])
        return await links.track_click(
            db,
            links.visitor_key(services.settings.jwt.secret),
            code[:64],
            client_address=client_address,
            user_agent=request.headers.get("user-agent", ""),
            now=datetime.datetime.now(datetime.UTC),
        )

    @get("/creator/revenue", operation_id="creatorRevenue", dependencies=CREATOR)
    async def get_revenue(
        self,
        db: NamedDependency[Connection],
        creator: NamedDependency[CurrentUser],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=100_000)] = 0,
    ) -> Revenue:
        """The revenue-share ledger, newest first: earnings and their reversals."""
        return await revenue.revenue(db, creator.id, limit=limit, offset=offset)

    @get("/creator/analytics", operation_id="creatorAnalytics", dependencies=CREATOR)
    async def get_analytics(
        self,
        db: NamedDependency[Connection],
        creator: NamedDependency[CurrentUser],
        days: Annotated[int, QueryParameter(ge=1, le=366)] = 30,
    ) -> CreatorAnalytics:
        """Clicks, sign-ups, paid periods and revenue over the last `days`, and each link's totals."""
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days)
        return await revenue.analytics(db, creator.id, since=since)

    @get("/creator/balance", operation_id="creatorBalance", dependencies=CREATOR)
    async def get_balance(
        self, state: State, db: NamedDependency[Connection], creator: NamedDependency[CurrentUser]
    ) -> Balance:
        """Earned (net of reversals), paid out, pending, and what is available for a payout now."""
        return await payouts.balance(db, creator.id, services_from(state).settings.creators.minimum_payout_cents)

    @post("/creator/stripe/onboard", status_code=200, operation_id="creatorStripeOnboard", dependencies=BRIEF_CREATOR)
    async def onboard(
        self, state: State, creator: NamedDependency[CurrentUser], data: JSONBody[OnboardRequest]
    ) -> OnboardingLink:
        """A Stripe-hosted onboarding link for the creator's Express payout account (created on the first call)."""
        services = services_from(state)
        return await connect.onboard(
            services.connection,
            services.payments.stripe.client,
            services.settings,
            data,
            creator_id=creator.id,
            email=creator.user.email,
        )

    @get("/creator/stripe/status", operation_id="creatorStripeStatus", dependencies=BRIEF_CREATOR)
    async def stripe_status(
        self,
        state: State,
        creator: NamedDependency[CurrentUser],
        refresh: Annotated[bool, QueryParameter()] = False,
    ) -> PayoutAccountStatus:
        """The payout account as Connect webhooks last reported it; `refresh=true` asks Stripe first."""
        services = services_from(state)
        return await connect.account_status(
            services.connection, services.payments.stripe.client, creator.id, refresh=refresh
        )

    @post("/creator/payout", status_code=201, operation_id="creatorPayout", dependencies=BRIEF_CREATOR)
    async def payout(
        self, state: State, creator: NamedDependency[CurrentUser], data: JSONBody[PayoutRequest | None] = None
    ) -> Payout:
        """Pay out `amount_cents` (default: the whole available balance) to the creator's Stripe account."""
        services = services_from(state)
        return await payouts.request_payout(
            services.connection,
            services.payments.stripe.client,
            creator.id,
            data.amount_cents if data else None,
            services.settings.creators.minimum_payout_cents,
        )


@post(
    "/api/v1/subscription/webhook/stripe-connect",
    status_code=200,
    operation_id="stripeConnectWebhook",
    tags=["webhooks"],
)
async def stripe_connect_webhook(state: State, request: Request[Any, Any, Any]) -> WebhookReceipt:
    """Signed by Stripe for events on creators' connected accounts, with this endpoint's own secret. Stored before
    processing, processed once, any failure answered 5xx so that Stripe delivers it again (as payment webhooks)."""
    services = services_from(state)
    payload = await request.body()
    event = verified_event(payload, request.headers.get("stripe-signature"), services.settings.stripe, connect=True)
    outcome = await process_once(
        services.connection,
        provider="stripe_connect",
        event_id=event.id,
        event_type=event.type,
        payload=msgspec.Raw(payload),  # verified JSON, stored as sent
        effect=lambda conn: connect.apply_connect_event(conn, event),
    )
    return WebhookReceipt(received=True, outcome=outcome)
