"""Reconciliation: every subscription a provider may still change is compared with that provider, and drift is
fixed through the one recording path with the cause `reconcile` (so the history says why it changed).

Each run also drains the provider bindings imported from the previous backend (migration 0035, `cookcam import
supabase --subscriptions`): each pending one is fetched from its provider and, once the provider answers, recorded
through the same path for the binding's account and marked resolved; a provider error leaves it pending for the
next run, until it is given up as `dead` (migration 0037): after BILLING_IMPORTED_BINDING_MAX_REFUSALS answers
that the id does not exist, or at a failed attempt once older than BILLING_IMPORTED_BINDING_MAX_AGE_DAYS. Nothing is
granted from the old backend's own tier or status.

Run by `cookcam jobs run reconcile` (single runner: the job's advisory lock) and by the in-process scheduler. Each
run also recovers unfinished provider events and writes a `reconciliation_runs` row; the SQL views
`billing_reconciliation_health` and `billing_reconciliation_alerts` read those rows.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

import msgspec

from app.billing.entitlements import (
    GRANTING_STATUSES,
    Cause,
    ProviderState,
    apply_provider_state,
    record_subscription_state,
)
from app.billing.inbox.recovery import retry_unfinished_events
from app.billing.providers import PaymentProviders
from app.billing.stores.purchase import StoreEnvironment
from app.billing.stripe.client import stripe_call
from app.billing.stripe.models import Subscription, state_of
from app.core.errors import AppError, Conflict, Unprocessable
from app.db.queries import billing as billing_q
from app.db.queries import reconcile as q
from app.db.types import ConnectionSource
from app.settings import Settings

log = logging.getLogger("cookcam.billing.reconcile")

PAGE_SIZE = 200
# What a provider answers for an id it does not have (the App Store's 404, Google Play's 404/410 for the token,
# Stripe's resource_missing): a refusal, counted toward giving an imported binding up. Every other failure (the
# provider unavailable, our credentials or package refused) says nothing about the id.
NOT_FOUND_CODES = frozenset({"APPLE_TRANSACTION_UNKNOWN", "PURCHASE_TOKEN_INVALID", "STRIPE_SUBSCRIPTION_UNKNOWN"})


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
        return state_of(subscription, datetime.datetime.now(datetime.UTC), settings.stripe)
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
    imported = await resolve_imported_bindings(connect, settings, payments, cause)
    recovery = await retry_unfinished_events(connect, settings, payments)
    async with connect() as run_conn:
        await q.finish_reconciliation_run(
            run_conn,
            id=run_id,
            checked=checked + imported.answered,
            drifted=drifted,
            errors=errors + imported.errors + imported.dead,
            skipped=skipped,
            events_recovered=recovery.processed,
        )
    return (
        f"reconciled {checked} subscription(s): {drifted} drifted and fixed, {errors} error(s), "
        f"{skipped} skipped; {imported}; {recovery}"
    )


@dataclass
class ImportedBindings:
    """What one run did with the pending imported bindings."""

    recorded: int = 0
    unmapped: int = 0
    conflicts: int = 0
    errors: int = 0
    dead: int = 0
    skipped: int = 0

    @property
    def answered(self) -> int:
        """Bindings the provider answered for (counted as checked in the run's row, as its errors are)."""
        return self.recorded + self.unmapped + self.conflicts

    def __str__(self) -> str:
        return (
            f"imported bindings: {self.recorded} recorded, {self.unmapped} unmapped, {self.conflicts} conflict(s), "
            f"{self.errors} error(s) (left pending), {self.dead} given up (dead), {self.skipped} skipped"
        )


async def imported_state(
    payments: PaymentProviders, settings: Settings, binding: q.ListPendingImportedBindingsRow
) -> ProviderState | None:
    """The provider's state of an imported binding, for the binding's account (None: the provider's object does
    not map onto a CookCam product). Raises Conflict when Stripe's subscription belongs to another customer than
    the export said."""
    if binding.provider != "stripe":
        return await current_state(payments, settings, binding.user_id, binding)
    if payments.stripe.client is None:
        raise NotConfigured
    fetched = await stripe_call(
        payments.stripe.client.v1.subscriptions.retrieve_async(binding.provider_subscription_id),
        missing=Unprocessable("STRIPE_SUBSCRIPTION_UNKNOWN", "Stripe does not know this subscription."),
    )
    subscription = msgspec.convert(fetched.to_dict(), Subscription)
    if binding.stripe_customer_id is not None and subscription.customer != binding.stripe_customer_id:
        raise Conflict("IMPORTED_BINDING_MISMATCH", "The Stripe subscription belongs to another customer.")
    # The old backend's subscriptions name no account of ours in their metadata: the binding does.
    subscription = msgspec.structs.replace(subscription, metadata={"user_id": str(binding.user_id)})
    return state_of(subscription, datetime.datetime.now(datetime.UTC), settings.stripe)


async def resolve_imported_bindings(
    connect: ConnectionSource, settings: Settings, payments: PaymentProviders, cause: Cause
) -> ImportedBindings:
    """Ask the provider about every pending imported binding; record what it answers for the binding's account
    and resolve the binding in the same transaction. No connection is held while a provider answers."""
    done = ImportedBindings()
    after = ("", "")
    while True:
        async with connect() as conn:
            rows = await q.list_pending_imported_bindings(
                conn, after_provider=after[0], after_id=after[1], page_size=PAGE_SIZE
            )
        if not rows:
            return done
        after = (rows[-1].provider, rows[-1].provider_subscription_id)
        for row in rows:
            outcome = await _resolve_binding(connect, settings, payments, cause, row)
            done.recorded += outcome == "recorded"
            done.unmapped += outcome == "unmapped"
            done.conflicts += outcome == "conflict"
            done.errors += outcome == "error"
            done.dead += outcome == "dead"
            done.skipped += outcome == "skipped"


async def _resolve_binding(
    connect: ConnectionSource,
    settings: Settings,
    payments: PaymentProviders,
    cause: Cause,
    row: q.ListPendingImportedBindingsRow,
) -> str:
    key = {"provider": row.provider, "provider_subscription_id": row.provider_subscription_id}
    outcome = "recorded"
    state: ProviderState | None = None
    try:
        state = await imported_state(payments, settings, row)
    except NotConfigured:
        return "skipped"  # stays pending until a process with that provider's credentials runs
    except Conflict:
        outcome = "conflict"
    except AppError as exc:
        if exc.code != "PRODUCT_UNKNOWN":  # PRODUCT_UNKNOWN: a store product not sold here, a definite answer
            log.warning("reconcile: imported %s binding of %s: %s", row.provider, row.user_id, exc.code)
            async with connect() as conn:
                dead = await q.record_imported_binding_failure(
                    conn,
                    refused=int(exc.code in NOT_FOUND_CODES),
                    error=exc.code,
                    max_refusals=settings.billing.imported_binding_max_refusals,
                    max_age_days=settings.billing.imported_binding_max_age_days,
                    **key,
                )
            return "dead" if dead else "error"
    async with connect() as conn, conn.transaction():
        if outcome == "recorded" and state is None:
            outcome = "unmapped"
        elif state is not None:
            try:
                await record_subscription_state(conn, state, cause, payments.hooks)
            except Conflict:
                outcome = "conflict"  # the subscription was recorded for another account meanwhile
        await q.resolve_imported_binding(conn, outcome=outcome, **key)
    return outcome


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
