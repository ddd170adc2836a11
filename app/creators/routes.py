"""/api/v1/subscription/affiliate/* and /creator/*: creators' links, clicks (public), revenue, analytics, balance,
payouts through Stripe Connect; and the Connect webhook. Creator-only routes need an active creator entitlement
(403 CREATOR_REQUIRED)."""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from app.billing.entitlements import entitlement_for, require_tier
from app.billing.inbox.processing import applying, process_once
from app.billing.inbox.receipt import WebhookReceipt
from app.billing.providers import PaymentProviders
from app.billing.stripe.webhook import verified_event
from app.core.identity import CurrentUser, provide_caller
from app.core.ratelimit import RateLimit, RateLimiter
from app.creators import connect as stripe_connect
from app.creators import links, payouts, revenue
from app.creators.schemas import (
    AffiliateLink,
    AffiliateLinks,
    Balance,
    CreatorAnalytics,
    GenerateLinkRequest,
    LinkReferralRequest,
    LinkReferralResponse,
    OnboardingLink,
    OnboardRequest,
    Payout,
    PayoutAccountStatus,
    PayoutRequest,
    Revenue,
    TrackedClick,
)
from app.db.types import Connection, ConnectionSource
from app.settings import Settings

CALLER = {"caller": Provide(provide_caller)}


async def provide_creator(db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]) -> CurrentUser:
    """The caller, provided they hold the Creator tier (403 CREATOR_REQUIRED otherwise)."""
    require_tier(await entitlement_for(db, caller.id), "creator")
    return caller


CREATOR = {"caller": Provide(provide_caller), "creator": Provide(provide_creator)}


async def provide_creator_briefly(
    request: Request[Any, Any, Any], connect: NamedDependency[ConnectionSource]
) -> CurrentUser:
    """The creator, checked on a connection returned at once: for routes that wait on Stripe (see
    app/billing/routes.py), so that a slow Stripe cannot hold pooled connections. 403 CREATOR_REQUIRED as
    `provide_creator`."""
    async with connect() as db:
        caller = await provide_caller(request, db)
        return await provide_creator(db, caller)


BRIEF_CREATOR = {"creator": Provide(provide_creator_briefly)}


