"""Tiers, entitlements and the one way a subscription's state changes (with its history and real-time event).

The server decides entitlements from verified provider data only: `record_subscription_state` takes a state that a
provider module has verified; nothing here accepts a tier or product from a client.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import asyncpg
import msgspec

from app.billing.schemas import (
    BillingPeriod,
    Status,
    SubscriptionProvider,
    Tier,
    TierLimits,
    TierSlug,
    UserSubscription,
)
from app.core.errors import Conflict, Forbidden
from app.db.queries import billing as q
from app.db.types import Connection
from app.realtime.events import RealtimeEvent, publish

if TYPE_CHECKING:  # hooks.py names ProviderState in its own types
    from app.billing.hooks import BillingHooks

log = logging.getLogger("cookcam.billing")

# Lowest to highest; the ranks seeded in sql/migrations/0002_entitlements.sql follow this order (a test checks).
TIER_ORDER: tuple[TierSlug, ...] = ("free", "regular", "creator")
TIER_RANK: dict[str, int] = {slug: rank for rank, slug in enumerate(TIER_ORDER)}
SUBSCRIPTION_UPDATED = "subscription.updated"
# Statuses that grant their tier (cancelled too, until its period ends; see GetEntitledSubscription).
GRANTING_STATUSES = frozenset({"trialing", "active", "grace_period", "cancelled"})
# Statuses that end a subscription: the provider ended it (expired) or took the money back (revoked).
ENDING_STATUSES: frozenset[Status] = frozenset({"expired", "revoked"})
# Providers whose subscription id never runs again once it has ended (docs/payments.md, "The ordering rule"):
# Stripe's `canceled` and `incomplete_expired` are terminal (a new subscription gets a new id), and a Google
# purchase token that expired or was revoked never renews (a resubscription is a new token). The App Store keeps
# the originalTransactionId when a customer resubscribes and lifts a refund it reverses: nothing is final there.
FINAL_WHEN_ENDED: frozenset[SubscriptionProvider] = frozenset({"stripe", "google"})


class ProviderState(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription's state as a provider reported it, after verification."""

    user_id: uuid.UUID
    provider: SubscriptionProvider
    provider_subscription_id: str
    tier_slug: TierSlug
    status: Status
    environment: Literal["production", "sandbox"] = "production"
    # Apple Family Sharing: a family member's access to the organizer's purchase (inAppOwnershipType FAMILY_SHARED).
    # Not stored: only the creators' revenue share reads it (a shared purchase earns nothing).
    family_shared: bool = False
    billing_period: BillingPeriod | None = None
    trial_ends_at: datetime.datetime | None = None
    current_period_start: datetime.datetime | None = None
    current_period_end: datetime.datetime | None = None
    # Google: the order that paid for the current period, which identifies the period for the creators' revenue
    # share (Google's period start is derived, docs/payments.md). Not stored. Stripe, Apple: the period start does.
    order_id: str | None = None
    cancel_at_period_end: bool = False
    # Stripe billing grace: a `billing_retry` subscription keeps its tier until then (None: no grace).
    grace_until: datetime.datetime | None = None
    # The provider's own timestamp for this state: older data never overwrites newer (out-of-order delivery).
    provider_updated_at: datetime.datetime


@dataclass(frozen=True)
class Cause:
    """Why a state was recorded: a provider event, a job run or an API call, with its reference."""

    kind: str
    ref: str


RecordOutcome = Literal["created", "changed", "unchanged", "stale", "final"]


@dataclass(frozen=True)
class Entitlement:
    tier: Tier
    subscription: UserSubscription

    @property
    def slug(self) -> str:
        return self.tier.slug


def _tier(row: q.ListTiersRow) -> Tier:
    limits = TierLimits(row.scans_per_day, row.recipes_per_month, row.saved_recipes)
    return Tier(
        slug=row.slug,
        name=row.name,
        monthly_price_cents=row.monthly_price_cents,
        yearly_price_cents=row.yearly_price_cents,
        currency=row.currency,
        limits=limits,
        features=row.features,
        revenue_share_percent=row.revenue_share_percent,
    )


async def list_tiers(conn: Connection) -> list[Tier]:
    return [_tier(row) for row in await q.list_tiers(conn)]


def _user_subscription(row: q.ListUserSubscriptionsRow) -> UserSubscription:
    return UserSubscription(
        id=row.id,
        tier_slug=row.tier_slug,
        status=row.status,
        provider=row.provider,
        trial_ends_at=row.trial_ends_at,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
    )


FREE_SUBSCRIPTION = UserSubscription(
    id=None,
    tier_slug="free",
    status="active",
    provider=None,
    trial_ends_at=None,
    current_period_start=None,
    current_period_end=None,
    cancel_at_period_end=False,
)


