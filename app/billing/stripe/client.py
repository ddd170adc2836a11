"""The Stripe API client of one worker, and how its failures become our errors."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
from typing import TypeVar

import stripe

from app.core.errors import AppError, BadGateway, ServiceUnavailable
from app.core.retry import retry_after_seconds
from app.settings import Settings

log = logging.getLogger("cookcam.billing.stripe")

T = TypeVar("T")


class StripeApi:
    """The Stripe client this worker uses (None when STRIPE_SECRET_KEY is unset) and its HTTP client to close."""

    def __init__(self, settings: Settings) -> None:
        self._http = stripe.HTTPXClient()
        self.client = (
            stripe.StripeClient(
                settings.stripe.secret_key,
                base_addresses={"api": settings.stripe.api_base},
                http_client=self._http,
                max_network_retries=2,  # Stripe's client retries connection errors and 409/5xx with backoff
            )
            if settings.stripe.secret_key
            else None
        )

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]


def require_stripe(client: stripe.StripeClient | None) -> stripe.StripeClient:
    """The Stripe client, or 503 STRIPE_UNCONFIGURED when STRIPE_SECRET_KEY is unset (webhook senders retry a 503,
    and the retry job runs their events once a key is configured)."""
    if client is None:
        raise ServiceUnavailable("STRIPE_UNCONFIGURED", "Stripe is not configured on this server.")
    return client


async def stripe_call(call: Awaitable[T], *, missing: AppError | None = None) -> T:
    """Run a Stripe API call, turning its failures into our errors (503 when worth retrying, 502 otherwise; with
    `missing`, that error when Stripe answers that the object does not exist: 404 `resource_missing`)."""
    try:
        return await call
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        log.warning("Stripe unavailable: %s", type(exc).__name__)
        # Stripe documents no Retry-After (its advice for 429 is exponential backoff); one it sends is honoured.
        headers = {name.lower(): value for name, value in (exc.headers or {}).items()}
        wait = retry_after_seconds(headers.get("retry-after"))
        raise ServiceUnavailable(
            "PAYMENT_PROVIDER_UNAVAILABLE",
            "Payments are unavailable; try again shortly.",
            retry_after_seconds=math.ceil(wait) if wait else 5,
            provider_retry_after=wait,
        ) from None
    except stripe.StripeError as exc:
        if missing is not None and isinstance(exc, stripe.InvalidRequestError) and exc.code == "resource_missing":
            raise missing from None
        log.error("Stripe refused a request: %s (%s)", type(exc).__name__, getattr(exc, "code", None))
        raise BadGateway("PAYMENT_PROVIDER_ERROR", "The payment provider refused the request.") from None
