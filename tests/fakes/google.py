"""A loopback fake of the Google services our Google Play billing code calls, on one server and their real paths:

* POST /token - Google's OAuth 2.0 token endpoint for the service-account JWT-bearer grant (what `google-auth`'s
  `service_account.Credentials.refresh` sends).
* /androidpublisher/v3/... - `purchases.subscriptionsv2.get` and `purchases.subscriptions.acknowledge`, answering
  in Google's JSON formats and error envelopes, with failure injection.
* GET /oauth2/v1/certs - Google's OIDC signing certificates ({kid: PEM X.509 certificate}), against which the
  ID tokens of Sign in with Google (`signin_token`; claims as in
  https://developers.google.com/identity/gsi/web/guides/verify-google-id-token) and the ID tokens Pub/Sub puts on
  push requests (`pubsub_token`) verify; plus builders for Pub/Sub's push envelope and Play's real-time developer
  notifications.

Everything is real crypto (RSA-2048, RS256), so the official `google-auth` verifies and signs against it unchanged:

    with fake_google(package_name="app.cookcam.android") as google:
        credentials = service_account.Credentials.from_service_account_info(google.service_account_info(), ...)
"""

from __future__ import annotations

import base64
import calendar
import dataclasses
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from enum import IntEnum
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.fakes.loopback import QuietHandler, Stall, Traffic, serving

ANDROIDPUBLISHER_SCOPE = "https://www.googleapis.com/auth/androidpublisher"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always signs its assertion for Google's canonical token endpoint, whatever the key file's token_uri
# says, so the fake accepts that audience as well as its own /token URL.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SERVICE_ACCOUNT_EMAIL = "billing@cookcam-test.iam.gserviceaccount.com"
PUBSUB_PUSH_EMAIL = "pubsub-push@cookcam-test.iam.gserviceaccount.com"
PUSH_SUBSCRIPTION = "projects/cookcam-test/subscriptions/rtdn"
PROJECT_ID = "cookcam-test"
ACCESS_TOKEN_LIFETIME = 3600  # seconds, as Google's token endpoint answers
CLOCK_SKEW = 30  # seconds of leeway when checking an assertion's iat/exp

SUBSCRIPTION_STATES = frozenset(
    {
        "SUBSCRIPTION_STATE_PENDING",
        "SUBSCRIPTION_STATE_ACTIVE",
        "SUBSCRIPTION_STATE_PAUSED",
        "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
        "SUBSCRIPTION_STATE_ON_HOLD",
        "SUBSCRIPTION_STATE_CANCELED",
        "SUBSCRIPTION_STATE_EXPIRED",
        "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED",
    }
)

Cancellation = Literal["user", "system", "developer", "replacement"]
_CANCELLATION_CONTEXT = {
    "system": "systemInitiatedCancellation",
    "developer": "developerInitiatedCancellation",
    "replacement": "replacementCancellation",
}


class NotificationType(IntEnum):
    """SubscriptionNotification.notificationType values of Play's real-time developer notifications."""

    RECOVERED = 1
    RENEWED = 2
    CANCELED = 3
    PURCHASED = 4
    ON_HOLD = 5
    IN_GRACE_PERIOD = 6
    RESTARTED = 7
    PRICE_CHANGE_CONFIRMED = 8  # deprecated by Google
    DEFERRED = 9
    PAUSED = 10
    PAUSE_SCHEDULE_CHANGED = 11
    REVOKED = 12
    EXPIRED = 13
    PRICE_CHANGE_UPDATED = 19
    PENDING_PURCHASE_CANCELED = 20


def rfc3339(moment: datetime) -> str:
    """Google's timestamp format: UTC, millisecond precision, `Z` suffix ("2025-01-31T12:00:00.000Z")."""
    if moment.tzinfo is None:
        raise ValueError("use timezone-aware datetimes")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# Message and reason used when `fail_next` injects a status.
_INJECTED = {
    429: ("Quota exceeded for quota metric 'Queries' and limit 'Queries per minute'.", "rateLimitExceeded"),
    500: ("Internal error encountered.", "backendError"),
    503: ("The service is currently unavailable.", "backendError"),
}
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
_SUBSCRIPTIONS_V2 = re.compile(r"^/androidpublisher/v3/applications/([^/]+)/purchases/subscriptionsv2/tokens/([^/]+)$")
_ACKNOWLEDGE = re.compile(
    r"^/androidpublisher/v3/applications/([^/]+)/purchases/subscriptions/([^/]+)/tokens/([^/:]+):acknowledge$"
)


