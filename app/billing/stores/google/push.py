"""Google Play real-time developer notifications (RTDN): Pub/Sub's push envelope decoded, and the push request's
OIDC ID token verified against Google's certificates (cached for their max-age)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import google.auth.jwt
import httpx
import msgspec

from app.billing.stores.google import errors
from app.billing.stores.purchase import from_millis
from app.core.errors import BadRequest
from app.core.retry import call_with_retries, raise_for_transient
from app.settings import GoogleSettings, OutboundSettings

log = logging.getLogger("cookcam.billing.google")

OIDC_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
DEFAULT_CERTS_MAX_AGE_SECONDS = 300.0
# An unknown kid may mean Google rotated its keys: refetch the certificates, but at most this often, so forged
# tokens with made-up kids cannot make every push request call Google.
CERTS_REFETCH_COOLDOWN_SECONDS = 30.0
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)

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


class PushAuthenticator:
    """Checks that a push request comes from our Pub/Sub subscription. The HTTP client belongs to the caller."""

    def __init__(self, google: GoogleSettings, outbound: OutboundSettings, http: httpx.AsyncClient) -> None:
        self._google = google
        self._outbound = outbound
        self._http = http
        self._certs: dict[str, str] = {}
        self._certs_expire_at = 0.0  # time.monotonic()
        self._certs_refetched_at: float | None = None  # last refetch forced by an unknown kid
        self._certs_lock = asyncio.Lock()

    async def verify(self, authorization: str | None) -> None:
        """Require the OIDC ID token Pub/Sub signs for our push subscription's service account and audience."""
        audience = self._google.rtdn_audience
        email = self._google.rtdn_service_account_email
        if not audience or not email:
            raise errors.unconfigured()
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise errors.push_unauthenticated()
        try:
            kid = google.auth.jwt.decode_header(token).get("kid")  # type: ignore[no-untyped-call]
        except Exception:  # a malformed token raises whatever its parsing hits
            raise errors.push_unauthenticated() from None
        certs = await self._oidc_certs(kid)
        try:
            claims: Mapping[str, Any] = google.auth.jwt.decode(  # type: ignore[no-untyped-call]
                token, certs=certs, audience=audience
            )
        except Exception:  # signature, expiry, audience and format failures alike; their detail stays out of logs
            raise errors.push_unauthenticated() from None
        if (
            claims.get("iss") not in OIDC_ISSUERS
            or claims.get("email") != email
            or claims.get("email_verified") not in (True, "true")
        ):
            raise errors.push_unauthenticated()

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
            raise errors.unavailable() from None
        self._certs = certs
        self._certs_expire_at = time.monotonic() + _max_age(response.headers.get("cache-control"))


def _max_age(cache_control: str | None) -> float:
    match = _MAX_AGE.search(cache_control or "")
    return float(match.group(1)) if match else DEFAULT_CERTS_MAX_AGE_SECONDS
