"""The revenue share: each paid period of a referred account's subscription earns its referrer the creator tier's
share of the period's net amount (the tier's list price less the provider's fee), once, whichever provider or path
reports it (Stripe, App Store, Google Play; webhooks, validation or reconciliation); a refund or revocation of that
period reverses it. Runs inside the transaction that records the subscription's state.

Only real money earns: sandbox purchases (Stripe test mode, TestFlight and App Review, Google test accounts) and
Apple Family Sharing access never do, nor a period that began before the subscriber was attributed. An earning is
payable after its provider's hold (the refund and chargeback window, CreatorSettings)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from app.billing.entitlements import ProviderState
from app.billing.schemas import Provider
from app.creators.links import list_links
from app.creators.schemas import CreatorAnalytics, Revenue
from app.db.queries import creators as q
from app.db.types import Connection
from app.realtime.events import RealtimeEvent, publish
from app.settings import CreatorSettings

# States in which the current period has been paid for (grace periods and billing retries have not).
PAID_STATUSES = frozenset({"active", "cancelled"})


@dataclass(frozen=True)
class RevenueShare:
    """The revenue share with the hold of each provider's earnings, in days; `record_period` is the billing hook."""

    hold_days: dict[Provider, int]

    @classmethod
    def from_settings(cls, creators: CreatorSettings) -> RevenueShare:
        return cls(
            {
                "stripe": creators.hold_days_stripe,
                "apple": creators.hold_days_apple,
                "google": creators.hold_days_google,
            }
        )

    async def reverse_order(self, conn: Connection, provider: Provider, subscription_id: str, order_id: str) -> None:
        """A voided order (Google's refund or chargeback of one period, whichever period it paid for): its earning
        is reversed, once; an order that earned nothing reverses nothing."""
        await _reverse(conn, period_key(provider, subscription_id, order_id))

    async def record_period(self, conn: Connection, state: ProviderState) -> None:
        """Earn for the subscription's current period when it is paid, or reverse that when it was revoked."""
        if state.provider == "promotional":
            return  # an operator's grant is not a sale
        await _record_period(conn, state, self.hold_days[state.provider])


def period_key(provider: str, subscription_id: str, period: str) -> str:
    """What identifies one paid period of a subscription: its start, or for Google the order that paid for it."""
    return f"{provider}:{subscription_id}:{period}"


async def _reverse(conn: Connection, key: str) -> None:
    reversed_row = await q.reverse_earning(conn, period_key=key)
    if reversed_row is not None:
        data = {"amount_cents": reversed_row.amount_cents, "kind": "reversal"}
        await publish(conn, reversed_row.creator_id, RealtimeEvent("creator.earning", data))


async def _record_period(conn: Connection, state: ProviderState, hold_days: int) -> None:
    if state.tier_slug == "free" or state.current_period_start is None or state.billing_period is None:
        return
    if state.family_shared:
        # The organizer paid, through their own transaction; the family member's copy is not a sale (and its
        # revocation has nothing to reverse).
        return
    # A Google period is its order (Google reports no period start; ours is derived); the others' is their start.
    period = state.order_id or state.current_period_start.astimezone(datetime.UTC).isoformat()
    key = period_key(state.provider, state.provider_subscription_id, period)
    if state.status == "revoked":
        await _reverse(conn, key)
        return
    in_trial = state.trial_ends_at is not None and state.current_period_start < state.trial_ends_at
    if state.status not in PAID_STATUSES or in_trial:
        return
    earned = await q.insert_earning(
        conn,
        period_start=state.current_period_start,
        period_key=key,
        hold_days=hold_days,
        provider=state.provider,
        provider_subscription_id=state.provider_subscription_id,
        billing_period=state.billing_period,
        user_id=state.user_id,
    )
    if earned is not None:
        data = {"amount_cents": earned.amount_cents, "kind": "earning"}
        await publish(conn, earned.creator_id, RealtimeEvent("creator.earning", data))


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
