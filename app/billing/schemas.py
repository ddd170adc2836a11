"""Response bodies of /subscription and /users/subscription (field names fixed by the mobile app's contract)."""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

import msgspec

TierSlug = Literal["free", "regular", "creator"]
BillingPeriod = Literal["monthly", "yearly"]
Provider = Literal["stripe", "apple", "google"]
# Whose subscriptions there are: the payment providers, and operators' promotional grants (app/billing/promotional.py).
SubscriptionProvider = Literal["stripe", "apple", "google", "promotional"]
# Who sends inbound events to the event store: the providers, and Stripe Connect (creators' payout accounts).
EventSource = Literal["stripe", "stripe_connect", "apple", "google"]
Status = Literal["trialing", "active", "grace_period", "billing_retry", "paused", "cancelled", "expired", "revoked"]


class TierLimits(msgspec.Struct, frozen=True):
    """None means unlimited (within fair-use caps)."""

    scans_per_day: int | None
    recipes_per_month: int | None
    saved_recipes: int | None


class Tier(msgspec.Struct, frozen=True):
    slug: str
    name: str
    monthly_price_cents: int
    yearly_price_cents: int
    currency: str
    limits: TierLimits
    features: list[str]
    revenue_share_percent: int


class Product(msgspec.Struct, frozen=True):
    product_id: str
    tier_slug: str
    billing_period: str
    price_cents: int
    currency: str


class UserSubscription(msgspec.Struct, frozen=True):
    """The subscription behind the caller's entitlement; for free users, a synthetic free/active one (id null)."""

    id: uuid.UUID | None
    tier_slug: str
    status: str
    provider: str | None
    trial_ends_at: datetime.datetime | None
    current_period_start: datetime.datetime | None
    current_period_end: datetime.datetime | None
    cancel_at_period_end: bool


class SubscriptionStatus(msgspec.Struct, frozen=True):
    tier_slug: str
    is_paid: bool
    limits: TierLimits
    features: list[str]
    subscription: UserSubscription
    subscriptions: list[UserSubscription]
