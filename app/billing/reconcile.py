"""Reconciliation: every subscription a provider may still change is compared with that provider, and drift is
fixed through the one recording path with the cause `reconcile` (so the history says why it changed).

Run by `cookcam jobs run reconcile` (single runner: the job's advisory lock) and by the in-process scheduler. Each
run also recovers unfinished provider events and writes a `reconciliation_runs` row; the SQL views
`billing_reconciliation_health` and `billing_reconciliation_alerts` read those rows.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Protocol

import msgspec

from app.billing.entitlements import GRANTING_STATUSES, Cause, ProviderState, apply_provider_state
from app.billing.inbox.recovery import retry_unfinished_events
from app.billing.products import parse_products
from app.billing.providers import PaymentProviders
from app.billing.stores.purchase import StoreEnvironment
from app.billing.stripe.client import stripe_call
from app.billing.stripe.models import Subscription, state_of
from app.core.errors import AppError
from app.db.queries import billing as billing_q
from app.db.queries import reconcile as q
from app.db.types import ConnectionSource
from app.settings import Settings

log = logging.getLogger("cookcam.billing.reconcile")

PAGE_SIZE = 200


class NotConfigured(Exception):
    """This process has no credentials for the subscription's provider: the subscription is skipped."""


class Tracked(Protocol):
    """A subscription as stored: enough to ask its provider about it."""

    @property
    def provider(self) -> str: ...
    @property
    def provider_subscription_id(self) -> str: ...
    @property
    def environment(self) -> str: ...


async def current_state(
    payments: PaymentProviders, settings: Settings, user_id: uuid.UUID, row: Tracked
) -> ProviderState | None:
    """What the provider says the subscription is now (None: the provider's object no longer maps to us)."""
    environment: StoreEnvironment = "production" if row.environment == "production" else "sandbox"
    if row.provider == "stripe":
        if payments.stripe.client is None:
            raise NotConfigured
        fetched = await stripe_call(
            payments.stripe.client.v1.subscriptions.retrieve_async(row.provider_subscription_id)
        )
        subscription = msgspec.convert(fetched.to_dict(), Subscription)
        return state_of(subscription, datetime.datetime.now(datetime.UTC), parse_products(settings.stripe.prices))
    if row.provider == "google":
        if not payments.google.configured:
            raise NotConfigured
        purchase = await payments.google.fetch(row.provider_subscription_id)
        if purchase.needs_acknowledgement and purchase.status in GRANTING_STATUSES:
            # A bound purchase whose acknowledgement failed earlier: Google refunds it after three days otherwise.
            await payments.google.acknowledge(purchase)
        return purchase.state_for(user_id)
    if not payments.app_store_api.configured:
        raise NotConfigured
    purchase = await payments.app_store_api.purchase(row.provider_subscription_id, environment)
    return purchase.state_for(user_id)


async def reconcile(connect: ConnectionSource, settings: Settings, payments: PaymentProviders) -> str:
    """One reconciliation run (inside the job's lock); returns its summary line. Connections are borrowed around
    statements only: none is held while a provider answers."""
    async with connect() as run_conn:  # committed now: a run that dies stays visible as unfinished
        run_id = await q.start_reconciliation_run(run_conn)
    assert run_id is not None  # an insert ... returning always returns its row
    checked = drifted = errors = skipped = 0
    cause = Cause("reconcile", str(run_id))
    after = uuid.UUID(int=0)
    while rows := await _page(connect, after):
        after = rows[-1].id
        for row in rows:
            try:
                state = await current_state(payments, settings, row.user_id, row)
            except NotConfigured:
                skipped += 1
                continue
            except AppError as exc:
                log.warning("reconcile: %s subscription %s: %s", row.provider, row.id, exc.code)
                errors += 1
                continue
            checked += 1
            async with connect() as record_conn:
                if await apply_provider_state(record_conn, state, cause, payments.hooks) == "changed":
                    drifted += 1
    recovery = await retry_unfinished_events(connect, settings, payments)
    async with connect() as run_conn:
        await q.finish_reconciliation_run(
            run_conn,
            id=run_id,
            checked=checked,
            drifted=drifted,
            errors=errors,
            skipped=skipped,
            events_recovered=recovery.processed,
        )
    return (
        f"reconciled {checked} subscription(s): {drifted} drifted and fixed, {errors} error(s), "
        f"{skipped} skipped; {recovery}"
    )


async def _page(connect: ConnectionSource, after: uuid.UUID) -> list[q.ListSubscriptionsToReconcileRow]:
    async with connect() as conn:
        return await q.list_subscriptions_to_reconcile(conn, after=after, page_size=PAGE_SIZE)


async def refresh_user(
    connect: ConnectionSource, payments: PaymentProviders, settings: Settings, user_id: uuid.UUID, cause: Cause
) -> int:
    """Ask the providers about each of the user's live subscriptions now and record the answers (refresh-status);
    a provider failure is raised (503/502). Returns how many were refreshed."""
    async with connect() as conn:
        live = await billing_q.list_live_subscriptions(conn, user_id=user_id)
    refreshed = 0
    for row in live:
        try:
            state = await current_state(payments, settings, user_id, row)
        except NotConfigured:
            continue
        async with connect() as conn:
            await apply_provider_state(conn, state, cause, payments.hooks)
        refreshed += 1
    return refreshed
