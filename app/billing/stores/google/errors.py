"""Google Play's failures as our errors, shared by the Play API client, its OAuth token and push verification."""

from __future__ import annotations

from app.core.errors import BadGateway, ServiceUnavailable, Unauthorized, Unprocessable

PROVIDER = "Google Play"


def token_invalid() -> Unprocessable:
    return Unprocessable("PURCHASE_TOKEN_INVALID", "Google Play does not know this purchase.")


def provider_refused() -> BadGateway:
    return BadGateway("PAYMENT_PROVIDER_ERROR", "Google Play refused the request.")


def unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("PAYMENT_PROVIDER_UNAVAILABLE", f"{PROVIDER} is unavailable; try again shortly.")


def unconfigured() -> ServiceUnavailable:
    return ServiceUnavailable("GOOGLE_UNCONFIGURED", "Google Play billing is not configured on this server.")


def push_unauthenticated() -> Unauthorized:
    return Unauthorized("PUSH_UNAUTHENTICATED", "The push request is not from our Pub/Sub subscription.")
