"""Operators' view and repair of one customer's billing: `cookcam billing customer`, `grant` and `revoke`
(docs/payments.md "Operator commands").

The customer view is one document: the account, its entitlement now, every subscription with its provider ids and
history, the promotional grants (who, why), the purchase transfers, recent provider events with their outcome, and
the revenue-share rows and payouts it took part in. `--json` prints it as one JSON object whose keys are documented
and kept stable; the text form is the same data as tables for a terminal.
"""

from __future__ import annotations

import datetime
import uuid

import msgspec

from app.billing import promotional
from app.billing.entitlements import entitlement_for
from app.core.errors import NotFound
from app.creators.billing_hooks import billing_hooks
from app.db.pool import connect
from app.db.queries import billing_support as q
from app.db.types import Connection

RECENT_ROWS = 50
NOT_FOUND_HINT = (
    "an email, an account id, a Stripe customer or subscription id, an Apple original transaction id or a Google "
    "purchase token"
)


class Account(msgspec.Struct, frozen=True):
    id: uuid.UUID
    email: str
    name: str | None
    created_at: datetime.datetime


class EntitlementView(msgspec.Struct, frozen=True):
    """The tier the account has now, and the subscription granting it (all null for the free tier)."""

    tier: str
    subscription_id: uuid.UUID | None
    provider: str | None
    status: str | None
    current_period_end: datetime.datetime | None


class HistoryEntry(msgspec.Struct, frozen=True):
    from_status: str | None
    to_status: str
    from_tier: str | None
    to_tier: str
    cause_kind: str
    cause_ref: str
    recorded_at: datetime.datetime


class SubscriptionView(msgspec.Struct, frozen=True):
    id: uuid.UUID
    provider: str
    provider_subscription_id: str
    tier: str
    status: str
    environment: str
    billing_period: str | None
    trial_ends_at: datetime.datetime | None
    current_period_start: datetime.datetime | None
    current_period_end: datetime.datetime | None
    cancel_at_period_end: bool
    provider_updated_at: datetime.datetime
    created_at: datetime.datetime
    history: list[HistoryEntry]


class CustomerView(msgspec.Struct, frozen=True):
    account: Account
    entitlement: EntitlementView
    stripe_customer_id: str | None
    subscriptions: list[SubscriptionView]
    promotional_actions: list[q.ListPromotionalActionsRow]
    subscription_transfers: list[q.ListSubscriptionTransfersRow]
    provider_events: list[q.ListBillingEventsRow]
    earnings: list[q.ListBillingEarningsRow]
    payouts: list[q.ListBillingPayoutsRow]


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


async def find_account(conn: Connection, needle: str) -> q.FindBillingAccountRow:
    """The account an operator names by email, account id or provider id; NotFound otherwise."""
    account = await q.find_billing_account(conn, needle=needle.strip(), account_id=_as_uuid(needle.strip()))
    if account is None:
        raise NotFound("ACCOUNT_NOT_FOUND", f"No account matches {needle!r} ({NOT_FOUND_HINT}).")
    return account


def _subscription(row: q.ListBillingSubscriptionsRow, history: list[q.ListBillingHistoryRow]) -> SubscriptionView:
    return SubscriptionView(
        id=row.id,
        provider=row.provider,
        provider_subscription_id=row.provider_subscription_id,
        tier=row.tier_slug,
        status=row.status,
        environment=row.environment,
        billing_period=row.billing_period,
        trial_ends_at=row.trial_ends_at,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        provider_updated_at=row.provider_updated_at,
        created_at=row.created_at,
        history=[
            HistoryEntry(h.from_status, h.to_status, h.from_tier, h.to_tier, h.cause_kind, h.cause_ref, h.recorded_at)
            for h in history
            if h.subscription_id == row.id
        ],
    )


async def customer_view(conn: Connection, needle: str) -> CustomerView:
    account = await find_account(conn, needle)
    user_id = account.id
    entitlement = await entitlement_for(conn, user_id)
    granting = entitlement.subscription
    subscriptions = await q.list_billing_subscriptions(conn, user_id=user_id)
    history = await q.list_billing_history(conn, user_id=user_id)
    stripe_customer = await q.billing_customer_stripe_id(conn, user_id=user_id)
    stripe_subscriptions = [s.provider_subscription_id for s in subscriptions if s.provider == "stripe"]
    return CustomerView(
        account=Account(account.id, account.email, account.name, account.created_at),
        entitlement=EntitlementView(
            tier=entitlement.slug,
            subscription_id=granting.id,
            provider=granting.provider,
            status=granting.status if granting.id is not None else None,
            current_period_end=granting.current_period_end,
        ),
        stripe_customer_id=stripe_customer,
        subscriptions=[_subscription(row, history) for row in subscriptions],
        promotional_actions=await q.list_promotional_actions(conn, user_id=user_id),
        subscription_transfers=await q.list_subscription_transfers(conn, user_id=user_id),
        provider_events=await q.list_billing_events(
            conn,
            user_id=user_id,
            stripe_customer_id=stripe_customer,
            stripe_subscription_ids=stripe_subscriptions,
            max_rows=RECENT_ROWS,
        ),
        earnings=await q.list_billing_earnings(conn, user_id=user_id, max_rows=RECENT_ROWS),
        payouts=await q.list_billing_payouts(conn, user_id=user_id, max_rows=RECENT_ROWS),
    )


