"""What billing does when an account is deleted: cancel what we can cancel, and say what the user must cancel."""

from __future__ import annotations

import uuid

import stripe

from app.billing.stripe.client import require_stripe, stripe_call
from app.db.queries import billing as q
from app.db.types import Connection

STORE_INSTRUCTIONS = {
    "apple": "Cancel your App Store subscription in Settings > [your name] > Subscriptions on your iPhone.",
    "google": "Cancel your Google Play subscription in the Play Store app > Profile > Payments & subscriptions.",
}


async def _cancel_now(client: stripe.StripeClient, subscription_id: str) -> None:
    try:
        await client.v1.subscriptions.cancel_async(
            subscription_id, options={"idempotency_key": f"cookcam-close-{subscription_id}"}
        )
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":  # already gone at Stripe: nothing left to cancel
            raise


async def close_billing(conn: Connection, client: stripe.StripeClient | None, user_id: uuid.UUID) -> list[str]:
    """Cancel the user's live Stripe subscriptions now (before any data is erased: if Stripe cannot be reached,
    the deletion stops with 503 rather than leave a subscription charging a deleted account), and return the
    instructions for store subscriptions, which only the user can cancel."""
    live = await q.list_live_subscriptions(conn, user_id=user_id)
    for subscription in (s for s in live if s.provider == "stripe"):
        await stripe_call(_cancel_now(require_stripe(client), subscription.provider_subscription_id))
    return sorted({STORE_INSTRUCTIONS[s.provider] for s in live if s.provider in STORE_INSTRUCTIONS})