async def user_subscriptions(conn: Connection, user_id: uuid.UUID) -> list[UserSubscription]:
    return [_user_subscription(row) for row in await q.list_user_subscriptions(conn, user_id=user_id)]


async def entitlement_for(conn: Connection, user_id: uuid.UUID) -> Entitlement:
    """The best tier any of the user's subscriptions grants right now (free when none does)."""
    granting = await q.get_entitled_subscription(conn, user_id=user_id)
    tiers = {tier.slug: tier for tier in await list_tiers(conn)}
    if granting is None:
        return Entitlement(tier=tiers["free"], subscription=FREE_SUBSCRIPTION)
    subscription = next(s for s in await user_subscriptions(conn, user_id) if s.id == granting.id)
    return Entitlement(tier=tiers[granting.tier_slug], subscription=subscription)


async def limits_for(conn: Connection, user_id: uuid.UUID) -> TierLimits:
    """The usage limits of the user's entitlement (entitlement_for's rule), in one read."""
    row = await q.get_tier_limits(conn, user_id=user_id)
    assert row is not None  # the free tier is seeded by migration 0002
    return TierLimits(row.scans_per_day, row.recipes_per_month, row.saved_recipes)


def require_tier(entitlement: Entitlement, minimum: TierSlug) -> None:
    """The guard for paid features: raise 403 unless the entitlement is `minimum` or better."""
    if TIER_RANK[entitlement.slug] >= TIER_RANK[minimum]:
        return
    if minimum == "creator":
        raise Forbidden("CREATOR_REQUIRED", "This needs an active Creator subscription.")
    raise Forbidden("SUBSCRIPTION_REQUIRED", "This needs an active CookCam Pro or Creator subscription.")


async def record_subscription_state(
    conn: Connection, state: ProviderState, cause: Cause, hooks: BillingHooks
) -> RecordOutcome:
    """Create or update the subscription from verified provider data, keep the history of every status or tier
    change with its cause, and publish `subscription.updated` to the user when anything they see changed.

    The ordering rule (`ordering`) decides whether the state moves the stored one: out-of-order and same-second
    deliveries cannot move a subscription backwards, and an ended Stripe subscription or Google purchase stays
    ended. A subscription id already bound to another account is refused.

    A state equal to the stored one (most of reconciliation's answers) is recorded by one statement that moves only
    the provider's time forward, which is all the full recording would change then.
    """
    if await _touch_unchanged(conn, state):
        return "unchanged"
    async with conn.transaction():
        before = await q.get_entitled_subscription(conn, user_id=state.user_id)
        created_id = await q.insert_subscription(
            conn,
            user_id=state.user_id,
            provider=state.provider,
            provider_subscription_id=state.provider_subscription_id,
            tier_slug=state.tier_slug,
            status=state.status,
            environment=state.environment,
            billing_period=state.billing_period,
            trial_ends_at=state.trial_ends_at,
            current_period_start=state.current_period_start,
            current_period_end=state.current_period_end,
            cancel_at_period_end=state.cancel_at_period_end,
            provider_updated_at=state.provider_updated_at,
            grace_until=state.grace_until,
        )
        if created_id is not None:
            await _append_history(conn, created_id, state=state, from_status=None, from_tier=None, cause=cause)
            outcome: RecordOutcome = "created"
        else:
            outcome = await _update_existing(conn, state, cause)
        if outcome in ("created", "changed"):
            # e.g. a referred subscriber's paid period earns their creator a share; a revocation reverses it.
            await hooks.subscription_recorded(conn, state)
        after = await q.get_entitled_subscription(conn, user_id=state.user_id)
        if outcome in ("created", "changed") or _slug(before) != _slug(after):
            await publish(
                conn,
                state.user_id,
                RealtimeEvent(SUBSCRIPTION_UPDATED, {"tier_slug": _slug(after), "status": state.status}),
            )
    return outcome


async def _touch_unchanged(conn: Connection, state: ProviderState) -> bool:
    """Whether the subscription was stored already as `state` says (same account, not ended, not newer) and only
    its provider time was moved forward: the verdict of `ordering` is then "apply" and nothing the user sees moves."""
    touched = await q.touch_unchanged_subscription(
        conn,
        provider=state.provider,
        provider_subscription_id=state.provider_subscription_id,
        user_id=state.user_id,
        tier_slug=state.tier_slug,
        status=state.status,
        environment=state.environment,
        billing_period=state.billing_period,
        trial_ends_at=state.trial_ends_at,
        current_period_start=state.current_period_start,
        current_period_end=state.current_period_end,
        cancel_at_period_end=state.cancel_at_period_end,
        provider_updated_at=state.provider_updated_at,
        grace_until=state.grace_until,
    )
    return touched is not None