class CreatorController(Controller):
    path = "/api/v1/subscription"
    tags = ["creators"]

    @post("/affiliate/generate", status_code=201, operation_id="generateAffiliateLink", dependencies=CREATOR)
    async def generate(
        self,
        settings: NamedDependency[Settings],
        db: NamedDependency[Connection],
        creator: NamedDependency[CurrentUser],
        data: JSONBody[GenerateLinkRequest | None] = None,
    ) -> AffiliateLink:
        """A new link with a random code and, optionally, a custom slug (unique; letters, digits and hyphens). 409
        AFFILIATE_SLUG_TAKEN; 422 AFFILIATE_SLUG_RESERVED."""
        slug = data.custom_slug if data else None
        return await links.create_link(db, settings, creator.id, slug)

    @get("/affiliate/links", operation_id="listAffiliateLinks", dependencies=CREATOR)
    async def list_links(
        self, db: NamedDependency[Connection], creator: NamedDependency[CurrentUser]
    ) -> AffiliateLinks:
        """The creator's affiliate links with their clicks and sign-ups."""
        return AffiliateLinks(await links.list_links(db, creator.id))

    @post(
        "/affiliate/track/{code:str}",
        status_code=200,
        operation_id="trackAffiliateClick",
    )
    async def track(
        self,
        *,
        settings: NamedDependency[Settings],
        rate_limiter: NamedDependency[RateLimiter],
        db: NamedDependency[Connection],
        client_address: NamedDependency[str],
        code: FromPath[str],
    ) -> TrackedClick:
        """Count a visit through a link (no sign-in: visitors have no account yet); once a day per visitor (an
        IPv4 address, an IPv6 /64)."""
        clicks = RateLimit("affiliate-clicks", settings.creators.clicks_per_address_per_minute, 60)
        await rate_limiter.check(db, [(clicks, links.visitor_network(client_address))])
        return await links.track_click(
            db,
            links.visitor_key(settings.jwt.secret),
            code[:64],
            client_address=client_address,
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
        self,
        settings: NamedDependency[Settings],
        db: NamedDependency[Connection],
        creator: NamedDependency[CurrentUser],
    ) -> Balance:
        """Earned (net of reversals), paid out, pending, and what is available for a payout now."""
        return await payouts.balance(db, creator.id, settings.creators.minimum_payout_cents)

    @post("/creator/stripe/onboard", status_code=200, operation_id="creatorStripeOnboard", dependencies=BRIEF_CREATOR)
    async def onboard(
        self,
        connect: NamedDependency[ConnectionSource],
        payments: NamedDependency[PaymentProviders],
        settings: NamedDependency[Settings],
        creator: NamedDependency[CurrentUser],
        data: JSONBody[OnboardRequest],
    ) -> OnboardingLink:
        """A Stripe-hosted onboarding link for the creator's Express payout account (created on the first call). 422
        REDIRECT_NOT_ALLOWED for a return address that is not the app's; 502 PAYMENT_PROVIDER_ERROR; 503
        STRIPE_UNCONFIGURED."""
        return await stripe_connect.onboard(
            connect,
            payments.stripe.client,
            settings,
            data,
            creator_id=creator.id,
            email=creator.user.email,
        )

    @get("/creator/stripe/status", operation_id="creatorStripeStatus", dependencies=BRIEF_CREATOR)
    async def stripe_status(
        self,
        connect: NamedDependency[ConnectionSource],
        payments: NamedDependency[PaymentProviders],
        creator: NamedDependency[CurrentUser],
        refresh: Annotated[bool, QueryParameter()] = False,
    ) -> PayoutAccountStatus:
        """The payout account as Connect webhooks last reported it; `refresh=true` asks Stripe first (502
        PAYMENT_PROVIDER_ERROR; 503 STRIPE_UNCONFIGURED)."""
        return await stripe_connect.account_status(connect, payments.stripe.client, creator.id, refresh=refresh)

    @post("/creator/payout", status_code=201, operation_id="creatorPayout", dependencies=BRIEF_CREATOR)
    async def payout(
        self,
        connect: NamedDependency[ConnectionSource],
        payments: NamedDependency[PaymentProviders],
        settings: NamedDependency[Settings],
        creator: NamedDependency[CurrentUser],
        data: JSONBody[PayoutRequest | None] = None,
    ) -> Payout:
        """Pay out `amount_cents` (default: the whole available balance) to the creator's Stripe account. 409
        PAYOUT_IN_PROGRESS or PAYOUT_ACCOUNT_NOT_READY; 422 PAYOUT_BELOW_MINIMUM or INSUFFICIENT_BALANCE; 502
        PAYOUT_FAILED (the amount back in the balance) or PAYMENT_PROVIDER_ERROR; 503 PAYOUT_PENDING (it completes on
        its own) or STRIPE_UNCONFIGURED."""
        return await payouts.request_payout(
            connect,
            payments.stripe.client,
            creator.id,
            data.amount_cents if data else None,
            settings.creators.minimum_payout_cents,
        )


@post(
    "/api/v1/subscription/webhook/stripe-connect",
    status_code=200,
    operation_id="stripeConnectWebhook",
    tags=["webhooks"],
)
async def stripe_connect_webhook(
    connect: NamedDependency[ConnectionSource], settings: NamedDependency[Settings], request: Request[Any, Any, Any]
) -> WebhookReceipt:
    """Signed by Stripe for events on creators' connected accounts, with this endpoint's own secret. Stored before
    processing, processed once, any failure answered 5xx so that Stripe delivers it again (as payment webhooks).
    400 STRIPE_SIGNATURE_INVALID or STRIPE_EVENT_INVALID; 503 STRIPE_CONNECT_UNCONFIGURED."""
    payload = await request.body()
    verified = verified_event(payload, request.headers.get("stripe-signature"), settings.stripe, connect=True)
    outcome = await process_once(
        connect,
        provider="stripe_connect",
        event_id=verified.event.id,
        event_type=verified.event.type,
        payload=verified.body,  # verified JSON, stored as sent (no decode and re-encode) unless it held a NUL
        effect=applying(lambda conn: stripe_connect.apply_connect_event(conn, verified.event)),
    )
    return WebhookReceipt(received=True, outcome=outcome)


@post(
    "/api/v1/auth/link-referral",
    status_code=200,
    operation_id="linkReferral",
    tags=["auth"],
    dependencies=CALLER,
)
async def link_referral(
    db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], data: JSONBody[LinkReferralRequest]
) -> LinkReferralResponse:
    """Attribute the account to the creator link the code or slug names; the first valid attribution wins. 409
    REFERRAL_ALREADY_LINKED; 422 REFERRAL_CODE_UNKNOWN or SELF_REFERRAL."""
    return LinkReferralResponse(linked=await links.attribute(db, caller.id, data.referral_code))
