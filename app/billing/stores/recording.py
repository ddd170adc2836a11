"""Recording store purchases: who owns one that a notification names, and ending the purchase a new one replaces."""

from __future__ import annotations

import uuid

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.billing.fraud import identity_hash
from app.billing.hooks import BillingHooks
from app.billing.stores.purchase import StorePurchase
from app.db.queries import billing as q
from app.db.queries import users as users_q
from app.db.types import Connection


async def owner_of(conn: Connection, purchase: StorePurchase) -> uuid.UUID | None:
    """The account a store notification's purchase belongs to: the one it is bound to already; else the account
    the app bound it to (a UUID account token naming an existing user); else, for a replacement purchase, the
    owner of the purchase it replaces. None: nobody yet (the app's own validation will bind it)."""
    bound = await q.get_provider_subscription(
        conn, provider=purchase.provider, provider_subscription_id=purchase.identity
    )
    if bound is not None:
        return bound.user_id
    if purchase.account_token:
        try:
            named = uuid.UUID(purchase.account_token)
        except ValueError:
            named = None
        if named is not None and await users_q.user_exists(conn, id=named):
            return named
    if purchase.supersedes:
        replaced = await q.get_provider_subscription(
            conn, provider=purchase.provider, provider_subscription_id=purchase.supersedes
        )
        if replaced is not None:
            return replaced.user_id
    return None


async def supersede(conn: Connection, purchase: StorePurchase, hooks: BillingHooks) -> None:
    """Google: the linked (older) purchase token is replaced by this one; it ends now, whoever held it."""
    assert purchase.supersedes is not None
    old = await q.get_provider_subscription(
        conn, provider=purchase.provider, provider_subscription_id=purchase.supersedes
    )
    if old is None or old.status in ("expired", "revoked"):
        return
    ended = ProviderState(
        user_id=old.user_id,
        provider=purchase.provider,
        provider_subscription_id=purchase.supersedes,
        tier_slug=old.tier_slug,  # type: ignore[arg-type]  # a stored tier slug
        status="expired",
        environment=purchase.environment,
        billing_period=old.billing_period,  # type: ignore[arg-type]  # a stored billing period
        current_period_start=old.current_period_start,
        current_period_end=old.current_period_end,
        provider_updated_at=purchase.observed_at,
    )
    await record_subscription_state(conn, ended, Cause("superseded", identity_hash(purchase.identity)[:16]), hooks)
