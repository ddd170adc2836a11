"""Reconciliation: every subscription a provider may still change is compared with that provider, and drift is
fixed through the one recording path with the cause `reconcile` (so the history says why it changed).

Each provider is walked on its own lane, in subscription id order: at most RECONCILE_<PROVIDER>_CONCURRENCY calls
in flight, started at most RECONCILE_<PROVIDER>_CALLS_PER_SECOND, and all of the lane's calls paused together while
the provider asks us to wait (a 429 or 503, for its Retry-After, otherwise with backoff; the subscription is then
asked again). The lane's keyset position is saved after each page (`reconciliation_positions`), so a run stopped by
RECONCILE_MAX_RUN_SECONDS, by a Retry-After beyond it, or killed, is continued by the next run; reaching the end
completes the provider's pass and the next run starts a new one. Each run writes one
`reconciliation_provider_results` row per provider and adds it to that provider's running totals
(`reconciliation_provider_totals`, migration 0044), which the server exports at /metrics (app/ops/reconciliation.py).

Each run also drains the provider bindings imported from the previous backend (migration 0035, `cookcam import
supabase --subscriptions`): each pending one is fetched from its provider and, once the provider answers, recorded
through the same path for the binding's account and marked resolved; a provider error leaves it pending for the
next run, until it is given up as `dead` (migration 0037): after BILLING_IMPORTED_BINDING_MAX_REFUSALS answers
that the id does not exist, or at a failed attempt once older than BILLING_IMPORTED_BINDING_MAX_AGE_DAYS. Nothing is
granted from the old backend's own tier or status. Then it retries unfinished provider events
(app/billing/inbox/recovery.py) within what is left of the same time box.

Run by `cookcam jobs run reconcile` (single runner: the job's advisory lock) and by the in-process scheduler. Each
run also recovers unfinished provider events and writes a `reconciliation_runs` row; the SQL views
`billing_reconciliation_health` and `billing_reconciliation_alerts` read those rows.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import itertools
import logging
import uuid
from dataclasses import dataclass, field
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
from app.core.errors import AppError, Conflict, ServiceUnavailable, Unprocessable
from app.db.queries import billing as billing_q
from app.db.queries import reconcile as q
from app.db.types import Connection, ConnectionSource
from app.settings import Settings

log = logging.getLogger("cookcam.billing.reconcile")

PAGE_SIZE = 200  # imported bindings per page
# What a provider answers for an id it does not have (the App Store's 404, Google Play's 404/410 for the token,
# Stripe's resource_missing): a refusal, counted toward giving an imported binding up. Every other failure (the
# provider unavailable, our credentials or package refused) says nothing about the id.
NOT_FOUND_CODES = frozenset({"APPLE_TRANSACTION_UNKNOWN", "PURCHASE_TOKEN_INVALID", "STRIPE_SUBSCRIPTION_UNKNOWN"})
PROVIDERS = ("stripe", "apple", "google")
# Why a subscription drifted: the first of these that differed from what we held.
DRIFT_CAUSES = ("status", "tier", "period_end", "renewal", "other")


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


def configured(payments: PaymentProviders, provider: str) -> bool:
    """Whether this process has credentials to ask `provider`."""
    if provider == "stripe":
        return payments.stripe.client is not None
    if provider == "google":
        return payments.google.configured
    return payments.app_store_api.configured


async def current_state(
    payments: PaymentProviders, settings: Settings, user_id: uuid.UUID, row: Tracked
) -> ProviderState | None:
    """What the provider says the subscription is now (None: the provider's object no longer maps to us)."""
    if not configured(payments, row.provider):
        raise NotConfigured
    environment: StoreEnvironment = "production" if row.environment == "production" else "sandbox"
    if row.provider == "stripe":
        assert payments.stripe.client is not None  # configured
        fetched = await stripe_call(
            payments.stripe.client.v1.subscriptions.retrieve_async(row.provider_subscription_id)
        )
        subscription = msgspec.convert(fetched.to_dict(), Subscription)
        return state_of(subscription, datetime.datetime.now(datetime.UTC), settings.stripe)
    if row.provider == "google":
        purchase = await payments.google.fetch(row.provider_subscription_id)
        if purchase.needs_acknowledgement and purchase.status in GRANTING_STATUSES:
            # A bound purchase whose acknowledgement failed earlier: Google refunds it after three days otherwise.
            await payments.google.acknowledge(purchase)
        return purchase.state_for(user_id)
    purchase = await payments.app_store_api.purchase(row.provider_subscription_id, environment)
    return purchase.state_for(user_id)


@dataclass
class ProviderResult:
    """What one run saw of one provider."""

    provider: str
    checked: int = 0
    drifted: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: int = 0
    retries: int = 0
    skipped: int = 0
    pass_completed: bool = False

    def __str__(self) -> str:
        return (
            f"{self.provider} {self.checked} checked, {self.drifted.total()} drifted, {self.errors} error(s), "
            f"{self.retries} retried, {self.skipped} skipped{' (pass complete)' if self.pass_completed else ''}"
        )


class Lane:
    """One provider's calls: at most `concurrency` in flight, started `interval` seconds apart at least, and all
    held while the provider asked us to wait."""

    def __init__(self, concurrency: int, calls_per_second: float, deadline: float) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self._interval = 1.0 / calls_per_second
        self.deadline = deadline
        self._next_start = 0.0
        self._resume_at = 0.0

    async def turn(self) -> bool:
        """Wait for this call's start; False when the provider's wait ends past the run's deadline."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if self._resume_at > self.deadline:
                return False
            start = max(self._next_start, self._resume_at)
            if start <= now:
                self._next_start = max(now, self._next_start) + self._interval
                return True
            await asyncio.sleep(start - now)

    def pause(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, asyncio.get_running_loop().time() + seconds)


@dataclass(frozen=True)
class Walk:
    """What a lane's checks share during one run."""

    connect: ConnectionSource
    settings: Settings
    payments: PaymentProviders
    cause: Cause
    result: ProviderResult
    lane: Lane


async def reconcile(connect: ConnectionSource, settings: Settings, payments: PaymentProviders) -> str:
    """One reconciliation run (inside the job's lock); returns its summary line. Connections are borrowed around
    statements only: none is held while a provider answers."""
    async with connect() as run_conn:  # committed now: a run that dies stays visible as unfinished
        run_id = await q.start_reconciliation_run(run_conn)
    assert run_id is not None  # an insert ... returning always returns its row
    cause = Cause("reconcile", str(run_id))
    results = [ProviderResult(provider) for provider in PROVIDERS]
    deadline = asyncio.get_running_loop().time() + settings.reconcile.max_run_seconds
    # The lanes pace and retry provider calls themselves (one lane-wide pause per 429), so their clients do not.
    single_attempt = msgspec.structs.replace(settings.outbound, retry_attempts=1)
    checks = PaymentProviders.create(msgspec.structs.replace(settings, outbound=single_attempt), payments.hooks)
    progress = asyncio.create_task(_report_progress(results, settings.reconcile.progress_seconds))
    try:
        async with asyncio.TaskGroup() as lanes:
            for result in results:
                lane = _lane(settings, result.provider, deadline)
                lanes.create_task(_walk(Walk(connect, settings, checks, cause, result, lane)))
    finally:
        progress.cancel()
        await checks.close()
    async with connect() as conn:
        for result in results:
            await _record_result(conn, run_id, result)
    imported = await resolve_imported_bindings(connect, settings, payments, cause)
    recovery = await retry_unfinished_events(connect, settings, payments, deadline=deadline)
    checked = sum(r.checked for r in results)
    drifted = sum(r.drifted.total() for r in results)
    errors = sum(r.errors for r in results)
    skipped = sum(r.skipped for r in results)
    async with connect() as run_conn:
        await q.finish_reconciliation_run(
            run_conn,
            id=run_id,
            checked=checked + imported.answered,
            drifted=drifted,
            errors=errors + imported.errors + imported.dead,
            skipped=skipped,
            events_recovered=recovery.recovered,
        )
    return (
        f"reconciled {checked} subscription(s): {drifted} drifted and fixed, {errors} error(s), "
        f"{skipped} skipped ({'; '.join(map(str, results))}); {imported}; {recovery}"
    )


def _lane(settings: Settings, provider: str, deadline: float) -> Lane:
    config = settings.reconcile
    if provider == "stripe":
        return Lane(config.stripe_concurrency, config.stripe_calls_per_second, deadline)
    if provider == "apple":
        return Lane(config.apple_concurrency, config.apple_calls_per_second, deadline)
    return Lane(config.google_concurrency, config.google_calls_per_second, deadline)


async def _walk(walk: Walk) -> None:
    """Check one provider's subscriptions from its saved position, a page at a time, until the end of its pass,
    the run's deadline, or a wait that ends past it."""
    provider, result = walk.result.provider, walk.result
    if not configured(walk.payments, provider):
        # No credentials here: its subscriptions are counted as skipped, never asked; with none, the pass is done.
        async with walk.connect() as conn:
            result.skipped = await q.count_subscriptions_to_reconcile(conn, provider=provider) or 0
        if result.skipped == 0:
            await _complete_pass(walk)
        return
    loop = asyncio.get_running_loop()
    async with walk.connect() as conn:
        position = await q.get_reconciliation_position(conn, provider=provider)
    after = position.after_id if position else uuid.UUID(int=0)
    pass_started_at = position.pass_started_at if position else datetime.datetime.now(datetime.UTC)
    page_size = walk.settings.reconcile.page_size
    while True:
        async with walk.connect() as conn:
            rows = await q.list_subscriptions_to_reconcile(conn, provider=provider, after=after, page_size=page_size)
        answered = await asyncio.gather(*(_check(walk, row) for row in rows))
        done = sum(1 for _ in itertools.takewhile(bool, answered))
        if done == len(rows) < page_size:  # the last page
            await _complete_pass(walk)
            return
        if done:
            after = rows[done - 1].id
            async with walk.connect() as conn:
                await q.save_reconciliation_position(
                    conn, provider=provider, after_id=after, pass_started_at=pass_started_at
                )
        if done < len(rows) or loop.time() >= walk.lane.deadline:
            return


async def _complete_pass(walk: Walk) -> None:
    """The provider's pass reached its end: the next run starts a new one."""
    walk.result.pass_completed = True
    async with walk.connect() as conn:
        await q.clear_reconciliation_position(conn, provider=walk.result.provider)


async def _check(walk: Walk, row: q.ListSubscriptionsToReconcileRow) -> bool:
    """Ask the provider about one subscription and record its answer; False when the lane stopped before."""
    config, result, lane = walk.settings.reconcile, walk.result, walk.lane
    async with lane.slots:
        for attempt in itertools.count():
            if not await lane.turn():
                return False
            try:
                state = await current_state(walk.payments, walk.settings, row.user_id, row)
            except ServiceUnavailable as exc:  # a 429/503 (or a timeout) from the provider
                if attempt >= config.retry_attempts:
                    log.warning("reconcile: %s subscription %s: %s after retries", row.provider, row.id, exc.code)
                    result.errors += 1
                    return True
                result.retries += 1
                backoff = min(config.retry_max_seconds, config.retry_initial_seconds * 2**attempt)
                lane.pause(backoff if exc.provider_retry_after is None else exc.provider_retry_after)
                continue
            except AppError as exc:
                log.warning("reconcile: %s subscription %s: %s", row.provider, row.id, exc.code)
                result.errors += 1
                return True
            result.checked += 1
            async with walk.connect() as conn:
                if await apply_provider_state(conn, state, walk.cause, walk.payments.hooks) == "changed":
                    assert state is not None  # only a state can change a subscription
                    result.drifted[drift_cause(row, state)] += 1
            return True
    raise AssertionError("unreachable: itertools.count() never ends")


def drift_cause(held: q.ListSubscriptionsToReconcileRow, state: ProviderState) -> str:
    """The first of status, tier, period end and renewal that the provider's state changed; `other` otherwise."""
    if state.status != held.status:
        return "status"
    if state.tier_slug != held.tier_slug:
        return "tier"
    if state.current_period_end != held.current_period_end:
        return "period_end"
    if state.cancel_at_period_end != held.cancel_at_period_end:
        return "renewal"
    return "other"


async def _record_result(conn: Connection, run_id: uuid.UUID, result: ProviderResult) -> None:
    await q.record_reconciliation_provider_result(
        conn,
        run_id=run_id,
        provider=result.provider,
        checked=result.checked,
        drifted_status=result.drifted["status"],
        drifted_tier=result.drifted["tier"],
        drifted_period_end=result.drifted["period_end"],
        drifted_renewal=result.drifted["renewal"],
        drifted_other=result.drifted["other"],
        errors=result.errors,
        retries=result.retries,
        skipped=result.skipped,
        pass_completed_at=datetime.datetime.now(datetime.UTC) if result.pass_completed else None,
    )


async def _report_progress(results: list[ProviderResult], every_seconds: float) -> None:
    """Log each lane's figures while the run goes on (stderr)."""
    while True:
        await asyncio.sleep(every_seconds)
        log.info("reconcile: %s", "; ".join(map(str, results)))


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
