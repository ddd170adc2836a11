"""App-store purchase validation (two paths the shipped app uses, one behaviour) and the stores' notifications."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from app.billing.inbox.receipt import WebhookReceipt
from app.billing.providers import PaymentProviders
from app.billing.stores.notifications import receive_apple, receive_google
from app.billing.stores.validation import ValidatePurchaseRequest, ValidationResult, validate_purchase
from app.core.identity import CurrentUser, provide_caller_briefly
from app.core.ratelimit import RateLimiter
from app.db.types import ConnectionSource
from app.settings import Settings

# The store calls can take seconds: no pooled connection is held while they run (see provide_caller_briefly).
CALLER = {"caller": Provide(provide_caller_briefly)}


@post(
    ["/api/v1/iap/validate-receipt", "/api/v1/subscription/validate-purchase"],
    status_code=200,
    tags=["iap"],
    dependencies=CALLER,
)
async def validate_receipt(
    *,
    connect: NamedDependency[ConnectionSource],
    payments: NamedDependency[PaymentProviders],
    rate_limiter: NamedDependency[RateLimiter],
    settings: NamedDependency[Settings],
    caller: NamedDependency[CurrentUser],
    data: JSONBody[ValidatePurchaseRequest],
) -> ValidationResult:
    """A StoreKit 2 signed transaction, a legacy App Store receipt or a Google Play purchase token (both paths are
    used by the shipped app). 409 SUBSCRIPTION_OWNED_ELSEWHERE or PURCHASE_ACCOUNT_MISMATCH (the purchase belongs to
    another account); 422 PROOF_REQUIRED, RECEIPT_INVALID, APPLE_SIGNATURE_INVALID, APPLE_TRANSACTION_UNKNOWN,
    APPLE_ENVIRONMENT_REFUSED, PURCHASE_TOKEN_INVALID or PRODUCT_UNKNOWN; 502 PAYMENT_PROVIDER_ERROR; 503
    APPLE_UNCONFIGURED, APPLE_API_UNCONFIGURED, GOOGLE_UNCONFIGURED or PAYMENT_PROVIDER_UNAVAILABLE. Limited per
    account (429 RATE_LIMITED)."""
    return await validate_purchase(connect, payments, rate_limiter, settings, user_id=caller.id, request=data)


@post("/api/v1/iap/notifications/apple", status_code=200, operation_id="appleNotification", tags=["webhooks"])
async def apple_notification(
    connect: NamedDependency[ConnectionSource],
    payments: NamedDependency[PaymentProviders],
    request: Request[Any, Any, Any],
) -> WebhookReceipt:
    """App Store Server Notifications V2, signed by Apple; any failure answers non-2xx so Apple retries: 400
    NOTIFICATION_INVALID for a body that is not one, 422 APPLE_SIGNATURE_INVALID for one Apple did not sign, 503
    APPLE_UNCONFIGURED."""
    outcome = await receive_apple(connect, payments, await request.body())
    return WebhookReceipt(received=True, outcome=outcome)


@post("/api/v1/iap/notifications/google", status_code=200, operation_id="googleNotification", tags=["webhooks"])
async def google_notification(
    connect: NamedDependency[ConnectionSource],
    payments: NamedDependency[PaymentProviders],
    settings: NamedDependency[Settings],
    request: Request[Any, Any, Any],
) -> WebhookReceipt:
    """Pub/Sub push of Google Play real-time developer notifications, authenticated by Google's OIDC token (401
    PUSH_UNAUTHENTICATED without a valid one); 400 PUSH_INVALID for a body that is not one; 503 GOOGLE_UNCONFIGURED."""
    authorization = request.headers.get("authorization")
    outcome = await receive_google(connect, payments, settings.google, authorization, await request.body())
    return WebhookReceipt(received=True, outcome=outcome)