def _when(value: datetime.datetime | None) -> str:
    return value.astimezone(datetime.UTC).isoformat(timespec="seconds") if value is not None else "-"


def _table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return [f"{title}: none"]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [f"{title}:"]
    for cells in (header, *rows):
        lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())
    return lines


def format_customer(view: CustomerView, *, as_json: bool) -> str:
    """The view as one JSON object, or as text tables for a terminal."""
    if as_json:
        return msgspec.json.encode(view).decode()
    account, entitlement = view.account, view.entitlement
    granted = (
        f" from {entitlement.provider} subscription {entitlement.subscription_id} ({entitlement.status}, period end "
        f"{_when(entitlement.current_period_end)})"
        if entitlement.subscription_id is not None
        else ""
    )
    lines = [
        f"Account: {account.email} ({account.id}), created {_when(account.created_at)}",
        f"Entitlement: {entitlement.tier}{granted}",
        f"Stripe customer: {view.stripe_customer_id or '-'}",
    ]
    lines += _table(
        "Subscriptions",
        ("provider", "provider id", "tier", "status", "env", "period end", "renews", "id"),
        [
            (
                s.provider,
                s.provider_subscription_id,
                s.tier,
                s.status,
                s.environment,
                _when(s.current_period_end),
                "no" if s.cancel_at_period_end else "yes",
                str(s.id),
            )
            for s in view.subscriptions
        ],
    )
    for s in view.subscriptions:
        lines += _table(
            f"History of {s.provider} {s.provider_subscription_id}",
            ("when", "status", "tier", "cause"),
            [
                (
                    _when(h.recorded_at),
                    f"{h.from_status or '-'} -> {h.to_status}",
                    f"{h.from_tier or '-'} -> {h.to_tier}",
                    f"{h.cause_kind} {h.cause_ref}",
                )
                for h in s.history
            ],
        )
    lines += _table(
        "Promotional actions",
        ("when", "action", "tier", "until", "operator", "reason", "id"),
        [
            (_when(a.recorded_at), a.action, a.tier_slug, _when(a.granted_until), a.operator, a.reason, str(a.id))
            for a in view.promotional_actions
        ],
    )
    lines += _table(
        "Transfers",
        ("when", "subscription", "from", "to", "cause", "request"),
        [
            (
                _when(t.recorded_at),
                str(t.subscription_id),
                str(t.from_user_id or "(deleted account)"),
                str(t.to_user_id),
                t.cause,
                t.cause_ref,
            )
            for t in view.subscription_transfers
        ],
    )
    lines += _table(
        f"Provider events (latest {RECENT_ROWS})",
        ("received", "provider", "type", "outcome", "attempts", "event id", "error"),
        [
            (
                _when(e.received_at),
                e.provider,
                e.event_type,
                e.status,
                str(e.attempts),
                e.event_id,
                e.error or "",
            )
            for e in view.provider_events
        ],
    )
    lines += _table(
        f"Earnings (latest {RECENT_ROWS})",
        ("when", "role", "kind", "amount", "provider", "period start"),
        [
            (
                _when(e.created_at),
                "creator" if e.creator_id == account.id else "referred",
                e.kind,
                f"{e.amount_cents / 100:.2f} {e.currency}",
                e.provider,
                _when(e.period_start),
            )
            for e in view.earnings
        ],
    )
    lines += _table(
        f"Payouts (latest {RECENT_ROWS})",
        ("requested", "status", "amount", "reversed", "transfer", "failure"),
        [
            (
                _when(p.created_at),
                p.status,
                f"{p.amount_cents / 100:.2f} {p.currency}",
                f"{p.reversed_cents / 100:.2f}",
                p.stripe_transfer_id or "-",
                p.failure_code or "",
            )
            for p in view.payouts
        ],
    )
    return "\n".join(lines)


async def customer_text(dsn: str, needle: str, *, as_json: bool) -> str:
    conn = await connect(dsn)
    try:
        return format_customer(await customer_view(conn, needle), as_json=as_json)
    finally:
        await conn.close()


async def grant_text(
    dsn: str,
    needle: str,
    tier: promotional.PromotionalTier,
    until: datetime.datetime,
    *,
    operator: str,
    reason: str,
) -> str:
    """`cookcam billing grant`: the grant, and the account's entitlement after it."""
    conn = await connect(dsn)
    try:
        account = await find_account(conn, needle)
        done = await promotional.grant(
            conn, billing_hooks(), user_id=account.id, tier=tier, until=until, operator=operator, reason=reason
        )
        now = await entitlement_for(conn, account.id)
    finally:
        await conn.close()
    replaced = f"; replaced {', '.join(done.ended)}" if done.ended else ""
    return (
        f"Granted {tier} to {account.email} ({account.id}) until {_when(until)} by {operator}"
        f" (action {done.id}){replaced}. Entitlement now: {now.slug}."
    )


async def revoke_text(dsn: str, needle: str, *, operator: str, reason: str) -> str:
    """`cookcam billing revoke`: the revocation, and the account's entitlement after it."""
    conn = await connect(dsn)
    try:
        account = await find_account(conn, needle)
        done = await promotional.revoke(conn, billing_hooks(), user_id=account.id, operator=operator, reason=reason)
        now = await entitlement_for(conn, account.id)
    finally:
        await conn.close()
    return (
        f"Revoked the promotional {done.tier_slug} grant of {account.email} ({account.id}) by {operator}"
        f" (action {done.id}). Entitlement now: {now.slug}."
    )
