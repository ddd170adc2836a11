"""What an app store verified about one subscription purchase: the common result of App Store and Google Play
verification, turned into a subscription state once the account it belongs to is known."""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

import msgspec

from app.billing.entitlements import ProviderState
from app.billing.products import ProductMapping
from app.billing.schemas import BillingPeriod, Status, TierSlug
from app.core.errors import Unprocessable

StoreProvider = Literal["apple", "google"]
StoreEnvironment = Literal["production", "sandbox"]


class StorePurchase(msgspec.Struct, frozen=True, kw_only=True):
    provider: StoreProvider
    # The subscription's identity with us: Apple's originalTransactionId, Google's purchase token.
    identity: str
    product_id: str
    tier_slug: TierSlug
    billing_period: BillingPeriod
    status: Status
    environment: StoreEnvironment
    # Apple: the transaction is a family member's access through Family Sharing, not a purchase of theirs.
    family_shared: bool = False
    current_period_start: datetime.datetime | None = None
    current_period_end: datetime.datetime | None = None
    trial_ends_at: datetime.datetime | None = None
    cancel_at_period_end: bool = False
    # Google: the order that paid for the current period (each renewal is a new order, `<first order id>..N`).
    order_id: str | None = None
    # The store's time for this state (Apple's signedDate; for Google, when we fetched it).
    observed_at: datetime.datetime
    # What the app bound the purchase to (Apple appAccountToken, Google obfuscatedExternalAccountId), if anything.
    account_token: str | None = None
    # Google: the purchase token this one replaces (upgrade, downgrade, resubscribe).
    supersedes: str | None = None
    # Google: a purchase not yet acknowledged is refunded by Google after three days.
    needs_acknowledgement: bool = False

    def state_for(self, user_id: uuid.UUID) -> ProviderState:
        return ProviderState(
            user_id=user_id,
            provider=self.provider,
            provider_subscription_id=self.identity,
            tier_slug=self.tier_slug,
            status=self.status,
            environment=self.environment,
            family_shared=self.family_shared,
            billing_period=self.billing_period,
            trial_ends_at=self.trial_ends_at,
            current_period_start=self.current_period_start,
            current_period_end=self.current_period_end,
            order_id=self.order_id,
            cancel_at_period_end=self.cancel_at_period_end,
            provider_updated_at=self.observed_at,
        )


def mapped_product(product_id: str, products: dict[str, ProductMapping]) -> ProductMapping:
    """The tier a store product grants, by server configuration (BILLING_PRODUCTS); unknown products are refused."""
    mapping = products.get(product_id)
    if mapping is None:
        raise Unprocessable("PRODUCT_UNKNOWN", "This purchase is not for a CookCam subscription product.")
    return mapping


def store_status(
    *,
    revoked: bool,
    expires: datetime.datetime | None,
    billing_retry: bool,
    grace_until: datetime.datetime | None,
    auto_renew_off: bool,
    trial: bool,
    now: datetime.datetime,
) -> Status:
    """A store subscription's status from its facts (App Store data; docs/payments.md has the table)."""
    if revoked:
        return "revoked"
    if billing_retry and grace_until is not None and grace_until > now:
        return "grace_period"
    if expires is not None and expires <= now:
        return "billing_retry" if billing_retry else "expired"
    if auto_renew_off:
        return "cancelled"
    return "trialing" if trial else "active"


def from_millis(value: int | str | None) -> datetime.datetime | None:
    """Apple's and Google's millisecond epoch times (numbers in JWS, strings in legacy receipts and RTDN)."""
    if value is None or value == "":
        return None
    try:
        return datetime.datetime.fromtimestamp(int(value) / 1000, datetime.UTC)
    except (ValueError, OverflowError, OSError):  # not a number, or beyond year 9999: no store time is
        raise Unprocessable("STORE_TIME_INVALID", "The store data holds a time that is not a date.") from None
