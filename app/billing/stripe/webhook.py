"""Stripe webhooks: the signature checked on the raw bytes by Stripe's own library (current and previous secret),
then the event decoded strictly (what each event does is in app/billing/stripe/effects.py)."""

from __future__ import annotations

import logging

import msgspec
import stripe

from app.billing.inbox.storable import storable_json
from app.billing.stripe.models import Event
from app.core.errors import BadRequest, ServiceUnavailable
from app.settings import StripeSettings

log = logging.getLogger("cookcam.billing.stripe")


class VerifiedEvent(msgspec.Struct, frozen=True):
    event: Event
    # The body to store: as Stripe sent it, or with NUL characters escaped (app/billing/inbox/storable.py).
    body: msgspec.Raw


def verified_event(
    payload: bytes, signature_header: str | None, settings: StripeSettings, *, connect: bool = False
) -> VerifiedEvent:
    """Check the Stripe-Signature header against the raw body with the current, then the previous secret: the
    payments endpoint's, or with `connect` the Connect endpoint's (each Stripe endpoint has its own secret)."""
    if connect:
        secrets = [s for s in (settings.connect_webhook_secret, settings.previous_connect_webhook_secret) if s]
        if not secrets:
            raise ServiceUnavailable(
                "STRIPE_CONNECT_UNCONFIGURED", "Stripe Connect webhooks are not configured on this server."
            )
    else:
        secrets = [s for s in (settings.webhook_secret, settings.previous_webhook_secret) if s]
        if not secrets:
            raise ServiceUnavailable("STRIPE_UNCONFIGURED", "Stripe webhooks are not configured on this server.")
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8", "replace"),
                signature_header or "",
                secret,
                tolerance=settings.webhook_tolerance_seconds,
            )
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise BadRequest("STRIPE_SIGNATURE_INVALID", "The Stripe-Signature header does not match this body.")
    body = storable_json(payload)
    try:
        event = msgspec.json.decode(body, type=Event)
    except msgspec.DecodeError:
        raise BadRequest("STRIPE_EVENT_INVALID", "The signed body is not a Stripe event.") from None
    if body is not payload:
        log.warning("Stripe event %s held NUL characters: stored and processed with each escaped as \\u0000", event.id)
    return VerifiedEvent(event, msgspec.Raw(body))
