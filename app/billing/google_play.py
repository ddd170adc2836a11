"""Google Play: subscription purchases read from the Play Developer API (androidpublisher v3,
`purchases.subscriptionsv2.get`) with a service account, acknowledged through `purchases.subscriptions.acknowledge`,
and real-time developer notifications (RTDN) received as authenticated Pub/Sub pushes.

A purchase token is only ever trusted through Google's answer for it: notifications and clients merely say which
token to re-fetch. Every androidpublisher call goes through `call_with_retries` (transient failures retried, then
503), and a 401 refreshes the access token once, since Google may revoke a token before its stated expiry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import functools
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import google.auth.exceptions
import google.auth.jwt
import google.auth.transport.requests
import httpx
import msgspec
from google.oauth2 import service_account

from app.billing.products import parse_products, tier_of
from app.billing.schemas import Status
from app.billing.store_purchase import StoreEnvironment, StorePurchase, from_millis, mapped_product
from app.billing.stripe_api import PaymentProviderError
from app.core.errors import BadRequest, ServiceUnavailable, Unauthorized, Unprocessable
from app.core.retry import call_with_retries, raise_for_transient
from app.settings import Settings

log = logging.getLogger("cookcam.billing.google")

ANDROIDPUBLISHER_SCOPE = "https://www.googleapis.com/auth/androidpublisher"
PROVIDER = "Google Play"
OIDC_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
DEFAULT_CERTS_MAX_AGE_SECONDS = 300.0
# An unknown kid may mean Google rotated its keys: refetch the certificates, but at most this often, so forged
# tokens with made-up kids cannot make every push request call Google.
CERTS_REFETCH_COOLDOWN_SECONDS = 30.0
MAX_PURCHASE_TOKEN_LENGTH = 4096
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)

# subscriptionState -> our status. CANCELED keeps access until expiry (our "cancelled" grants until the period
# ends); ON_HOLD is Google's account hold after grace, i.e. payment being retried without access; PENDING is a
# purchase not paid yet (slow payment methods) and grants nothing; PENDING_PURCHASE_CANCELED never was paid.
# Any state Google adds later maps to "expired" (grants nothing) until we decide otherwise.
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
UNKNOWN_STATE_STATUS: Status = "expired"
# Statuses in which the subscription still runs to the end of its period (and may or may not renew then).
_RUNNING: frozenset[Status] = frozenset({"trialing", "active", "grace_period", "cancelled"})

# SubscriptionNotification.notificationType -> name, for event types such as "subscription.RENEWED".
NOTIFICATION_TYPES: dict[int, str] = {
    1: "RECOVERED",
    2: "RENEWED",
    3: "CANCELED",
    4: "PURCHASED",
    5: "ON_HOLD",
    6: "IN_GRACE_PERIOD",
    7: "RESTARTED",
    8: "PRICE_CHANGE_CONFIRMED",
    9: "DEFERRED",
    10: "PAUSED",
    11: "PAUSE_SCHEDULE_CHANGED",
    12: "REVOKED",
    13: "EXPIRED",
    19: "PRICE_CHANGE_UPDATED",
    20: "PENDING_PURCHASE_CANCELED",
}


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
    auto_renewing_plan: _AutoRenewingPlan | None = None  # absent for prepaid plans, which never renew
    offer_phase: _OfferPhase | None = None


class _ExternalAccountIdentifiers(msgspec.Struct, rename="camel"):
    obfuscated_external_account_id: str | None = None


class _SubscriptionPurchaseV2(msgspec.Struct, rename="camel"):
    subscription_state: str = "SUBSCRIPTION_STATE_UNSPECIFIED"
    line_items: list[_LineItem] = msgspec.field(default_factory=list)
    start_time: datetime.datetime | None = None
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


# -- Pub/Sub push and real-time developer notifications --------------------------------------------------------------


class SubscriptionNotification(msgspec.Struct, frozen=True, rename="camel"):
    notification_type: int
    purchase_token: str
    subscription_id: str = ""
    version: str | None = None


class TestNotification(msgspec.Struct, frozen=True):
    version: str | None = None


class VoidedPurchaseNotification(msgspec.Struct, frozen=True, rename="camel"):
    purchase_token: str
    order_id: str | None = None
    product_type: int | None = None  # 1 subscription, 2 one-time product
    refund_type: int | None = None  # 1 full refund, 2 quantity-based partial refund


class DeveloperNotification(msgspec.Struct, frozen=True, rename="camel"):
    package_name: str
    # Play sends a string of milliseconds; accept a number too.
    event_time_millis: int | str | None = None
    version: str | None = None
    subscription_notification: SubscriptionNotification | None = None
    test_notification: TestNotification | None = None
    voided_purchase_notification: VoidedPurchaseNotification | None = None

    @property
    def event_time(self) -> datetime.datetime | None:
        return from_millis(self.event_time_millis)

    @property
    def event_type(self) -> str:
        """A stable name for the event log: "subscription.RENEWED", "test", "voided_purchase" or "other"."""
        if self.subscription_notification is not None:
            kind = self.subscription_notification.notification_type
            return f"subscription.{NOTIFICATION_TYPES.get(kind, f'TYPE_{kind}')}"
        if self.test_notification is not None:
            return "test"
        if self.voided_purchase_notification is not None:
            return "voided_purchase"
        return "other"  # one-time product notifications and whatever Google adds


class PushMessage(msgspec.Struct, frozen=True, kw_only=True):
    # Pub/Sub's id of the message: redeliveries repeat it, so it deduplicates.
    message_id: str
    subscription: str | None = None
    publish_time: datetime.datetime | None = None
    notification: DeveloperNotification


class _PubSubMessage(msgspec.Struct):
    data: str = ""
    message_id_camel: str | None = msgspec.field(default=None, name="messageId")
    message_id: str | None = None
    publish_time_camel: datetime.datetime | None = msgspec.field(default=None, name="publishTime")
    publish_time: datetime.datetime | None = None


class _PushEnvelope(msgspec.Struct):
    message: _PubSubMessage
    subscription: str | None = None


def decode_push(body: bytes) -> PushMessage:
    """Pub/Sub's push envelope with its base64 DeveloperNotification decoded; anything else is PUSH_INVALID.

    The caller still checks `notification.package_name` against ours (this function knows no settings)."""
    try:
        envelope = msgspec.json.decode(body, type=_PushEnvelope)
        message = envelope.message
        message_id = message.message_id_camel or message.message_id
        if not message_id:
            raise ValueError("no message id")
        data = base64.b64decode(message.data, validate=True)
        notification = msgspec.json.decode(data, type=DeveloperNotification)
    except (msgspec.DecodeError, binascii.Error, ValueError):
        raise BadRequest("PUSH_INVALID", "The push request is not a Play developer notification.") from None
    return PushMessage(
        message_id=message_id,
        subscription=envelope.subscription,
        publish_time=message.publish_time_camel or message.publish_time,
        notification=notification,
    )


# -- The client ------------------------------------------------------------------------------------------------------


class GooglePlay:
    """The Play Developer API client of one worker; `configured` is false until GOOGLE_SERVICE_ACCOUNT_FILE is set.

    The HTTP client belongs to the caller, so there is nothing to close."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._google = settings.google
        self._outbound = settings.outbound
        self._http = http
        self._products = parse_products(settings.billing.products)
        self._credentials: service_account.Credentials | None = None
        self._access_token: str | None = None
        # One refresh at a time: concurrent requests that find the token stale wait for it instead of each asking.
        self._token_lock = asyncio.Lock()
        self._certs: dict[str, str] = {}
        self._certs_expire_at = 0.0  # time.monotonic()
        self._certs_refetched_at: float | None = None  # last refetch forced by an unknown kid
        self._certs_lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return bool(self._google.service_account_file)

    # -- Purchases -----------------------------------------------------------------------------------------------

    async def fetch(self, purchase_token: str) -> StorePurchase:
        """Google's current state of a subscription purchase, mapped onto ours."""
        if not self.configured:
            raise _unconfigured()
        if not purchase_token or len(purchase_token) > MAX_PURCHASE_TOKEN_LENGTH:
            raise _token_invalid()
        url = f"{self._applications_url()}/purchases/subscriptionsv2/tokens/{quote(purchase_token, safe='')}"
        response = await self._call("GET", url)
        if response.status_code in (400, 404, 410):
            if "applicationNotFound" in _error_reasons(response):
                # Our GOOGLE_PACKAGE_NAME is wrong (or the service account cannot see the app), not the token.
                log.error("Google Play does not know package %s", self._google.package_name)
                raise _provider_refused()
            raise _token_invalid()
        if response.status_code in (401, 403):
            log.error("Google Play refused our credentials (HTTP %s) reading a purchase", response.status_code)
            raise _provider_refused()
        if response.status_code != 200:
            log.warning("Google Play answered HTTP %s reading a purchase", response.status_code)
            raise _provider_refused()
        try:
            resource = msgspec.json.decode(response.content, type=_SubscriptionPurchaseV2)
        except msgspec.DecodeError:
            log.error("Google Play answered a subscription purchase we cannot read")
            raise _provider_refused() from None
        return self._purchase(purchase_token, resource)

    def _purchase(self, purchase_token: str, resource: _SubscriptionPurchaseV2) -> StorePurchase:
        if not resource.line_items:
            raise _token_invalid()
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
            # startTime is when the subscription began, not the current period: an approximation that is exact in
            # the first period. Google reports no period start, and only the end decides access.
            current_period_start=resource.start_time,
            current_period_end=item.expiry_time,
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
            raise _unconfigured()
        url = (
            f"{self._applications_url()}/purchases/subscriptions/{quote(purchase.product_id, safe='')}"
            f"/tokens/{quote(purchase.identity, safe='')}:acknowledge"
        )
        response = await self._call("POST", url, json={})
        if response.is_success:
            return
        log.warning("Google Play refused to acknowledge a purchase (HTTP %s)", response.status_code)
        raise _provider_refused()

    def _applications_url(self) -> str:
        base = self._google.androidpublisher_base.rstrip("/")
        return f"{base}/androidpublisher/v3/applications/{quote(self._google.package_name, safe='')}"

    async def _call(self, method: str, url: str, *, json: Any = None) -> httpx.Response:
        """One androidpublisher call with retries; on 401 the access token is refreshed and the call made once more."""
        token = await self._token()
        response = await self._send(method, url, token, json)
        if response.status_code == 401:
            token = await self._token(stale=token)
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

        return await call_with_retries(PROVIDER, attempt, self._outbound)

    # -- The service account's access token ---------------------------------------------------------------------

    async def _token(self, *, stale: str | None = None) -> str:
        """A valid access token; `stale` is one Google just refused, refreshed unless someone already did."""
        credentials = self._credentials
        token = self._access_token
        if (
            token is not None
            and token != stale
            and credentials is not None
            and credentials.valid
            and not self._token_lock.locked()  # a refresh (in a thread, writing the credentials) is under way
        ):
            return token
        async with self._token_lock:
            credentials = await self._load_credentials()
            if self._access_token is None or self._access_token == stale or not credentials.valid:
                await self._refresh(credentials)
            assert self._access_token is not None
            return self._access_token

    async def _load_credentials(self) -> service_account.Credentials:
        if self._credentials is not None:
            return self._credentials
        path = self._google.service_account_file
        if not path:
            raise _unconfigured()
        try:
            credentials: service_account.Credentials = await asyncio.to_thread(
                service_account.Credentials.from_service_account_file,
                path,
                scopes=[ANDROIDPUBLISHER_SCOPE],
            )
        except (OSError, ValueError) as exc:
            log.error("cannot load the Google service account key file: %s", type(exc).__name__)
            raise _unconfigured() from None
        self._credentials = credentials
        return credentials

    async def _refresh(self, credentials: service_account.Credentials) -> None:
        # google-auth's refresh is blocking (requests); its default timeout is 120 s, so bound it by ours.
        request = functools.partial(google.auth.transport.requests.Request(), timeout=self._outbound.timeout_seconds)
        try:
            await asyncio.to_thread(credentials.refresh, request)
        except google.auth.exceptions.RefreshError as exc:
            if exc.retryable:
                log.warning("Google's token endpoint is unavailable")
                raise _unavailable() from None
            # The key is revoked or the account disabled: our configuration, not the user's purchase.
            log.error("Google refused our service account's token request")
            raise _provider_refused() from None
        except google.auth.exceptions.TransportError as exc:
            log.warning("Google's token endpoint is unreachable: %s", type(exc.__cause__ or exc).__name__)
            raise _unavailable() from None
        self._access_token = str(credentials.token)

    # -- Pub/Sub push authentication ------------------------------------------------------------------------------

    async def verify_push_token(self, authorization: str | None) -> None:
        """Require the OIDC ID token Pub/Sub signs for our push subscription's service account and audience."""
        audience = self._google.rtdn_audience
        email = self._google.rtdn_service_account_email
        if not audience or not email:
            raise _unconfigured()
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _push_unauthenticated()
        try:
            kid = google.auth.jwt.decode_header(token).get("kid")  # type: ignore[no-untyped-call]
        except Exception:  # a malformed token raises whatever its parsing hits
            raise _push_unauthenticated() from None
        certs = await self._oidc_certs(kid)
        try:
            claims: Mapping[str, Any] = google.auth.jwt.decode(  # type: ignore[no-untyped-call]
                token, certs=certs, audience=audience
            )
        except Exception:  # signature, expiry, audience and format failures alike; their detail stays out of logs
            raise _push_unauthenticated() from None
        if (
            claims.get("iss") not in OIDC_ISSUERS
            or claims.get("email") != email
            or claims.get("email_verified") not in (True, "true")
        ):
            raise _push_unauthenticated()

    async def _oidc_certs(self, kid: object) -> dict[str, str]:
        """Google's OIDC certificates, cached for the response's max-age; an unknown kid refetches them once."""
        async with self._certs_lock:
            now = time.monotonic()
            if now >= self._certs_expire_at:
                await self._fetch_certs()
            elif isinstance(kid, str) and kid not in self._certs and self._may_refetch(now):
                self._certs_refetched_at = now
                await self._fetch_certs()
            return self._certs

    def _may_refetch(self, now: float) -> bool:
        last = self._certs_refetched_at
        return last is None or now - last >= CERTS_REFETCH_COOLDOWN_SECONDS

    async def _fetch_certs(self) -> None:
        async def attempt() -> httpx.Response:
            response = await self._http.get(self._google.oidc_certs_url, timeout=self._outbound.timeout_seconds)
            return raise_for_transient(response)

        # Unavailable certificates are our problem, not the pusher's: 503 (Pub/Sub redelivers), not 401.
        response = await call_with_retries("Google OIDC certificates", attempt, self._outbound)
        try:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            certs = msgspec.json.decode(response.content, type=dict[str, str])
        except (msgspec.DecodeError, ValueError) as exc:
            log.error("cannot read Google's OIDC certificates: %s", exc)
            raise _unavailable() from None
        self._certs = certs
        self._certs_expire_at = time.monotonic() + _max_age(response.headers.get("cache-control"))


def _max_age(cache_control: str | None) -> float:
    match = _MAX_AGE.search(cache_control or "")
    return float(match.group(1)) if match else DEFAULT_CERTS_MAX_AGE_SECONDS


def _token_invalid() -> Unprocessable:
    return Unprocessable("PURCHASE_TOKEN_INVALID", "Google Play does not know this purchase.")


def _provider_refused() -> PaymentProviderError:
    return PaymentProviderError("PAYMENT_PROVIDER_ERROR", "Google Play refused the request.")


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("PAYMENT_PROVIDER_UNAVAILABLE", f"{PROVIDER} is unavailable; try again shortly.")


def _unconfigured() -> ServiceUnavailable:
    return ServiceUnavailable("GOOGLE_UNCONFIGURED", "Google Play billing is not configured on this server.")


def _push_unauthenticated() -> Unauthorized:
    return Unauthorized("PUSH_UNAUTHENTICATED", "The push request is not from our Pub/Sub subscription.")
