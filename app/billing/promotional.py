"""Promotional entitlements: an operator grants an account a tier until a date, or revokes it, with who and why
(`cookcam billing grant` / `revoke`, docs/payments.md "Operator commands").

A grant is a subscription of its own provider, `promotional`, recorded through the one way a subscription changes
(`record_subscription_state`, so it has its history row and its real-time event). It is recorded as a subscription
that does not renew: `cancelled` with `cancel_at_period_end` and `current_period_end` = the grant's end, which every
entitlement rule already reads as "grants its tier until then", compared with now() at read time: it ends without a
job. It has no billing period and is never paid, so it never earns a creator a revenue share. A new grant ends the
account's live one (recorded `expired`); a revocation records `revoked` at once. Each action also writes a
`promotional_actions` row (operator, reason), which the history row names and the account's export includes.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Final, Literal

import msgspec

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.billing.hooks import BillingHooks
from app.core.errors import NotFound, Unprocessable
from app.db.queries import billing_support as q
from app.db.types import Connection

PROMOTIONAL: Final = "promotional"
PromotionalTier = Literal["regular", "creator"]
TIERS: dict[str, PromotionalTier] = {"regular": "regular", "creator": "creator"}
MAX_REASON = 500
MAX_OPERATOR = 100


class PromotionalAction(msgspec.Struct, frozen=True):
    """What an operator's grant or revocation did."""

    id: uuid.UUID
    action: Literal["grant", "revoke"]
    user_id: uuid.UUID
    tier_slug: str
    granted_until: datetime.datetime
    # The promotional subscriptions it ended (a revocation's, or the grant a new grant replaced).
    ended: list[str]


def _check_words(operator: str, reason: str) -> None:
    if not operator.strip() or len(operator) > MAX_OPERATOR:
        raise Unprocessable("OPERATOR_INVALID", f"The operator must be 1 to {MAX_OPERATOR} characters.")
    if not reason.strip() or len(reason) > MAX_REASON:
        raise Unprocessable("REASON_INVALID", f"The reason must be 1 to {MAX_REASON} characters.")


async def _lock_account(conn: Connection, user_id: uuid.UUID) -> None:
    if await q.lock_billing_account(conn, user_id=user_id) is None:
        raise NotFound("ACCOUNT_NOT_FOUND", f"No account {user_id}.")


def _ended(
    row: q.LockLivePromotionalSubscriptionsRow,
    user_id: uuid.UUID,
    status: Literal["expired", "revoked"],
    now: datetime.datetime,
) -> ProviderState:
    """The grant in `row`, ended now: `expired` when a new grant replaces it, `revoked` by an operator."""
    return ProviderState(
        user_id=user_id,
        provider=PROMOTIONAL,
        provider_subscription_id=row.provider_subscription_id,
        tier_slug=TIERS[row.tier_slug],
        status=status,
        cancel_at_period_end=True,
        current_period_start=row.current_period_start,
        current_period_end=now,
        provider_updated_at=now,
    )


async def grant(
    conn: Connection,
    hooks: BillingHooks,
    *,
    user_id: uuid.UUID,
    tier: PromotionalTier,
    until: datetime.datetime,
    operator: str,
    reason: str,
) -> PromotionalAction:
    """Grant `tier` until `until` (in the future), replacing the account's live promotional grant if any."""
    _check_words(operator, reason)
    now = datetime.datetime.now(datetime.UTC)
    if until <= now:
        raise Unprocessable("GRANT_UNTIL_PAST", "A promotional grant must end in the future.")
    action_id = uuid.uuid4()
    cause = Cause(PROMOTIONAL, str(action_id))
    subscription_id = f"promo_{action_id.hex}"
    async with conn.transaction():
        await _lock_account(conn, user_id)
        live = await q.lock_live_promotional_subscriptions(conn, user_id=user_id)
        for row in live:
            await record_subscription_state(conn, _ended(row, user_id, "expired", now), cause, hooks)
        state = ProviderState(
            user_id=user_id,
            provider=PROMOTIONAL,
            provider_subscription_id=subscription_id,
            tier_slug=tier,
            status="cancelled",
            cancel_at_period_end=True,
            current_period_start=now,
            current_period_end=until,
            provider_updated_at=now,
        )
        await record_subscription_state(conn, state, cause, hooks)
        await q.insert_promotional_action(
            conn,
            id=action_id,
            action="grant",
            tier_slug=tier,
            granted_until=until,
            operator=operator,
            reason=reason,
            provider_subscription_id=subscription_id,
        )
    ended = [row.provider_subscription_id for row in live]
    return PromotionalAction(action_id, "grant", user_id, tier, until, ended)


async def revoke(
    conn: Connection, hooks: BillingHooks, *, user_id: uuid.UUID, operator: str, reason: str
) -> PromotionalAction:
    """End the account's promotional grant in force now (recorded `revoked`)."""
    _check_words(operator, reason)
    now = datetime.datetime.now(datetime.UTC)
    action_id = uuid.uuid4()
    cause = Cause(PROMOTIONAL, str(action_id))
    async with conn.transaction():
        await _lock_account(conn, user_id)
        # A grant replaces the one before it under the account's lock, so at most one is in force.
        live = await q.lock_live_promotional_subscriptions(conn, user_id=user_id)
        if not live:
            raise NotFound("NO_PROMOTIONAL_GRANT", f"Account {user_id} has no promotional grant in force.")
        (row,) = live
        ends = row.current_period_end
        assert ends is not None  # the query keeps only grants that end in the future
        await record_subscription_state(conn, _ended(row, user_id, "revoked", now), cause, hooks)
        await q.insert_promotional_action(
            conn,
            id=action_id,
            action="revoke",
            tier_slug=row.tier_slug,
            granted_until=ends,
            operator=operator,
            reason=reason,
            provider_subscription_id=row.provider_subscription_id,
        )
    return PromotionalAction(action_id, "revoke", user_id, row.tier_slug, ends, [row.provider_subscription_id])
