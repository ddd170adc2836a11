"""Legacy App Store receipts (apps before StoreKit 2) through Apple's verifyReceipt endpoint.

Production first; status 21007 means a sandbox receipt, sent again to the sandbox endpoint (when sandbox purchases
are allowed). Every status is classed: transient ones are retried (stamina, app/core/retry.py), permanent ones
answer 422 at once, and 21004 (our shared secret is wrong) is our configuration problem (502).
"""

from __future__ import annotations

import datetime
import logging

import httpx
import msgspec

from app.billing.products import parse_products, tier_of
from app.billing.schemas import Status
from app.billing.stores.purchase import StorePurchase, from_millis, mapped_product, store_status
from app.core.errors import BadGateway, ServiceUnavailable, Unprocessable
from app.core.retry import TransientFailure, call_with_retries, raise_for_transient
from app.settings import Settings

log = logging.getLogger("cookcam.billing.apple")

SANDBOX_RECEIPT = 21007
PERMANENT_RECEIPT_STATUSES = frozenset({21000, 21002, 21003, 21006, 21008, 21010})
WRONG_SHARED_SECRET = 21004


def _is_transient(status: int) -> bool:
    # 21005: receipt server unavailable; 21009: internal data access error; 21100-21199: internal errors.
    return status in (21005, 21009) or 21100 <= status <= 21199


class ReceiptTransaction(msgspec.Struct, frozen=True):
    """One entry of latest_receipt_info; Apple sends every number as a string."""

    product_id: str
    original_transaction_id: str
    purchase_date_ms: str | None = None
    expires_date_ms: str | None = None
    cancellation_date_ms: str | None = None
    is_trial_period: str = "false"
    in_app_ownership_type: str = "PURCHASED"


class PendingRenewal(msgspec.Struct, frozen=True):
    original_transaction_id: str
    auto_renew_status: str = "1"
    is_in_billing_retry_period: str | None = None
    grace_period_expires_date_ms: str | None = None


class Receipt(msgspec.Struct, frozen=True):
    bundle_id: str
    # When Apple processed the request and generated the answer: Apple's clock, like a JWS signedDate.
    request_date_ms: str | None = None


class ReceiptResponse(msgspec.Struct, frozen=True):
    status: int
    environment: str | None = None
    receipt: Receipt | None = None
    latest_receipt_info: list[ReceiptTransaction] = []
    pending_renewal_info: list[PendingRenewal] = []


class ReceiptVerifier:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._products = parse_products(settings.billing.products)

    async def verify(self, receipt_data: str) -> StorePurchase:
        apple = self._settings.apple
        if not apple.shared_secret:
            raise ServiceUnavailable("APPLE_UNCONFIGURED", "Legacy App Store receipts are not configured here.")
        answer = await self._post(apple.verify_receipt_url, receipt_data)
        if answer.status == SANDBOX_RECEIPT:
            if not apple.allow_sandbox:
                raise Unprocessable("APPLE_ENVIRONMENT_REFUSED", "Sandbox receipts are refused by this server.")
            answer = await self._post(apple.sandbox_verify_receipt_url, receipt_data)
        if answer.status == WRONG_SHARED_SECRET:
            log.error("verifyReceipt refused our shared secret (21004): check APPLE_SHARED_SECRET")
            raise BadGateway("PAYMENT_PROVIDER_ERROR", "The App Store refused this server's credentials.")
        if answer.status != 0:
            raise Unprocessable("RECEIPT_INVALID", f"The App Store refused this receipt (status {answer.status}).")
        if answer.receipt is None or answer.receipt.bundle_id != apple.bundle_id:
            raise Unprocessable("RECEIPT_INVALID", "This receipt belongs to another app.")
        now = datetime.datetime.now(datetime.UTC)
        return self._purchase(answer, now, from_millis(answer.receipt.request_date_ms) or now)

    async def _post(self, url: str, receipt_data: str) -> ReceiptResponse:
        body = {
            "receipt-data": receipt_data,
            "password": self._settings.apple.shared_secret,
            "exclude-old-transactions": True,
        }

        async def attempt() -> ReceiptResponse:
            response = raise_for_transient(
                await self._http.post(url, json=body, timeout=self._settings.outbound.timeout_seconds)
            )
            if response.status_code != 200:
                raise BadGateway("PAYMENT_PROVIDER_ERROR", "The App Store answered unexpectedly.")
            try:
                answer = msgspec.json.decode(response.content, type=ReceiptResponse)
            except msgspec.DecodeError:
                raise BadGateway("PAYMENT_PROVIDER_ERROR", "The App Store answered unexpectedly.") from None
            if _is_transient(answer.status):
                raise TransientFailure(503, None)
            return answer

        return await call_with_retries("The App Store", attempt, self._settings.outbound)

    def _purchase(
        self, answer: ReceiptResponse, now: datetime.datetime, answered_at: datetime.datetime
    ) -> StorePurchase:
        ours = [t for t in answer.latest_receipt_info if t.product_id in self._products]
        if not ours:
            raise Unprocessable("PRODUCT_UNKNOWN", "This receipt holds no CookCam subscription.")
        latest = max(ours, key=lambda t: int(t.expires_date_ms or 0))
        renewal = next(
            (r for r in answer.pending_renewal_info if r.original_transaction_id == latest.original_transaction_id),
            None,
        )
        tier, period = tier_of(mapped_product(latest.product_id, self._products))
        trial = latest.is_trial_period == "true"
        return StorePurchase(
            provider="apple",
            identity=latest.original_transaction_id,
            product_id=latest.product_id,
            tier_slug=tier,
            billing_period=period,
            status=receipt_status(latest, renewal, now),
            environment="production" if answer.environment == "Production" else "sandbox",
            family_shared=latest.in_app_ownership_type == "FAMILY_SHARED",
            current_period_start=from_millis(latest.purchase_date_ms),
            current_period_end=from_millis(latest.expires_date_ms),
            trial_ends_at=from_millis(latest.expires_date_ms) if trial else None,
            cancel_at_period_end=renewal is not None and renewal.auto_renew_status == "0",
            observed_at=answered_at,  # Apple's time of this answer, comparable with notifications' signedDate
        )


def receipt_status(latest: ReceiptTransaction, renewal: PendingRenewal | None, now: datetime.datetime) -> Status:
    return store_status(
        revoked=bool(latest.cancellation_date_ms),
        expires=from_millis(latest.expires_date_ms),
        billing_retry=renewal is not None and renewal.is_in_billing_retry_period == "1",
        grace_until=from_millis(renewal.grace_period_expires_date_ms) if renewal else None,
        auto_renew_off=renewal is not None and renewal.auto_renew_status == "0",
        trial=latest.is_trial_period == "true",
        now=now,
    )
