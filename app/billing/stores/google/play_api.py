"""Google Play's Developer API: subscription purchases read (androidpublisher v3, `purchases.subscriptionsv2.get`)
with the service account's token (oauth.py) and acknowledged through `purchases.subscriptions.acknowledge`; the
notifications that say which purchase to re-read arrive as Pub/Sub pushes (push.py).

A purchase token is only ever trusted through Google's answer for it: notifications and clients merely say which
token to re-fetch. Every androidpublisher call goes through `call_with_retries` (transient failures retried, then
503), and a 401 refreshes the access token once, since Google may revoke a token before its stated expiry.
"""

from __future__ import annotations

import calendar
import datetime
import logging
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from app.billing.products import parse_products, tier_of
from app.billing.schemas import BillingPeriod, Status
from app.billing.stores.google import errors
from app.billing.stores.google.oauth import ServiceAccountToken
from app.billing.stores.purchase import StoreEnvironment, StorePurchase, mapped_product
from app.core.retry import call_with_retries, raise_for_transient
from app.settings import Settings

log = logging.getLogger("cookcam.billing.google")

MAX_PURCHASE_TOKEN_LENGTH = 4096

# subscriptionState -> our status. CANCELED keeps access until expiry (our "cancelled" grants until the period
# ends); ON_HOLD is Google's account hold after grace, i.e. payment being retried without access; PENDING is a
# purchase not paid yet (slow payment methods) and grants nothing; PENDING_PURCHASE_CANCELED never was paid.
# Any state Google adds later maps to "billing_retry": it grants nothing, yet does not end the token (an ended token
# is final under the ordering rule, docs/payments.md), and reconciliation keeps asking about it.
STATUS_BY_STATE: dict[str, Status] = {
    "SUBSCRIPTION_STATE_ACTIVE": "active",  # "trialing" when the line item is in its free-trial phase
    "SUBSCRIPTION_STATE_CANCELED": "cancelled",
    "SUBSCRIPTION_STATE_IN_GRACE_PERIOD": "grace_period",
    "SUBSCRIPTION_STATE_ON_HOLD": "billing_retry",
    "SUBSCRIPTION_STATE_PAUSED": "paused",
    "SUBSCRIPTION_STATE_EXPIRED": "expired",
    "SUBSCRIPTION_STATE_PENDING": "billing_retry",
    "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED": "expired",
}
UNKNOWN_STATE_STATUS: Status = "billing_retry"
# Statuses in which the subscription still runs to the end of its period (and may or may not renew then).
_RUNNING: frozenset[Status] = frozenset({"trialing", "active", "grace_period", "cancelled"})

# -- SubscriptionPurchaseV2, as much of it as we read ----------------------------------------------------------------
# Unknown fields are ignored and everything optional defaults: Google adds fields, and its proto3 JSON omits fields
# holding default values (an autoRenewEnabled of false may simply be absent).


class _AutoRenewingPlan(msgspec.Struct, rename="camel"):
    auto_renew_enabled: bool = False


class _OfferPhase(msgspec.Struct, rename="camel"):
    free_trial: dict[str, Any] | None = None


class _LineItem(msgspec.Struct, rename="camel"):
    product_id: str
    expiry_time: datetime.datetime | None = None
    latest_successful_order_id: str | None = None
    auto_renewing_plan: _AutoRenewingPlan | None = None  # absent for prepaid plans, which never renew
    offer_phase: _OfferPhase | None = None


class _ExternalAccountIdentifiers(msgspec.Struct, rename="camel"):
    obfuscated_external_account_id: str | None = None


class _SubscriptionPurchaseV2(msgspec.Struct, rename="camel"):
    subscription_state: str = "SUBSCRIPTION_STATE_UNSPECIFIED"
    line_items: list[_LineItem] = msgspec.field(default_factory=list)
    start_time: datetime.datetime | None = None
    latest_order_id: str | None = None  # deprecated by Google for lineItems[].latestSuccessfulOrderId
    linked_purchase_token: str | None = None
    acknowledgement_state: str | None = None
    external_account_identifiers: _ExternalAccountIdentifiers | None = None
    test_purchase: dict[str, Any] | None = None  # present (an empty object) for license testers' purchases


class _GoogleErrorItem(msgspec.Struct):
    reason: str | None = None


class _GoogleErrorDetail(msgspec.Struct):
    errors: list[_GoogleErrorItem] = msgspec.field(default_factory=list)


class _GoogleError(msgspec.Struct):
    error: _GoogleErrorDetail = msgspec.field(default_factory=_GoogleErrorDetail)


def _error_reasons(response: httpx.Response) -> set[str]:
    """The `reason`s of Google's error envelope, or none when the body is not one."""
    try:
        body = msgspec.json.decode(response.content, type=_GoogleError)
    except msgspec.DecodeError:
        return set()
    return {item.reason for item in body.error.errors if item.reason}


def _period_start(
    start: datetime.datetime | None, expiry: datetime.datetime | None, period: BillingPeriod
) -> datetime.datetime | None:
    """The current period's start, which Google does not report: `expiryTime` (moved on by each renewal) less one
    billing period, never before `startTime` (when the subscription was granted, the same for every renewal). Exact
    for the first period; later ones may be off by the days a month-end renewal date moves (docs/payments.md)."""
    if expiry is None:
        return start
    months = 12 if period == "yearly" else 1
    month_index = expiry.year * 12 + expiry.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(expiry.day, calendar.monthrange(year, month + 1)[1])
    derived = expiry.replace(year=year, month=month + 1, day=day)
    return derived if start is None else max(start, derived)


