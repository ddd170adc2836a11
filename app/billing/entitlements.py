"""Tiers, entitlements and the one way a subscription's state changes (with its history and real-time event).

The server decides entitlements from verified provider data only: `record_subscription_state` takes a state that a
provider module has verified; nothing here accepts a tier or product from a client.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict, cast

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

if TYPE_CHECKING:  # hooks.py names ProviderState in its own types
    from app.billing.hooks import BillingHooks
    from app.billing.inbox.processing import InboxEvent, StoreVerdict

log = logging.getLogger("cookcam.billing")

# Lowest to highest; the ranks seeded in sql/migrations/0002_entitlements.sql follow this order (a test checks).
TIER_ORDER: tuple[TierSlug, ...] = ("free", "regular", "creator")
TIER_RANK: dict[str, int] = {slug: rank for rank, slug in enumerate(TIER_ORDER)}
# Statuses that grant their tier (cancelled too, until its period ends; see cookcam_entitled_subscription).
GRANTING_STATUSES = frozenset({"trialing", "active", "grace_period", "cancelled"})


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


class AccountGone(Conflict):
    """A provider's state names an account deleted meanwhile: nothing is recorded (the answer a foreign key gives)."""

    def __init__(self) -> None:
        super().__init__("REFERENCE_CONFLICT", "That refers to something that does not exist or is in use.")


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
    change with its cause, run the hooks' triggers (the creators' revenue share) when something changed, and publish
    `subscription.updated` to the user when anything they see changed.

    The ordering rule (cookcam_subscription_ordering, migration 0054) decides whether the state moves the stored
    one: out-of-order and same-second deliveries cannot move a subscription backwards, and an ended Stripe
    subscription or Google purchase stays ended. A subscription id already bound to another account is refused
    (Conflict), and so is a state for an account deleted meanwhile (AccountGone); neither refusal writes anything.

    All of it is one statement (cookcam_record_subscription_state, migrations 0054, 0057 and 0058), atomic on its own or
    in the caller's transaction. A state equal to the stored one (most of reconciliation's answers) is first tried
    by one statement that moves only the provider's time forward, which is all the full recording would change then.
    """
    if not conn.is_in_transaction() and await _touch_unchanged(conn, state):
        return "unchanged"
    recorded = await q.record_subscription_state(
        conn, **state_arguments(state), cause_kind=cause.kind, cause_ref=cause.ref, hook_context=hooks.context_of(state)
    )
    assert recorded is not None  # the function always answers
    return recorded_outcome(recorded.outcome)


def recorded_outcome(outcome: str | None) -> RecordOutcome:
    """A recording statement's outcome, its refusals raised (it wrote nothing then)."""
    assert outcome is not None  # the function always answers
    if outcome == "owned_elsewhere":
        raise Conflict("SUBSCRIPTION_OWNED_ELSEWHERE", "This purchase belongs to another account.")
    if outcome == "no_account":
        raise AccountGone()
    return cast("RecordOutcome", outcome)


class StateArguments(TypedDict):
    """A state as the statements that record it take it."""

    user_id: uuid.UUID
    provider: str
    provider_subscription_id: str
    tier_slug: str
    status: str
    environment: str
    billing_period: str | None
    trial_ends_at: datetime.datetime | None
    current_period_start: datetime.datetime | None
    current_period_end: datetime.datetime | None
    cancel_at_period_end: bool
    provider_updated_at: datetime.datetime
    grace_until: datetime.datetime | None


def state_arguments(state: ProviderState) -> StateArguments:
    """The state's stored fields (family_shared and order_id are read by the creators' share only)."""
    return cast("StateArguments", {name: getattr(state, name) for name in StateArguments.__annotations__})


async def _touch_unchanged(conn: Connection, state: ProviderState) -> bool:
    """Whether the subscription was stored already as `state` says (same account, not ended, not newer) and only
    its provider time was moved forward: the ordering rule's verdict is then "apply" and nothing the user sees moves."""
    return await q.touch_unchanged_subscription(conn, **state_arguments(state)) is not None


async def record_with_event(
    conn: Connection, event: InboxEvent, state: ProviderState, hooks: BillingHooks
) -> StoreVerdict:
    """Store a provider event whose whole effect is `state`, with the state recorded as record_subscription_state
    does (caused by the event), in one statement. Its refusals are logged and skipped, as apply_provider_state's."""
    cause = Cause(f"{event.provider}_event", event.event_id)  # the function takes the event's id as the reference
    outcome = await q.store_subscription_event(
        conn,
        event_provider=event.provider,
        event_id=event.event_id,
        event_type=event.event_type,
        payload=msgspec.json.encode(event.payload).decode(),  # as sent (a Raw body is not re-encoded)
        **state_arguments(state),
        cause_kind=cause.kind,
        hook_context=hooks.context_of(state),
    )
    assert outcome is not None  # the function always answers
    if outcome in ("duplicate", "taken"):
        return cast("StoreVerdict", outcome)
    _refusal_skipped(outcome, cause, state)
    return "processed"


def _refusal_skipped(outcome: str, cause: Cause, state: ProviderState) -> None:
    if outcome == "no_account":
        log.warning("%s names a user that no longer exists; not applied", cause.ref)
    elif outcome == "owned_elsewhere":
        log.warning("%s: subscription %s is bound to another account", cause.ref, state.provider_subscription_id)


async def apply_provider_state(
    conn: Connection, state: ProviderState | None, cause: Cause, hooks: BillingHooks
) -> RecordOutcome | None:
    """Record a state that a provider event reported. Refusals that a redelivery would not change (the user was
    deleted, the subscription is bound to another account) are logged and skipped, so the event completes."""
    if state is None:
        return None
    try:
        # A refusal writes nothing, so the event's transaction stays usable.
        return await record_subscription_state(conn, state, cause, hooks)
    except AccountGone:
        _refusal_skipped("no_account", cause, state)
    except Conflict:
        _refusal_skipped("owned_elsewhere", cause, state)
    return None
