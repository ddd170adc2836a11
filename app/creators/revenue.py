"""The revenue share: each paid period of a referred account's subscription earns its referrer the creator tier's
share of the period's net amount (the tier's list price less the provider's fee), once, whichever provider or path
reports it (Stripe, App Store, Google Play; webhooks, validation or reconciliation); a refund or revocation of that
period reverses it.

Only real money earns: sandbox purchases (Stripe test mode, TestFlight and App Review, Google test accounts) and
Apple Family Sharing access never do, nor a period that began before the subscriber was attributed. An earning is
payable after its provider's hold (the refund and chargeback window, CreatorSettings).

The rules run in the database, as the trigger on subscriptions that migration 0057 registers
(cookcam_share_recorded_period), inside the statement that records a state: a provider event is then one statement.
What the trigger needs beyond the stored row comes from here, as the recording's context (app/billing/hooks.py)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from app.billing.entitlements import ProviderState
from app.billing.schemas import Provider
from app.creators.links import list_links
from app.creators.schemas import CreatorAnalytics, Revenue
from app.db.queries import creators as q
from app.db.types import Connection
from app.settings import CreatorSettings

# The key of the recording's context that cookcam_share_recorded_period reads.
CONTEXT_KEY = "revenue_share"


@dataclass(frozen=True)
class RevenueShare:
    """The revenue share with the hold of each provider's earnings, in days: `context` and `reverse_order` are the
    billing hooks."""

    hold_days: dict[str, int]  # by provider

    @classmethod
    def from_settings(cls, creators: CreatorSettings) -> RevenueShare:
        return cls(
            {
                "stripe": creators.hold_days_stripe,
                "apple": creators.hold_days_apple,
                "google": creators.hold_days_google,
            }
        )

    def context(self, state: ProviderState) -> dict[str, Any]:
        """What the trigger needs of a recorded state beyond the stored row: its provider's hold (none for an
        operator's grant, which is not a sale), whether it is a Family Sharing copy (the organizer paid, through
        their own transaction), and a Google period's order (Google reports no period start; ours is derived)."""
        return {
            "hold_days": self.hold_days.get(state.provider),  # none for promotional
            "family_shared": state.family_shared,
            "order_id": state.order_id,
        }

    async def reverse_order(self, conn: Connection, provider: Provider, subscription_id: str, order_id: str) -> None:
        """A voided order (Google's refund or chargeback of one period, whichever period it paid for): its earning
        is reversed, once, with its creator's notice; an order that earned nothing reverses nothing."""
        await q.reverse_earning(conn, period_key=period_key(provider, subscription_id, order_id))


def period_key(provider: str, subscription_id: str, period: str) -> str:
    """What identifies one paid period of a subscription: its start, or for Google the order that paid for it (the
    trigger's cookcam_period_key builds the same)."""
    return f"{provider}:{subscription_id}:{period}"


async def revenue(conn: Connection, creator_id: uuid.UUID, *, limit: int, offset: int) -> Revenue:
    rows = await q.list_creator_earnings(conn, creator_id=creator_id, max_rows=limit, skip=offset)
    totals = await q.creator_earnings_total(conn, creator_id=creator_id)
    assert totals is not None  # an aggregate always has its row
    return Revenue(
        earnings=rows,
        earned_cents=totals.earned_cents,
        reversed_cents=totals.reversed_cents,
    )


async def analytics(conn: Connection, creator_id: uuid.UUID, *, since: datetime.datetime) -> CreatorAnalytics:
    row = await q.creator_analytics(conn, creator_id=creator_id, since=since)
    assert row is not None
    return CreatorAnalytics(
        since=since,
        clicks=row.clicks,
        unique_clicks=row.unique_clicks,
        signups=row.signups,
        conversions=row.conversions,
        revenue_cents=row.revenue_cents,
        links=await list_links(conn, creator_id),
    )
