"""App-store purchase validation (two paths the shipped app uses, one behaviour) and the stores' notifications."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from app.auth.service import CurrentUser
from app.billing.routes import WebhookReceipt
from app.billing.stores.notifications import receive_apple, receive_google
from app.billing.stores.validation import ValidatePurchaseRequest, ValidationResult, validate_purchase
from app.core.dependencies import provide_caller_briefly, services_from

# The store calls can take seconds: no pooled connection is held while they run (see provide_caller_briefly).
CALLER = {"caller": Provide(provide_caller_briefly)}


@post(
    ["/api/v1/iap/validate-receipt", "/api/v1/subscription/validate-purchase"],
    status_code=200,
    tags=["iap"],
    dependencies=CALLER,
)
async def validate_receipt(
    state: State, caller: NamedDependency[CurrentUser], data: JSONBody[ValidatePurchaseRequest]
) -> ValidationResult:
    """A StoreKit 2 signed transaction, a legacy App Store receipt or a Google Play purchase token (both paths are
    used by the shipped app)."""
    services = services_from(state)
    return await validate_purchase(
        services.connection,
        services.payments,
        services.rate_limiter,
        services.settings,
        user_id=caller.id,
        request=data,
    )


@post("/api/v1/iap/notifications/apple", status_code=200, operation_id="appleNotification", tags=["webhooks"])
async def apple_notification(state: State, request: Request[Any, Any, Any]) -> WebhookReceipt:
    """App Store Server Notifications V2, signed by Apple; any failure answers non-2xx so Apple retries."""
    services = services_from(state)
    outcome = await receive_apple(services.connection, services.payments, await request.body())
    return WebhookReceipt(received=True, outcome=outcome)


@post("/api/v1/iap/notifications/google", status_code=200, operation_id="googleNotification", tags=["webhooks"])
async def google_notification(state: State, request: Request[Any, Any, Any]) -> WebhookReceipt:
    """Pub/Sub push of Google Play real-time developer notifications, authenticated by Google's OIDC token."""
    services = services_from(state)
    outcome = await receive_google(
        services.connection,
        services.payments,
        services.settings.google,
        request.headers.get("authorization"),
        await request.body(),
    )
    return WebhookReceipt(received=True, outcome=outcome)
