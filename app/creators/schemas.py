"""Creator requests and answers: affiliate links, clicks, revenue, balance and analytics."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated

import msgspec

# One entry of the revenue ledger (kind: earning | reversal), as ListCreatorEarnings returns it (`-- row: Earning`).
from app.db.queries.rows import Earning

Slug = Annotated[
    str, msgspec.Meta(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{1,30}[A-Za-z0-9])$")
]


class GenerateLinkRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    custom_slug: Slug | None = None


class AffiliateLink(msgspec.Struct, frozen=True):
    id: uuid.UUID
    code: str
    custom_slug: str | None
    created_at: datetime.datetime
    active: bool = True
    clicks: int = 0
    unique_clicks: int = 0  # visitor-days
    signups: int = 0  # accounts attributed to the link
    conversions: int = 0  # paid periods of those accounts


class AffiliateLinks(msgspec.Struct, frozen=True):
    links: list[AffiliateLink]


class TrackedClick(msgspec.Struct, frozen=True):
    tracked: bool
    first_today: bool  # this visitor's first click on the link today (what unique_clicks counts)


class Revenue(msgspec.Struct, frozen=True):
    earnings: list[Earning]
    earned_cents: int  # everything earned, net of reversals
    reversed_cents: int


class Balance(msgspec.Struct, frozen=True):
    available_cents: int  # what a payout may take: earned, past its hold, less paid out and pending payouts
    earned_cents: int
    paid_out_cents: int
    pending_payout_cents: int
    currency: str
    minimum_payout_cents: int
    pending_earnings_cents: int  # earned but still held (the provider's refund and chargeback window)


class CreatorAnalytics(msgspec.Struct, frozen=True):
    since: datetime.datetime
    clicks: int
    unique_clicks: int
    signups: int
    conversions: int
    revenue_cents: int
    links: list[AffiliateLink]


# Payouts (Stripe Connect Express).

RedirectUrl = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class OnboardRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Where Stripe sends the creator back: on the redirect allow-list, like Checkout's addresses.
    refresh_url: RedirectUrl  # the link expired or was used: ask for a new one
    return_url: RedirectUrl  # the creator left or finished the onboarding (not proof that it is complete)


class OnboardingLink(msgspec.Struct, frozen=True):
    url: str
    expires_at: datetime.datetime


class PayoutAccountStatus(msgspec.Struct, frozen=True):
    connected: bool  # an Express account exists for this creator
    charges_enabled: bool
    payouts_enabled: bool  # payouts can be requested
    details_submitted: bool
    requirements_due: list[str]  # what Stripe still needs from the creator (currently or past due)
    disabled_reason: str | None
    updated_at: datetime.datetime | None


class PayoutRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Cents; absent: the whole available balance.
    amount_cents: Annotated[int, msgspec.Meta(gt=0, le=100_000_000)] | None = None


class Payout(msgspec.Struct, frozen=True):
    id: uuid.UUID
    amount_cents: int
    currency: str
    status: str  # pending | paid | failed | reversed
    reversed_cents: int
    failure_code: str | None
    created_at: datetime.datetime
    settled_at: datetime.datetime | None


ReferralCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class LinkReferralRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    referral_code: ReferralCode


class LinkReferralResponse(msgspec.Struct, frozen=True):
    linked: bool
