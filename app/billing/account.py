"""Billing's share of an account: its subscriptions, their history, its purchase validations (never a proof, a
provider's purchase id or a hash), the previous backend's subscriptions imported for it, its promotional grants (who,
why) and its purchase transfers in the export; on deletion, what we can cancel is cancelled, the user is told what only
they can, and a tombstone lets another account restore its store purchases."""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

import msgspec
import stripe

from app.billing.entitlements import user_subscriptions
from app.billing.schemas import UserSubscription
from app.billing.stores.transfer import record_deleted_account
from app.billing.stripe.client import require_stripe, stripe_call
from app.db.queries import billing as q
from app.db.queries import billing_support as support_q
from app.db.queries import purchases as purchases_q
from app.db.types import Connection, ConnectionSource

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


class TransferEntry(msgspec.Struct, frozen=True):
    """A purchase that came to this account (`in`) or left it (`out`), without the other account's id."""

    subscription_id: uuid.UUID
    direction: Literal["in", "out"]
    cause: str
    recorded_at: datetime.datetime


class BillingSection(msgspec.Struct, frozen=True):
    subscriptions: list[UserSubscription]
    subscription_history: list[q.ListStatusHistoryRow]
    purchase_validations: list[purchases_q.ListValidationsRow]
    imported_billing_bindings: list[q.ExportImportedBillingBindingsRow]
    # Operators' promotional grants and revocations: who and why (the history rows name them by id).
    promotional_actions: list[support_q.ListPromotionalActionsRow]
    # Store purchases restored into or out of the account (docs/payments.md "Restore and transfer").
    subscription_transfers: list[TransferEntry]


async def export_section(conn: Connection, user_id: uuid.UUID) -> BillingSection:
    return BillingSection(
        subscriptions=await user_subscriptions(conn, user_id),
        subscription_history=await q.list_status_history(conn, user_id=user_id),
        purchase_validations=await purchases_q.list_validations(conn, user_id=user_id),
        imported_billing_bindings=await q.export_imported_billing_bindings(conn, user_id=user_id),
        promotional_actions=await support_q.list_promotional_actions(conn, user_id=user_id),
        subscription_transfers=[
            TransferEntry(t.subscription_id, "in" if t.to_user_id == user_id else "out", t.cause, t.recorded_at)
            for t in await support_q.list_subscription_transfers(conn, user_id=user_id)
        ],
    )


async def erase_billing(conn: Connection, user_id: uuid.UUID) -> None:
    """In the deletion's transaction: the account's tombstone, so that its store purchases (which still name it)
    can be restored by another account."""
    await record_deleted_account(conn, user_id)


async def close_billing(client: stripe.StripeClient | None, connect: ConnectionSource, user_id: uuid.UUID) -> list[str]:
    """Cancel the user's live Stripe subscriptions now (before any data is erased: if Stripe cannot be reached,
    the deletion stops with 503 rather than leave a subscription charging a deleted account), and return the
    instructions for store subscriptions, which only the user can cancel. No connection is held while Stripe answers."""
    async with connect() as conn:
        live = await q.list_live_subscriptions(conn, user_id=user_id)
    for subscription in (s for s in live if s.provider == "stripe"):
        await stripe_call(_cancel_now(require_stripe(client), subscription.provider_subscription_id))
    return sorted({STORE_INSTRUCTIONS[s.provider] for s in live if s.provider in STORE_INSTRUCTIONS})