# -- The client ------------------------------------------------------------------------------------------------------


class GooglePlay:
    """The Play Developer API client of one worker; `configured` is false until GOOGLE_SERVICE_ACCOUNT_FILE is set.

    The HTTP client belongs to the caller, so there is nothing to close."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._google = settings.google
        self._outbound = settings.outbound
        self._http = http
        self._products = parse_products(settings.billing.products)
        self._token = ServiceAccountToken(settings.google, settings.outbound)

    @property
    def configured(self) -> bool:
        return bool(self._google.service_account_file)

    # -- Purchases -----------------------------------------------------------------------------------------------

    async def fetch(self, purchase_token: str) -> StorePurchase:
        """Google's current state of a subscription purchase, mapped onto ours."""
        if not self.configured:
            raise errors.unconfigured()
        if not purchase_token or len(purchase_token) > MAX_PURCHASE_TOKEN_LENGTH:
            raise errors.token_invalid()
        url = f"{self._applications_url()}/purchases/subscriptionsv2/tokens/{quote(purchase_token, safe='')}"
        response = await self._call("GET", url)
        if response.status_code in (400, 404, 410):
            if "applicationNotFound" in _error_reasons(response):
                # Our GOOGLE_PACKAGE_NAME is wrong (or the service account cannot see the app), not the token.
                log.error("Google Play does not know package %s", self._google.package_name)
                raise errors.provider_refused()
            raise errors.token_invalid()
        if response.status_code in (401, 403):
            log.error("Google Play refused our credentials (HTTP %s) reading a purchase", response.status_code)
            raise errors.provider_refused()
        if response.status_code != 200:
            log.warning("Google Play answered HTTP %s reading a purchase", response.status_code)
            raise errors.provider_refused()
        try:
            resource = msgspec.json.decode(response.content, type=_SubscriptionPurchaseV2)
        except msgspec.DecodeError:
            log.error("Google Play answered a subscription purchase we cannot read")
            raise errors.provider_refused() from None
        return self._purchase(purchase_token, resource)

    def _purchase(self, purchase_token: str, resource: _SubscriptionPurchaseV2) -> StorePurchase:
        if not resource.line_items:
            raise errors.token_invalid()
        floor = datetime.datetime.min.replace(tzinfo=datetime.UTC)
        # Several line items come with add-on bundles; the one that runs longest is what decides access.
        item = max(resource.line_items, key=lambda line: line.expiry_time or floor)
        tier, period = tier_of(mapped_product(item.product_id, self._products))
        status = STATUS_BY_STATE.get(resource.subscription_state, UNKNOWN_STATE_STATUS)
        free_trial = item.offer_phase is not None and item.offer_phase.free_trial is not None
        if status == "active" and free_trial:
            status = "trialing"
        auto_renew = item.auto_renewing_plan is not None and item.auto_renewing_plan.auto_renew_enabled
        environment: StoreEnvironment = "sandbox" if resource.test_purchase is not None else "production"
        account = resource.external_account_identifiers
        return StorePurchase(
            provider="google",
            identity=purchase_token,
            product_id=item.product_id,
            tier_slug=tier,
            billing_period=period,
            status=status,
            environment=environment,
            current_period_start=_period_start(resource.start_time, item.expiry_time, period),
            current_period_end=item.expiry_time,
            # The order that paid for the current period (a renewal is a new order): the period's identity.
            order_id=item.latest_successful_order_id or resource.latest_order_id,
            trial_ends_at=item.expiry_time if free_trial else None,
            cancel_at_period_end=status in _RUNNING and not auto_renew,
            # Google gives no modification time; we always re-fetch, so the fetch time orders the states we see.
            observed_at=datetime.datetime.now(datetime.UTC),
            account_token=account.obfuscated_external_account_id if account else None,
            supersedes=resource.linked_purchase_token,
            needs_acknowledgement=resource.acknowledgement_state == "ACKNOWLEDGEMENT_STATE_PENDING",
        )

    async def acknowledge(self, purchase: StorePurchase) -> None:
        """Acknowledge a purchase; Google refunds purchases left unacknowledged for three days."""
        if not self.configured:
            raise errors.unconfigured()
        url = (
            f"{self._applications_url()}/purchases/subscriptions/{quote(purchase.product_id, safe='')}"
            f"/tokens/{quote(purchase.identity, safe='')}:acknowledge"
        )
        response = await self._call("POST", url, json={})
        if response.is_success:
            return
        log.warning("Google Play refused to acknowledge a purchase (HTTP %s)", response.status_code)
        raise errors.provider_refused()

    def _applications_url(self) -> str:
        base = self._google.androidpublisher_base.rstrip("/")
        return f"{base}/androidpublisher/v3/applications/{quote(self._google.package_name, safe='')}"

    async def _call(self, method: str, url: str, *, json: Any = None) -> httpx.Response:
        """One androidpublisher call with retries; on 401 the access token is refreshed and the call made once more."""
        token = await self._token.get()
        response = await self._send(method, url, token, json)
        if response.status_code == 401:
            token = await self._token.get(stale=token)
            response = await self._send(method, url, token, json)
        return response

    async def _send(self, method: str, url: str, token: str, json: Any) -> httpx.Response:
        async def attempt() -> httpx.Response:
            response = await self._http.request(
                method,
                url,
                json=json,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._outbound.timeout_seconds,
            )
            return raise_for_transient(response)

        return await call_with_retries(errors.PROVIDER, attempt, self._outbound)
