"""Test-only fakes of Apple's App Store services, speaking Apple's real wire formats so the official
`app-store-server-library` (and our code) can be pointed at them:

- `AppleSigner`: a throwaway Apple-like certificate chain (root -> intermediate -> leaf, with Apple's marker OIDs) that
  signs JWS transactions, renewal infos and V2 server notifications. Trust it with
  `SignedDataVerifier([signer.root_der], False, Environment.SANDBOX, bundle_id)`.
- `fake_verify_receipt()`: the legacy `/verifyReceipt` endpoint, one loopback server per environment.
- `fake_app_store_server_api()`: the App Store Server API's Get All Subscription Statuses endpoint, with Apple's
  JWT bearer authentication.

JWS payloads are camelCase with millisecond epoch ints and enums as raw values; verifyReceipt bodies are snake_case
with every number-like field a decimal string, as Apple sends them."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attr
import jwt
from appstoreserverlibrary.models.JWSRenewalInfoDecodedPayload import JWSRenewalInfoDecodedPayload
from appstoreserverlibrary.models.JWSTransactionDecodedPayload import JWSTransactionDecodedPayload
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.loopback import QuietHandler, Traffic, serving

BUNDLE_ID = "app.cookcam.ios"
PRODUCT_ID = "com.cookcam.pro.monthly"
SUBSCRIPTION_GROUP_ID = "21000001"
APP_APPLE_ID = 1234567890
DAY_MS = 86_400_000

# Marker extensions Apple's verifiers look for: on the WWDR intermediate and on the App Store receipt-signing leaf.
APPLE_INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
APPLE_LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
_DER_NULL = b"\x05\x00"

Environment = Literal["Production", "Sandbox"]

# Apple's transaction ids are decimal strings; one process-wide counter keeps them unique across signers and fakes.
_ids = itertools.count(2_000_000_900_000_001)


def new_id() -> str:
    """A fresh Apple-style numeric id (transactionId, webOrderLineItemId, ...)."""
    return str(next(_ids))


def now_ms() -> int:
    return int(time.time() * 1000)


def _apply(payload: dict[str, Any], overrides: dict[str, Any], model: type) -> dict[str, Any]:
    """Merge `overrides` into `payload`; a None value removes the key (Apple omits absent fields). Keys must be fields
    of the library's model, so a typo fails loudly instead of silently producing a payload Apple would never send."""
    known = set(attr.fields_dict(model))
    unknown = [key for key in overrides if key not in known or key.startswith("raw")]
    if unknown:
        raise TypeError(f"not a {model.__name__} field: {', '.join(unknown)}")
    for key, value in overrides.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CookCam Test Fakes"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Not Apple Inc."),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _certificate(
    *,
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
    marker: x509.ObjectIdentifier | None,
    backdate: dt.timedelta,
) -> x509.Certificate:
    """One certificate that satisfies OpenSSL's X509_STRICT checks (as the library runs them)."""
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer is not None:
        issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski)
        builder = builder.add_extension(aki, critical=False)
    if marker is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(marker, _DER_NULL), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class AppleSigner:
    """A fake App Store signing chain plus builders for the payloads Apple signs with it.

    `leaf_oid=False` / `intermediate_oid=False` build a chain missing Apple's marker extension (which verifiers must
    reject). The library checks the chain at the payload's `signedDate`, so certificates are valid from `backdate`
    ago (default one day) to a year ahead: backdate further to sign payloads with an older signedDate."""

    def __init__(
        self,
        *,
        leaf_oid: bool = True,
        intermediate_oid: bool = True,
        backdate: dt.timedelta = dt.timedelta(days=1),
    ) -> None:
        root_key = ec.generate_private_key(ec.SECP256R1())
        intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        root = _certificate(
            subject="Fake Apple Root CA - G3",
            key=root_key,
            issuer=None,
            issuer_key=root_key,
            ca=True,
            marker=None,
            backdate=backdate,
        )
        intermediate = _certificate(
            subject="Fake Apple Worldwide Developer Relations Certification Authority",
            key=intermediate_key,
            issuer=root,
            issuer_key=root_key,
            ca=True,
            marker=APPLE_INTERMEDIATE_OID if intermediate_oid else None,
            backdate=backdate,
        )
        leaf = _certificate(
            subject="Fake Prod ECC Mac App Store and iTunes Store Receipt Signing",
            key=self._leaf_key,
            issuer=intermediate,
            issuer_key=intermediate_key,
            ca=False,
            marker=APPLE_LEAF_OID if leaf_oid else None,
            backdate=backdate,
        )
        self.root_der: bytes = root.public_bytes(serialization.Encoding.DER)
        self.root_pem: str = root.public_bytes(serialization.Encoding.PEM).decode()
        # The JWS `x5c` header: leaf first, standard (not URL-safe) base64 of each DER certificate.
        self.x5c: list[str] = [
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
            for cert in (leaf, intermediate, root)
        ]

    def write_root(self, path: str | Path) -> Path:
        """Write the root certificate (DER, like Apple's AppleRootCA-G3.cer) to `path` and return it."""
        target = Path(path)
        target.write_bytes(self.root_der)
        return target

    def sign(self, payload: dict[str, Any]) -> str:
        """Compact JWS with header {"alg": "ES256", "x5c": [leaf, intermediate, root]}, signed by the leaf key."""
        return jwt.encode(payload, self._leaf_key, algorithm="ES256", headers={"x5c": self.x5c, "typ": None})

    def transaction(self, **overrides: Any) -> dict[str, Any]:
        """A decoded JWSTransaction for an auto-renewable subscription purchase. Keyword arguments are payload fields
        (camelCase, raw values) that replace the defaults; None removes a field. Ids are fresh per call, and
        originalTransactionId defaults to transactionId; expiresDate defaults to purchaseDate (now) + 30 days.
        Optional fields Apple only sends sometimes (appAccountToken, revocationDate, revocationReason, offerType,
        offerDiscountType, isUpgraded, ...) appear only when passed; offerDiscountType implies offerType 1
        (introductory offer) unless given."""
        transaction_id = overrides.pop("transactionId", None) or new_id()
        purchase = overrides.pop("purchaseDate", None) or now_ms()
        payload: dict[str, Any] = {
            "transactionId": transaction_id,
            "originalTransactionId": transaction_id,
            "webOrderLineItemId": new_id(),
            "bundleId": BUNDLE_ID,
            "productId": PRODUCT_ID,
            "subscriptionGroupIdentifier": SUBSCRIPTION_GROUP_ID,
            "purchaseDate": purchase,
            "originalPurchaseDate": purchase,
            "expiresDate": purchase + 30 * DAY_MS,
            "quantity": 1,
            "type": "Auto-Renewable Subscription",
            "inAppOwnershipType": "PURCHASED",
            "signedDate": now_ms(),
            "environment": "Sandbox",
            "transactionReason": "PURCHASE",
            "storefront": "USA",
            "storefrontId": "143441",
            "price": 9990,  # milliunits of `currency`
            "currency": "USD",
            "appTransactionId": new_id(),
        }
        if "offerDiscountType" in overrides and "offerType" not in overrides:
            payload["offerType"] = 1
        return _apply(payload, overrides, JWSTransactionDecodedPayload)

    def renewal_info(self, transaction: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
        """A decoded JWSRenewalInfo (auto-renew on). When `transaction` is given, its subscription's ids, product,
        environment and expiry seed the defaults. Keyword arguments are payload fields, as for `transaction()`;
        isInBillingRetryPeriod, gracePeriodExpiresDate and expirationIntent appear only when passed."""
        now = now_ms()
        tx = transaction or {}
        product = tx.get("productId", PRODUCT_ID)
        payload: dict[str, Any] = {
            "originalTransactionId": tx.get("originalTransactionId") or new_id(),
            "autoRenewProductId": product,
            "productId": product,
            "autoRenewStatus": 1,
            "environment": tx.get("environment", "Sandbox"),
            "signedDate": now,
            "recentSubscriptionStartDate": tx.get("originalPurchaseDate", now),
            "renewalDate": tx.get("expiresDate", now + 30 * DAY_MS),
            "currency": tx.get("currency", "USD"),
            "renewalPrice": tx.get("price", 9990),
        }
        for key in ("appTransactionId", "appAccountToken"):
            if key in tx:
                payload[key] = tx[key]
        return _apply(payload, overrides, JWSRenewalInfoDecodedPayload)

    def notification(
        self,
        notification_type: str,
        subtype: str | None = None,
        *,
        transaction: dict[str, Any] | None = None,
        renewal_info: dict[str, Any] | None = None,
        environment: Environment = "Sandbox",
        bundle_id: str = BUNDLE_ID,
        app_apple_id: int | None = APP_APPLE_ID,
        notification_uuid: str | None = None,
        signed_date_ms: int | None = None,
        status: int | None = None,
    ) -> dict[str, Any]:
        """The JSON body Apple POSTs to an App Store Server Notifications V2 URL: {"signedPayload": JWS}. The
        transaction and renewal info are signed into `data` only when given; `data.status` (1 active, 2 expired,
        3 billing retry, 4 grace period, 5 revoked) is derived from the transaction unless passed."""
        data: dict[str, Any] = {"bundleId": bundle_id, "bundleVersion": "1", "environment": environment}
        if app_apple_id is not None:
            data["appAppleId"] = app_apple_id
        if transaction is not None:
            data["signedTransactionInfo"] = self.sign(transaction)
        if renewal_info is not None:
            data["signedRenewalInfo"] = self.sign(renewal_info)
        if status is None and transaction is not None:
            status = subscription_status(transaction, renewal_info)
        if status is not None:
            data["status"] = status
        payload: dict[str, Any] = {
            "notificationType": notification_type,
            "notificationUUID": notification_uuid or str(uuid.uuid4()),
            "data": data,
            "version": "2.0",
            "signedDate": signed_date_ms if signed_date_ms is not None else now_ms(),
        }
        if subtype is not None:
            payload["subtype"] = subtype
        return {"signedPayload": self.sign(payload)}


def subscription_status(transaction: dict[str, Any], renewal_info: dict[str, Any] | None = None) -> int:
    """Apple's subscription status (1 active, 2 expired, 3 billing retry, 4 grace period, 5 revoked) for a payload."""
    now = now_ms()
    renewal = renewal_info or {}
    if transaction.get("revocationDate") is not None:
        return 5
    if transaction.get("expiresDate", now + 1) > now:
        return 1
    if renewal.get("gracePeriodExpiresDate", 0) > now:
        return 4
    if renewal.get("isInBillingRetryPeriod"):
        return 3
    return 2


# ---------------------------------------------------------------------------------------------------------------------
# Legacy verifyReceipt (https://buy.itunes.apple.com/verifyReceipt and https://sandbox.itunes.apple.com/verifyReceipt)

try:
    _PACIFIC: dt.tzinfo = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # no tz database on this machine: PST is close enough for a display-only field
    _PACIFIC = dt.timezone(dt.timedelta(hours=-8))


def _receipt_dates(name: str, ms: int) -> dict[str, str]:
    """Apple's three renderings of one instant: `name` (GMT), `name_ms` (decimal string), `name_pst`."""
    instant = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return {
        name: instant.strftime("%Y-%m-%d %H:%M:%S Etc/GMT"),
        f"{name}_ms": str(ms),
        f"{name}_pst": instant.astimezone(_PACIFIC).strftime("%Y-%m-%d %H:%M:%S America/Los_Angeles"),
    }


def _receipt_fields(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, str]:
    """Merge overrides into a verifyReceipt entry: `*_date_ms` values (int or str) also set their GMT/PST
    renderings, other values become strings, None removes the key (and a date's renderings)."""
    entry = dict(defaults)
    for key, value in overrides.items():
        base = key.removesuffix("_ms")
        if key.endswith("_date_ms"):
            for rendering in (base, key, f"{base}_pst"):
                entry.pop(rendering, None)
            if value is not None:
                entry.update(_receipt_dates(base, int(value)))
        elif value is None:
            entry.pop(key, None)
        elif isinstance(value, bool):
            entry[key] = "true" if value else "false"
        else:
            entry[key] = str(value)
    return entry


def receipt_info(**overrides: Any) -> dict[str, str]:
    """One `latest_receipt_info` / `in_app` entry of an auto-renewable subscription, every value a string as Apple
    sends it. Pass `*_date_ms` as ints or strings (renderings follow); cancellation_date_ms (plus
    cancellation_reason, default "0") appears only when given; None removes a field."""
    purchase = int(overrides.pop("purchase_date_ms", None) or now_ms())
    transaction_id = str(overrides.pop("transaction_id", None) or new_id())
    entry: dict[str, Any] = {
        "quantity": "1",
        "product_id": PRODUCT_ID,
        "transaction_id": transaction_id,
        "original_transaction_id": transaction_id,
        **_receipt_dates("purchase_date", purchase),
        **_receipt_dates("original_purchase_date", purchase),
        **_receipt_dates("expires_date", purchase + 30 * DAY_MS),
        "web_order_line_item_id": new_id(),
        "is_trial_period": "false",
        "is_in_intro_offer_period": "false",
        "in_app_ownership_type": "PURCHASED",
        "subscription_group_identifier": SUBSCRIPTION_GROUP_ID,
    }
    if overrides.get("cancellation_date_ms") is not None:
        overrides.setdefault("cancellation_reason", "0")
    return _receipt_fields(entry, overrides)


def pending_renewal_info(**overrides: Any) -> dict[str, str]:
    """One `pending_renewal_info` entry (auto-renew on); None removes a field. expiration_intent,
    is_in_billing_retry_period and grace_period_expires_date_ms appear only when passed."""
    entry = {
        "auto_renew_product_id": PRODUCT_ID,
        "product_id": PRODUCT_ID,
        "original_transaction_id": new_id(),
        "auto_renew_status": "1",
    }
    return _receipt_fields(entry, overrides)


@dataclass
class _Receipt:
    environment: Environment
    bundle_id: str
    latest_receipt_info: list[dict[str, str]]
    pending_renewal_info: list[dict[str, str]] | None
    authentic: bool
    created_ms: int


@dataclass
class FakeVerifyReceipt:
    """State of the fake verifyReceipt endpoints; `production_url` / `sandbox_url` are set by `fake_verify_receipt()`.

    Answers HTTP 200 with Apple's {"status": ...} body for everything except injected HTTP errors: 0 with the receipt,
    21000 for a non-POST, 21002 for malformed or unknown receipt data, 21003 for a receipt added with
    authentic=False, 21004 for a missing or wrong shared secret, 21007 for a sandbox receipt sent to production,
    21008 for a production receipt sent to sandbox."""

    shared_secret: str
    production_url: str = ""
    sandbox_url: str = ""
    requests: list[tuple[Environment, dict[str, Any]]] = field(default_factory=list)  # (endpoint, request body)
    _receipts: dict[str, _Receipt] = field(default_factory=dict)
    _failures: list[tuple[Environment | None, int]] = field(default_factory=list)  # (endpoint or any, status)
    _http_errors: list[tuple[Environment | None, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    receipt_info = staticmethod(receipt_info)
    pending_renewal_info = staticmethod(pending_renewal_info)

    def add_receipt(
        self,
        receipt_data: str,
        *,
        environment: Environment,
        latest_receipt_info: list[dict[str, str]],
        pending_renewal_info: list[dict[str, str]] | None = None,
        bundle_id: str = BUNDLE_ID,
        authentic: bool = True,
    ) -> None:
        """Register (or replace) what Apple knows about `receipt_data`. Without `pending_renewal_info`, one
        auto-renewing entry per original_transaction_id is derived from `latest_receipt_info`."""
        with self._lock:
            self._receipts[receipt_data] = _Receipt(
                environment=environment,
                bundle_id=bundle_id,
                latest_receipt_info=[dict(entry) for entry in latest_receipt_info],
                pending_renewal_info=pending_renewal_info,
                authentic=authentic,
                created_ms=now_ms(),
            )

    def fail_next(self, status: int, times: int = 1, *, environment: Environment | None = None) -> None:
        """Answer the next `times` requests (to `environment`'s endpoint, or either) with HTTP 200 {"status": status},
        e.g. 21005 (server unavailable), 21009 or 21100-21199 (internal data access errors)."""
        with self._lock:
            self._failures.extend([(environment, status)] * times)

    def http_error_next(self, code: int, times: int = 1, *, environment: Environment | None = None) -> None:
        """Answer the next `times` requests (to `environment`'s endpoint, or either) with a bare HTTP `code`."""
        with self._lock:
            self._http_errors.extend([(environment, code)] * times)

    @staticmethod
    def _take(queue: list[tuple[Environment | None, int]], endpoint: Environment) -> int | None:
        for index, (target, value) in enumerate(queue):
            if target in (None, endpoint):
                del queue[index]
                return value
        return None

    def handle(self, endpoint: Environment, method: str, raw: bytes) -> tuple[int, dict[str, Any] | None]:
        """(HTTP status, JSON body or None for a bare HTTP error) for one request to `endpoint`'s URL."""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        with self._lock:
            self.requests.append((endpoint, body if isinstance(body, dict) else {"_raw": raw.decode(errors="replace")}))
            code = self._take(self._http_errors, endpoint)
            if code is not None:
                return code, None
            status = self._take(self._failures, endpoint)
            if status is not None:
                failure: dict[str, Any] = {"status": status}
                if 21100 <= status <= 21199:
                    failure["is-retryable"] = True
                return 200, failure
            if method != "POST":
                return 200, {"status": 21000}
            return 200, self._verify(endpoint, body)

    def _verify(self, endpoint: Environment, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("receipt-data"), str):
            return {"status": 21002}
        receipt_data: str = body["receipt-data"]
        receipt = self._receipts.get(receipt_data)
        if receipt is None:
            return {"status": 21002}
        if receipt.environment != endpoint:
            return {"status": 21007 if receipt.environment == "Sandbox" else 21008}
        if not receipt.authentic:
            return {"status": 21003}
        if body.get("password") != self.shared_secret:
            return {"status": 21004}
        latest = [dict(entry) for entry in receipt.latest_receipt_info]
        if body.get("exclude-old-transactions") is True:
            newest: dict[str, dict[str, str]] = {}
            for entry in latest:
                current = newest.get(entry["original_transaction_id"])
                if current is None or int(entry["purchase_date_ms"]) > int(current["purchase_date_ms"]):
                    newest[entry["original_transaction_id"]] = entry
            latest = [entry for entry in latest if entry in newest.values()]
        pending = receipt.pending_renewal_info
        if pending is None:
            pending = [
                pending_renewal_info(
                    original_transaction_id=entry["original_transaction_id"],
                    product_id=entry["product_id"],
                    auto_renew_product_id=entry["product_id"],
                )
                for entry in {e["original_transaction_id"]: e for e in receipt.latest_receipt_info}.values()
            ]
        app_id = 0 if receipt.environment == "Sandbox" else APP_APPLE_ID
        return {
            "status": 0,
            "environment": receipt.environment,
            "receipt": {
                "receipt_type": "ProductionSandbox" if receipt.environment == "Sandbox" else "Production",
                "adam_id": app_id,
                "app_item_id": app_id,
                "bundle_id": receipt.bundle_id,
                "application_version": "1",
                "download_id": 0,
                "version_external_identifier": 0,
                **_receipt_dates("receipt_creation_date", receipt.created_ms),
                **_receipt_dates("request_date", now_ms()),
                **_receipt_dates("original_purchase_date", receipt.created_ms),
                "original_application_version": "1.0",
                "in_app": [dict(entry) for entry in receipt.latest_receipt_info],
            },
            "latest_receipt_info": latest,
            "latest_receipt": receipt_data,
            "pending_renewal_info": [dict(entry) for entry in pending],
        }


@contextmanager
def fake_verify_receipt(shared_secret: str = "shared-secret") -> Iterator[FakeVerifyReceipt]:
    """Serve Apple's production and sandbox verifyReceipt endpoints on two loopback servers."""
    state = FakeVerifyReceipt(shared_secret=shared_secret)

    def handler_for(endpoint: Environment) -> type[QuietHandler]:
        class Handler(QuietHandler):
            def _answer(self, method: str) -> None:
                raw = self.body()
                if urlsplit(self.path).path != "/verifyReceipt":
                    code, payload = 404, None
                else:
                    code, payload = state.handle(endpoint, method, raw)
                if payload is None:
                    self.reply(code, b"<html><body>Error</body></html>", "text/html")
                else:
                    self.reply(code, json.dumps(payload).encode())

            def do_POST(self) -> None:
                self._answer("POST")

            def do_GET(self) -> None:
                self._answer("GET")

        return Handler

    with ExitStack() as stack:
        state.production_url = stack.enter_context(serving(handler_for("Production"))) + "/verifyReceipt"
        state.sandbox_url = stack.enter_context(serving(handler_for("Sandbox"))) + "/verifyReceipt"
        yield state


# ---------------------------------------------------------------------------------------------------------------------
# App Store Server API: Get All Subscription Statuses (GET /inApps/v1/subscriptions/{transactionId})

_STATUS_PATH = re.compile(r"^/inApps/v1/subscriptions/(?P<id>[^/]+)$")
_ERRORS = {
    404: {"errorCode": 4040010, "errorMessage": "Transaction id not found."},
    429: {"errorCode": 4290000, "errorMessage": "Rate limit exceeded."},
    500: {"errorCode": 5000000, "errorMessage": "An unknown error occurred."},
}


@dataclass
class _Subscription:
    status: int
    transaction: dict[str, Any]
    renewal_info: dict[str, Any]


@dataclass
class FakeAppStoreServerApi:
    """State of the fake App Store Server API; `base_url` is set by `fake_app_store_server_api()`.

    Requests must carry `Authorization: Bearer <JWT>` as Apple specifies: ES256 with header kid == `key_id`, claims
    iss == `issuer_id`, aud == "appstoreconnect-v1", bid == `bundle_id`, and exp at most an hour ahead, signed with
    `private_key_pem` (the .p8 key the code under test is configured with); anything else is a bare 401."""

    bundle_id: str = BUNDLE_ID
    issuer_id: str = "57246542-96fe-1a63-e053-0824d011072a"
    key_id: str = "FAKEKEY123"
    environment: Environment = "Sandbox"
    app_apple_id: int | None = APP_APPLE_ID
    signer: AppleSigner = field(default_factory=AppleSigner)
    base_url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # (method, path?query, headers)
    _key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    _subscriptions: dict[str, _Subscription] = field(default_factory=dict)  # original transaction id -> latest
    _ids: dict[str, str] = field(default_factory=dict)  # any transaction id -> original transaction id
    traffic: Traffic = field(default_factory=Traffic)  # latency per request, requests in flight
    _failures: list[tuple[int, int | None]] = field(default_factory=list)  # (HTTP status, Retry-After)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def private_key_pem(self) -> str:
        """The API key in Apple's .p8 format (PKCS#8 PEM)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def set_subscription(
        self, original_transaction_id: str, status: int, transaction: dict[str, Any], renewal_info: dict[str, Any]
    ) -> None:
        """Make `transaction` the subscription's last transaction, with status 1 active, 2 expired, 3 billing retry,
        4 grace period or 5 revoked. Any transaction id ever set for it (and the original) finds it."""
        with self._lock:
            self._subscriptions[original_transaction_id] = _Subscription(status, dict(transaction), dict(renewal_info))
            self._ids[original_transaction_id] = original_transaction_id
            self._ids[str(transaction.get("transactionId", original_transaction_id))] = original_transaction_id

    def fail_next(self, status: int = 500, times: int = 1, *, retry_after_ms: int | None = None) -> None:
        """Answer the next `times` authenticated requests with HTTP `status` and Apple's error body. A 429 carries
        Retry-After which, per Apple, is the UNIX time in MILLISECONDS when requests may resume (default now + 1 s,
        computed at response time)."""
        with self._lock:
            self._failures.extend([(status, retry_after_ms)] * times)

    def _authenticated(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        token = authorization.removeprefix("Bearer ")
        try:
            if jwt.get_unverified_header(token).get("kid") != self.key_id:
                return False
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["ES256"],
                audience="appstoreconnect-v1",
                issuer=self.issuer_id,
                options={"require": ["exp", "iss", "aud", "bid"]},
            )
        except jwt.PyJWTError:
            return False
        too_long = claims["exp"] - claims.get("iat", time.time()) > 3600 + 5
        return claims["bid"] == self.bundle_id and not too_long

    def handle(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """(HTTP status, extra headers, JSON body or plain-text string) for one request."""
        url = urlsplit(target)
        with self._lock:
            self.requests.append((method, target, headers))
            if not self._authenticated(headers.get("authorization")):
                return 401, {}, "Unauthenticated\n"
            if self._failures:
                status, retry_after = self._failures.pop(0)
                extra = {"Retry-After": str(retry_after or now_ms() + 1000)} if status == 429 else {}
                return status, extra, _ERRORS.get(status, _ERRORS[500])
            match = _STATUS_PATH.match(url.path)
            if method != "GET" or match is None:
                return 404, {}, "Not Found\n"
            original = self._ids.get(match["id"])
            if original is None:
                return 404, {}, _ERRORS[404]
            subscription = self._subscriptions[original]
            wanted = {int(s) for s in parse_qs(url.query).get("status", [])}
            last = []
            if not wanted or subscription.status in wanted:
                last.append(
                    {
                        "originalTransactionId": original,
                        "status": subscription.status,
                        "signedTransactionInfo": self.signer.sign(subscription.transaction),
                        "signedRenewalInfo": self.signer.sign(subscription.renewal_info),
                    }
                )
            group = subscription.transaction.get("subscriptionGroupIdentifier", SUBSCRIPTION_GROUP_ID)
            body: dict[str, Any] = {
                "environment": self.environment,
                "bundleId": self.bundle_id,
                "data": [{"subscriptionGroupIdentifier": group, "lastTransactions": last}] if last else [],
            }
            if self.app_apple_id is not None:
                body["appAppleId"] = self.app_apple_id
            return 200, {}, body


@contextmanager
def fake_app_store_server_api(**config: Any) -> Iterator[FakeAppStoreServerApi]:
    """Serve the fake App Store Server API on loopback; `config` sets FakeAppStoreServerApi's public fields
    (bundle_id, issuer_id, key_id, environment, app_apple_id, signer)."""
    state = FakeAppStoreServerApi(**config)

    class Handler(QuietHandler):
        def _answer(self, method: str) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.traffic.request():
                code, extra, payload = state.handle(method, self.path, headers)
            text = isinstance(payload, str)
            data = payload.encode() if text else json.dumps(payload).encode()
            self.reply(code, data, "text/plain" if text else "application/json", extra)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_PUT(self) -> None:
            self._answer("PUT")

    with serving(Handler) as base_url:
        state.base_url = base_url
        yield state