async def apply_provider_state(
    conn: Connection, state: ProviderState | None, cause: Cause, hooks: BillingHooks
) -> RecordOutcome | None:
    """Record a state that a provider event reported. Refusals that a redelivery would not change (the user was
    deleted, the subscription is bound to another account) are logged and skipped, so the event completes."""
    if state is None:
        return None
    try:
        # record_subscription_state runs in its own transaction (a savepoint here), so a refusal rolls back only
        # its own work and leaves the event's transaction usable.
        return await record_subscription_state(conn, state, cause, hooks)
    except asyncpg.ForeignKeyViolationError:
        log.warning("%s names a user that no longer exists; not applied", cause.ref)
    except Conflict:
        log.warning("%s: subscription %s is bound to another account", cause.ref, state.provider_subscription_id)
    return None


async def _update_existing(conn: Connection, state: ProviderState, cause: Cause) -> RecordOutcome:
    current = await q.lock_subscription(
        conn, provider=state.provider, provider_subscription_id=state.provider_subscription_id
    )
    assert current is not None  # the insert found it, and subscriptions are only deleted with their user
    if current.user_id != state.user_id:
        raise Conflict("SUBSCRIPTION_OWNED_ELSEWHERE", "This purchase belongs to another account.")
    verdict = ordering(current.status, current.provider_updated_at, state)
    if verdict != "apply":
        return verdict
    if current.status == "revoked" and state.status not in GRANTING_STATUSES:
        # A refunded or disputed App Store purchase stays revoked (the "expired" that follows must not hide why);
        # only Apple granting it again (a reversed refund, a resubscription) lifts it. Stripe and Google: final.
        return "unchanged"
    await q.update_subscription(
        conn,
        id=current.id,
        tier_slug=state.tier_slug,
        status=state.status,
        environment=state.environment,
        billing_period=state.billing_period,
        trial_ends_at=state.trial_ends_at,
        current_period_start=state.current_period_start,
        current_period_end=state.current_period_end,
        cancel_at_period_end=state.cancel_at_period_end,
        # An ending applied whatever its time (below) never moves the stored time back.
        provider_updated_at=max(state.provider_updated_at, current.provider_updated_at),
        grace_until=state.grace_until,
    )
    if (current.status, current.tier_slug) == (state.status, state.tier_slug):
        # Not a status change (no history row), but the user sees it: a renewal switched off or back on, or a
        # period that moved (a renewal).
        seen = (current.cancel_at_period_end, current.current_period_end)
        return "changed" if seen != (state.cancel_at_period_end, state.current_period_end) else "unchanged"
    await _append_history(
        conn, current.id, state=state, from_status=current.status, from_tier=current.tier_slug, cause=cause
    )
    return "changed"


def ordering(
    stored_status: str, stored_at: datetime.datetime, state: ProviderState
) -> Literal["apply", "stale", "final"]:
    """The ordering rule (docs/payments.md): whether a provider's state moves the one stored for its subscription.

    1. Stripe and Google: an ended subscription (`expired`, `revoked`) is final, and a report that it ended applies
       whatever its timestamp, since it is true from then on. This alone decides every same-second pair with an
       ending, and a refetch stamped with our clock cannot hide a later `customer.subscription.deleted`.
    2. Otherwise the provider's own timestamp orders states: an older one is stale.
    3. On equal timestamps (Stripe's whole seconds, Apple's equal signedDates) an ending wins: a state that does
       not end the subscription does not replace one that does.
    """
    ended = stored_status in ENDING_STATUSES
    if state.provider in FINAL_WHEN_ENDED:
        if ended:
            return "final"
        if state.status in ENDING_STATUSES:
            return "apply"
    if state.provider_updated_at < stored_at:
        return "stale"
    if state.provider_updated_at == stored_at and ended and state.status not in ENDING_STATUSES:
        return "stale"
    return "apply"


async def _append_history(
    conn: Connection,
    subscription_id: uuid.UUID,
    *,
    state: ProviderState,
    from_status: str | None,
    from_tier: str | None,
    cause: Cause,
) -> None:
    await q.insert_status_history(
        conn,
        subscription_id=subscription_id,
        user_id=state.user_id,
        from_status=from_status,
        to_status=state.status,
        from_tier=from_tier,
        to_tier=state.tier_slug,
        cause_kind=cause.kind,
        cause_ref=cause.ref,
    )


def _slug(row: q.GetEntitledSubscriptionRow | None) -> str:
    return row.tier_slug if row is not None else "free"