def google_error(code: int, message: str, reason: str, domain: str = "global") -> dict[str, Any]:
    """Google's JSON error envelope (the `errors` list is the legacy part androidpublisher still sends)."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    status = _RPC_STATUS.get(code)
    if status:  # HTTP codes without a google.rpc.Code equivalent (410) carry no status
        error["status"] = status
    return {"error": error}


def _digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def _order_id() -> str:
    return f"GPA.{_digits(4)}-{_digits(4)}-{_digits(4)}-{_digits(5)}"


def billing_period_end(start: datetime, product_id: str) -> datetime:
    """One billing period after `start` for our products (base plans P1M and P1Y, by the product id's suffix): the
    same day of a later month, or that month's last day when it is shorter."""
    months = 12 if product_id.endswith("yearly") else 1
    year, month = divmod(start.year * 12 + start.month - 1 + months, 12)
    return start.replace(year=year, month=month + 1, day=min(start.day, calendar.monthrange(year, month + 1)[1]))


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _self_signed_certificate(key: rsa.RSAPrivateKey) -> str:
    """A PEM certificate wrapping `key`'s public half, like the ones Google publishes for its OIDC keys."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "federated-signon.system.gserviceaccount.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=14))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class PlaySubscription:
    """The fake's record of one purchase token; `resource()` renders it as a SubscriptionPurchaseV2."""

    token: str
    package_name: str
    product_id: str = "com.cookcam.pro.monthly"
    state: str = "SUBSCRIPTION_STATE_ACTIVE"
    expiry: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(days=30))
    acknowledged: bool = False
    linked_purchase_token: str | None = None
    obfuscated_account_id: str | None = None
    test_purchase: bool = False
    free_trial: bool = False  # offerPhase is freeTrial rather than basePrice
    auto_renew: bool = True  # rendered false while CANCELED, whatever is stored
    start_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    order_id: str = field(default_factory=_order_id)  # the first order's id; renewals append "..N"
    renewals: int = 0  # orders since the first (`renew`)
    base_plan_id: str | None = None  # defaults to the product id's last segment ("monthly")
    offer_id: str | None = None  # defaults to "free-trial" for free-trial purchases
    region_code: str = "US"
    cancellation: Cancellation | None = None  # who canceled; "user" when CANCELED and unset
    canceled_at: datetime | None = None  # defaults to the moment the record became CANCELED
    gone: bool = False  # expired too long ago: Google answers 410 instead of the resource

    def __post_init__(self) -> None:
        if self.state not in SUBSCRIPTION_STATES:
            raise ValueError(f"unknown subscriptionState {self.state!r}")
        for moment in (self.expiry, self.start_time, self.canceled_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("use timezone-aware datetimes")
        if self.base_plan_id is None:
            self.base_plan_id = self.product_id.rsplit(".", 1)[-1]
        if self.free_trial and self.offer_id is None:
            self.offer_id = "free-trial"
        if self.state == "SUBSCRIPTION_STATE_CANCELED" and self.canceled_at is None:
            self.canceled_at = datetime.now(UTC)

    @property
    def latest_order_id(self) -> str:
        """The latest successful order: "GPA.1234-5678-9012-34567" (base order number), then "..0" for the first
        recurrence, "..1" for the second... (Google Play's subscription order numbers)."""
        return self.order_id if self.renewals == 0 else f"{self.order_id}..{self.renewals - 1}"

    def resource(self) -> dict[str, Any]:
        canceled = self.state == "SUBSCRIPTION_STATE_CANCELED"
        offer: dict[str, Any] = {"basePlanId": self.base_plan_id, "offerTags": []}
        if self.offer_id:
            offer["offerId"] = self.offer_id
        line_item = {
            "productId": self.product_id,
            "expiryTime": rfc3339(self.expiry),
            "autoRenewingPlan": {"autoRenewEnabled": self.auto_renew and not canceled},
            "offerDetails": offer,
            "offerPhase": {"freeTrial": {}} if self.free_trial else {"basePrice": {}},
            "latestSuccessfulOrderId": self.latest_order_id,
        }
        resource: dict[str, Any] = {
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "regionCode": self.region_code,
            "startTime": rfc3339(self.start_time),
            "subscriptionState": self.state,
            "latestOrderId": self.latest_order_id,
            "acknowledgementState": (
                "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED" if self.acknowledged else "ACKNOWLEDGEMENT_STATE_PENDING"
            ),
            "lineItems": [line_item],
        }
        if self.linked_purchase_token:
            resource["linkedPurchaseToken"] = self.linked_purchase_token
        if self.obfuscated_account_id:
            resource["externalAccountIdentifiers"] = {"obfuscatedExternalAccountId": self.obfuscated_account_id}
        if self.test_purchase:
            resource["testPurchase"] = {}
        cancellation = self.cancellation or ("user" if canceled else None)
        if cancellation and self.state in ("SUBSCRIPTION_STATE_CANCELED", "SUBSCRIPTION_STATE_EXPIRED"):
            if cancellation == "user":
                when = self.canceled_at or self.start_time
                resource["canceledStateContext"] = {"userInitiatedCancellation": {"cancelTime": rfc3339(when)}}
            else:
                resource["canceledStateContext"] = {_CANCELLATION_CONTEXT[cancellation]: {}}
        return resource


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, json.dumps(payload).encode(), {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
    )


class FakeGoogle:
    """State and behaviour of the fake; `fake_google()` serves it and sets `base_url`."""

    def __init__(self, package_name: str = "app.cookcam.android") -> None:
        self.package_name = package_name
        self.base_url = ""  # set while served
        self.tokens_issued = 0
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.acknowledgements: Counter[str] = Counter()  # purchase token -> acknowledge calls that succeeded
        self.subscriptions: dict[str, PlaySubscription] = {}
        self._access_tokens: dict[str, float] = {}  # issued access token -> expiry (epoch seconds)
        self._failures: list[tuple[int, int | None]] = []  # queued (status, retry_after) for androidpublisher
        self._lock = threading.Lock()
        self.stall = Stall()  # stall.start() holds every request until stall.release()
        self.traffic = Traffic()  # latency per request, requests in flight
        # The service account's key (signs the JWT-bearer assertions) and its identifiers.
        self._service_account_key = _rsa_key()
        self.private_key_id = secrets.token_hex(20)
        self.client_id = "1" + _digits(20)
        # Google's OIDC signing key (signs Pub/Sub push ID tokens) and an unrelated key for forgeries.
        self._oidc_key = _rsa_key()
        self._stranger_key = _rsa_key()
        self.oidc_kid = secrets.token_hex(20)
        self._oidc_certificate = _self_signed_certificate(self._oidc_key)
        self.pubsub_subject = "1" + _digits(20)  # the push service account's unique id (sub, azp)

    # -- URLs and the service-account key file -------------------------------------------------------------------

    @property
    def token_uri(self) -> str:
        return f"{self._served_url()}/token"

    @property
    def certs_url(self) -> str:
        return f"{self._served_url()}/oauth2/v1/certs"

    def _served_url(self) -> str:
        if not self.base_url:
            raise RuntimeError("the fake is not being served; use `with fake_google() as google:`")
        return self.base_url

    def service_account_info(self) -> dict[str, str]:
        """The service account's key in Google's JSON key-file format, with token_uri pointing at the fake."""
        private_key = self._service_account_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": self.private_key_id,
            "private_key": private_key,
            "client_email": SERVICE_ACCOUNT_EMAIL,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": (
                "https://www.googleapis.com/robot/v1/metadata/x509/" + SERVICE_ACCOUNT_EMAIL.replace("@", "%40")
            ),
            "universe_domain": "googleapis.com",
        }

    def write_service_account(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.service_account_info(), indent=2))
        return path

    # -- Play state helpers ----------------------------------------------------------------------------------------

    def add_subscription(
        self,
        token: str,
        *,
        product_id: str = "com.cookcam.pro.monthly",
        state: str = "SUBSCRIPTION_STATE_ACTIVE",
        expiry: datetime | None = None,
        acknowledged: bool = False,
        linked_purchase_token: str | None = None,
        obfuscated_account_id: str | None = None,
        test_purchase: bool = False,
        free_trial: bool = False,
        auto_renew: bool = True,
    ) -> dict[str, Any]:
        """Register a purchase token; returns the SubscriptionPurchaseV2 the API will answer for it."""
        subscription = PlaySubscription(
            token=token,
            package_name=self.package_name,
            product_id=product_id,
            state=state,
            expiry=expiry or billing_period_end(datetime.now(UTC), product_id),
            acknowledged=acknowledged,
            linked_purchase_token=linked_purchase_token,
            obfuscated_account_id=obfuscated_account_id,
            test_purchase=test_purchase,
            free_trial=free_trial,
            auto_renew=auto_renew,
        )
        with self._lock:
            self.subscriptions[token] = subscription
        return subscription.resource()

    def update_subscription(self, token: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a token's `PlaySubscription` (state=, expiry=, renewals=, gone=True, ...)."""
        with self._lock:
            subscription = dataclasses.replace(self.subscriptions[token], **changes)
            self.subscriptions[token] = subscription
        return subscription.resource()

    def renew(self, token: str) -> dict[str, Any]:
        """A renewal as Play records one: a new order (the next "..N" order id, now the line item's
        `latestSuccessfulOrderId` and the `latestOrderId`), `expiryTime` one billing period later, the free trial (if
        any) over, the state ACTIVE; `startTime` (when the subscription was granted) does not change."""
        with self._lock:
            current = self.subscriptions[token]
            renewed = dataclasses.replace(
                current,
                state="SUBSCRIPTION_STATE_ACTIVE",
                expiry=billing_period_end(current.expiry, current.product_id),
                renewals=current.renewals + 1,
                free_trial=False,
            )
            self.subscriptions[token] = renewed
        return renewed.resource()

    def fail_next(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `times` androidpublisher requests with `status` (and a Retry-After header if given)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def reset(self) -> None:
        """Forget subscriptions, issued tokens, queued failures and records: lets one served fake (whose shutdown
        costs ~0.5 s) be shared by a module's tests."""
        with self._lock:
            self.subscriptions.clear()
            self.requests.clear()
            self.acknowledgements.clear()
            self._access_tokens.clear()
            self._failures.clear()
            self.tokens_issued = 0

    def revoke_tokens(self) -> None:
        """Forget every issued access token, as if they had expired: the API answers 401 until a new one is used."""
        with self._lock:
            self._access_tokens.clear()

    # -- Pub/Sub push and real-time developer notifications ------------------------------------------------------

    def pubsub_token(
        self,
        *,
        audience: str,
        email: str = PUBSUB_PUSH_EMAIL,
        email_verified: bool = True,
        issuer: str = "https://accounts.google.com",
        expires_in: int = 3600,
        signer: Literal["google", "stranger"] = "google",
    ) -> str:
        """An RS256 ID token like the one Pub/Sub sends as `Authorization: Bearer` on push requests.

        "stranger" signs with a key Google never published (same kid in the header), for forgery tests; a negative
        `expires_in` gives an expired token."""
        now = int(time.time())
        expires = now + expires_in
        claims = {
            "aud": audience,
            "azp": self.pubsub_subject,
            "email": email,
            "email_verified": email_verified,
            "exp": expires,
            "iat": min(now, expires - 3600),  # Google's ID tokens live one hour
            "iss": issuer,
            "sub": self.pubsub_subject,
        }
        key = self._oidc_key if signer == "google" else self._stranger_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.oidc_kid})

    def signin_token(
        self,
        *,
        audience: str,
        subject: str,
        email: str | None = None,
        email_verified: bool | str = True,
        name: str | None = None,
        issuer: str = "https://accounts.google.com",
        expires_in: int = 3600,
        signer: Literal["google", "stranger"] = "google",
        **extra: Any,
    ) -> str:
        """An ID token like the one Google Sign-In hands the app (claims as documented in "Authenticate with a
        backend server": iss, azp, aud, sub, email, email_verified, name, iat, exp), RS256 with the key whose
        certificate this fake serves. "stranger" signs with an unpublished key under the same kid."""
        now = int(time.time())
        expires = now + expires_in
        claims: dict[str, Any] = {
            "iss": issuer,
            "azp": audience,
            "aud": audience,
            "sub": subject,
            "iat": min(now, expires - 3600),
            "exp": expires,
        }
        if email is not None:
            claims |= {"email": email, "email_verified": email_verified}
        if name is not None:
            claims["name"] = name
        claims |= extra
        key = self._oidc_key if signer == "google" else self._stranger_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.oidc_kid})

    def certs_fetches(self) -> int:
        return self.requests.count(("GET", "/oauth2/v1/certs"))

    def push_body(
        self, notification: dict[str, Any], *, message_id: str | None = None, subscription: str = PUSH_SUBSCRIPTION
    ) -> dict[str, Any]:
        """Pub/Sub's push request body carrying `notification` (JSON, base64) as the message data."""
        message_id = message_id or _digits(16)
        published = rfc3339(datetime.now(UTC))
        message = {
            "attributes": {},
            "data": base64.b64encode(json.dumps(notification).encode()).decode(),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        }
        return {"message": message, "subscription": subscription}

    def subscription_notification(
        self,
        token: str,
        notification_type: int,
        *,
        subscription_id: str = "com.cookcam.pro.monthly",
        package_name: str | None = None,
        event_time_ms: int | None = None,
    ) -> dict[str, Any]:
        """A DeveloperNotification about a subscription (eventTimeMillis is a string, as Play sends it): the time of
        the change it announces, now unless given (Pub/Sub may deliver notifications late and out of order)."""
        return {
            "version": "1.0",
            "packageName": package_name or self.package_name,
            "eventTimeMillis": str(event_time_ms if event_time_ms is not None else int(time.time() * 1000)),
            "subscriptionNotification": {
                "version": "1.0",
                "notificationType": int(notification_type),
                "purchaseToken": token,
                "subscriptionId": subscription_id,
            },
        }

    def voided_purchase_notification(
        self,
        token: str,
        order_id: str,
        *,
        product_type: int = 1,
        refund_type: int = 1,
        event_time_ms: int | None = None,
    ) -> dict[str, Any]:
        """A DeveloperNotification of a voided purchase (refunded, charged back), as the RTDN reference documents
        `voidedPurchaseNotification`: purchaseToken, orderId (for a subscription, the voided renewal's own order),
        productType (1 subscription, 2 one-time) and refundType (1 full, 2 quantity-based partial)."""
        return {
            "version": "1.0",
            "packageName": self.package_name,
            "eventTimeMillis": str(event_time_ms if event_time_ms is not None else int(time.time() * 1000)),
            "voidedPurchaseNotification": {
                "purchaseToken": token,
                "orderId": order_id,
                "productType": product_type,
                "refundType": refund_type,
            },
        }

    def test_notification(self) -> dict[str, Any]:
        """The DeveloperNotification Play Console's "Send test notification" publishes."""
        return {
            "version": "1.0",
            "packageName": self.package_name,
            "eventTimeMillis": str(int(time.time() * 1000)),
            "testNotification": {"version": "1.0"},
        }

    # -- HTTP ------------------------------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        path = unquote(urlsplit(raw_path).path)
        with self._lock:
            self.requests.append((method, path))
            if (method, path) == ("POST", "/token"):
                return self._grant(dict(parse_qsl(body.decode())))
            if (method, path) == ("GET", "/oauth2/v1/certs"):
                return self._certs()
            if path.startswith("/androidpublisher/"):
                return self._androidpublisher(method, path, headers)
            return _json(404, google_error(404, f"The requested URL {path} was not found on this server.", "notFound"))

    def _grant(self, form: dict[str, str]) -> Reply:
        """The JWT-bearer grant: check the assertion as Google does, then issue an access token."""

        def refuse(description: str, error: str = "invalid_grant") -> Reply:
            return _json(400, {"error": error, "error_description": description})

        if form.get("grant_type") != JWT_BEARER_GRANT:
            return refuse(f"Invalid grant_type: {form.get('grant_type', '')}", "unsupported_grant_type")
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return refuse("Invalid JWT: malformed assertion.")
        if unverified.get("iss") != SERVICE_ACCOUNT_EMAIL:
            return refuse("Invalid grant: account not found")
        if header.get("kid", self.private_key_id) != self.private_key_id:
            return refuse("Invalid JWT Signature.")
        try:
            claims = jwt.decode(
                assertion,
                self._service_account_key.public_key(),
                algorithms=["RS256"],
                audience=[self.token_uri, GOOGLE_TOKEN_AUDIENCE],
                options={"require": ["iss", "aud", "iat", "exp"]},
                leeway=CLOCK_SKEW,
            )
        except jwt.InvalidSignatureError:
            return refuse("Invalid JWT Signature.")
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            return refuse(_SHORT_LIVED)
        except jwt.InvalidAudienceError:
            return refuse(f"Invalid JWT: Failed audience check. The right audience is {self.token_uri}")
        except jwt.PyJWTError as exc:
            return refuse(f"Invalid JWT: {exc}")
        if claims["exp"] - claims["iat"] > ACCESS_TOKEN_LIFETIME:
            return refuse(_SHORT_LIVED)
        if ANDROIDPUBLISHER_SCOPE not in str(claims.get("scope", "")).split():
            return refuse("Invalid OAuth scope or ID token audience provided.", "invalid_scope")
        access_token = f"ya29.{secrets.token_urlsafe(48)}"
        self._access_tokens[access_token] = time.time() + ACCESS_TOKEN_LIFETIME
        self.tokens_issued += 1
        return _json(
            200,
            {"access_token": access_token, "expires_in": ACCESS_TOKEN_LIFETIME, "token_type": "Bearer"},
            {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"},
        )

    def _certs(self) -> Reply:
        max_age = 21600
        return _json(
            200,
            {self.oidc_kid: self._oidc_certificate},
            {
                "Cache-Control": f"public, max-age={max_age}, must-revalidate, no-transform",
                "Expires": formatdate(time.time() + max_age, usegmt=True),
            },
        )

    def _androidpublisher(self, method: str, path: str, headers: dict[str, str]) -> Reply:
        if self._failures:
            status, retry_after = self._failures.pop(0)
            message, reason = _INJECTED.get(status, (HTTPStatus(status).phrase, "backendError"))
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return _json(status, google_error(status, message, reason), extra)
        unauthenticated = self._check_bearer(headers.get("authorization", ""))
        if unauthenticated:
            return unauthenticated
        if method == "GET" and (match := _SUBSCRIPTIONS_V2.match(path)):
            package, token = match.groups()
            found = self._find(package, token)
            return found if isinstance(found, Reply) else _json(200, found.resource())
        if method == "POST" and (match := _ACKNOWLEDGE.match(path)):
            package, subscription_id, token = match.groups()
            found = self._find(package, token, subscription_id)
            if isinstance(found, Reply):
                return found
            self.subscriptions[token] = dataclasses.replace(found, acknowledged=True)
            self.acknowledgements[token] += 1
            return Reply(200)  # Google answers an empty body
        return _json(404, google_error(404, f"The requested URL {path} was not found on this server.", "notFound"))

    def _check_bearer(self, authorization: str) -> Reply | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            message = (
                "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential."
            )
            reason = "required"
        elif self._access_tokens.get(token, 0) > time.time():
            return None
        else:
            message = (
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential."
            )
            reason = "authError"
        challenge = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
        return _json(401, google_error(401, message, reason), challenge)

    def _find(self, package: str, token: str, subscription_id: str | None = None) -> PlaySubscription | Reply:
        """The token's record, or Google's error: 404 for another package or an unknown token, 410 once gone."""
        if package != self.package_name:
            message = "No application was found for the given package name."
            return _json(404, google_error(404, message, "applicationNotFound", "androidpublisher"))
        subscription = self.subscriptions.get(token)
        if subscription is None or subscription_id not in (None, subscription.product_id):
            message = "The purchase token was not found."
            return _json(404, google_error(404, message, "purchaseTokenNotFound", "androidpublisher"))
        if subscription.gone:
            message = (
                "The subscription purchase is no longer available for query because it has been expired for too long."
            )
            return _json(410, google_error(410, message, "subscriptionPurchaseNoLongerAvailable", "androidpublisher"))
        return subscription


@contextmanager
def fake_google(package_name: str = "app.cookcam.android") -> Iterator[FakeGoogle]:
    """Serve a fresh `FakeGoogle` on a loopback port for the `with` block; `google.base_url` is its address."""
    google = FakeGoogle(package_name)

    class Handler(QuietHandler):
        def _answer(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            google.stall.hold()
            with google.traffic.request():
                answer = google.handle(self.command, self.path, headers, self.body())
            extra = {k: v for k, v in answer.headers.items() if k.lower() != "content-type"}
            self.reply(answer.status, answer.body, answer.headers.get("Content-Type", "application/json"), extra)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

    with serving(Handler) as base_url:
        google.base_url = base_url
        try:
            yield google
        finally:
            google.base_url = ""
