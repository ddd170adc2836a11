"""Reconciliation against all three providers' loopback fakes: drift is fixed with the cause `reconcile`, failures
and unconfigured providers are counted, and the health views raise their alerts."""

from __future__ import annotations

import collections
import contextlib
import datetime
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import msgspec
import pytest

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.billing.providers import PaymentProviders
from app.creators.billing_hooks import billing_hooks
from app.db.pool import create_pool
from app.ops.jobs import run_locked
from app.ops.reconciliation import render_reconciliation
from app.settings import (
    AppleSettings,
    GoogleSettings,
    OutboundSettings,
    Settings,
    StripeSettings,
)
from tests.conftest import make_settings
from tests.fakes.apple import AppleSigner, fake_app_store_server_api, now_ms
from tests.fakes.google import FakeGoogle, fake_google
from tests.fakes.stripe_api import fake_stripe
from tests.integration.billing.conftest import TEST_SECRET_KEY

FAST_RETRIES = OutboundSettings(retry_attempts=2, retry_initial_seconds=0.01, retry_max_seconds=0.05)


@pytest.fixture
def providers(database_url: str, tmp_path) -> Iterator[tuple[Settings, dict]]:
    """Settings pointing at a fake Stripe, Google Play and App Store Server API, with the fakes."""
    signer = AppleSigner()
    with (
        fake_stripe({"cookcam_regular_monthly": "price_reg_m"}) as (stripe_url, stripe),
        fake_google() as google,
        fake_app_store_server_api(signer=signer) as apple,
    ):
        key_file = tmp_path / "AuthKey.p8"
        key_file.write_text(apple.private_key_pem)
        settings = msgspec.structs.replace(
            make_settings(database_url),
            stripe=StripeSettings(secret_key=TEST_SECRET_KEY, api_base=stripe_url),
            google=GoogleSettings(
                service_account_file=str(google.write_service_account(tmp_path / "sa.json")),
                androidpublisher_base=google.base_url,
            ),
            apple=AppleSettings(
                root_certificates=(str(signer.write_root(tmp_path / "root.cer")),),
                api_key_id=apple.key_id,
                api_issuer_id=apple.issuer_id,
                api_private_key_file=str(key_file),
                sandbox_api_base=apple.base_url,
            ),
            outbound=FAST_RETRIES,
        )
        yield settings, {"stripe": stripe, "google": google, "apple": apple, "signer": signer}


async def _user(db: asyncpg.Connection) -> uuid.UUID:
    email = f"{uuid.uuid4().hex}@reconcile.test"
    return await db.fetchval("insert into users (email, password_hash, name) values ($1, 'x', 'C') returning id", email)


PERIOD_END = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=29)).replace(microsecond=0)


async def _active(db: asyncpg.Connection, user_id: uuid.UUID, provider: str, subscription_id: str) -> None:
    """A subscription we believe active until PERIOD_END, recorded a minute ago."""
    now = datetime.datetime.now(datetime.UTC)
    state = ProviderState(
        user_id=user_id,
        provider=provider,  # type: ignore[arg-type]
        provider_subscription_id=subscription_id,
        tier_slug="regular",
        status="active",
        environment="sandbox",
        billing_period="monthly",
        current_period_start=now - datetime.timedelta(days=1),
        current_period_end=PERIOD_END,
        provider_updated_at=now - datetime.timedelta(minutes=1),
    )
    await record_subscription_state(db, state, Cause("test", "setup"), billing_hooks())


def _stripe_subscription(user_id: uuid.UUID, status: str) -> dict:
    now = int(time.time())
    item = {"id": "si_1", "price": {"id": "price_reg_m", "lookup_key": "cookcam_regular_monthly"}}
    item |= {"current_period_start": now, "current_period_end": now + 30 * 86400}
    return {
        "id": "sub_drift",
        "object": "subscription",
        "status": status,
        "metadata": {"user_id": str(user_id)},
        "livemode": False,
        "items": {"object": "list", "data": [item]},
    }


async def _run(settings: Settings, database_url: str, job: str = "reconcile") -> str:
    pool = await create_pool(database_url, settings.database)
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        return await run_locked(job, pool, settings, payments)
    finally:
        await payments.close()
        await pool.close()


async def test_drift_is_fixed_with_its_cause_and_failures_are_counted(providers, database_url, db) -> None:
    settings, fakes = providers
    stripe_user, google_user, apple_user, synced_user, lost_user = [await _user(db) for _ in range(5)]
    await _active(db, stripe_user, "stripe", "sub_drift")
    fakes["stripe"].subscriptions["sub_drift"] = _stripe_subscription(stripe_user, "past_due")
    await _active(db, google_user, "google", "tok-expired")
    fakes["google"].add_subscription("tok-expired", state="SUBSCRIPTION_STATE_EXPIRED")
    signer = fakes["signer"]
    refunded = signer.transaction(revocationDate=now_ms(), revocationReason=0)
    await _active(db, apple_user, "apple", refunded["originalTransactionId"])
    fakes["apple"].set_subscription(refunded["originalTransactionId"], 5, refunded, signer.renewal_info(refunded))
    await _active(db, synced_user, "google", "tok-fine")
    # Bound earlier, but its acknowledgement failed then: reconciliation acknowledges it.
    fakes["google"].add_subscription("tok-fine", acknowledged=False, expiry=PERIOD_END)
    await _active(db, lost_user, "google", "tok-unknown-to-google")

    summary = await _run(settings, database_url)
    assert "reconciled 4 subscription(s): 3 drifted and fixed, 1 error(s), 0 skipped" in summary
    statuses = dict(await db.fetch("select provider_subscription_id, status from subscriptions"))
    assert statuses["sub_drift"] == "billing_retry"
    assert statuses["tok-expired"] == "expired"
    assert statuses[refunded["originalTransactionId"]] == "revoked"
    assert statuses["tok-fine"] == "active"
    assert fakes["google"].acknowledgements["tok-fine"] == 1
    assert fakes["google"].acknowledgements["tok-expired"] == 0  # nothing to keep: not acknowledged
    causes = await db.fetch("select cause_kind, cause_ref from subscription_status_history where cause_kind <> 'test'")
    run_id = await db.fetchval("select id::text from reconciliation_runs")
    assert {(r["cause_kind"], r["cause_ref"]) for r in causes} == {("reconcile", run_id)}

    health = await db.fetchrow(
        "select checked, drifted, errors, drift_rate, error_rate from billing_reconciliation_health"
    )
    assert (health["checked"], health["drifted"], health["errors"]) == (4, 3, 1)
    alerts = {r["alert"] for r in await db.fetch("select alert from billing_reconciliation_alerts")}
    assert alerts == {"error_rate_above_10_percent", "drift_above_5_percent"}


async def test_a_second_run_finds_no_drift_and_unconfigured_providers_are_skipped(providers, database_url, db) -> None:
    settings, fakes = providers
    user_id = await _user(db)
    await _active(db, user_id, "google", "tok-steady")
    fakes["google"].add_subscription("tok-steady", acknowledged=True)  # renewed: a later period end than ours
    assert "reconciled 1 subscription(s): 1 drifted" in await _run(settings, database_url)
    assert "reconciled 1 subscription(s): 0 drifted" in await _run(settings, database_url)
    bare = make_settings(database_url)
    assert "0 subscription(s): 0 drifted and fixed, 0 error(s), 1 skipped" in await _run(bare, database_url)
    assert await db.fetchval("select count(*) from billing_reconciliation_alerts") == 0


def _with(settings: Settings, **reconcile: float) -> Settings:
    return msgspec.structs.replace(settings, reconcile=msgspec.structs.replace(settings.reconcile, **reconcile))


async def _google_subscriptions(db: asyncpg.Connection, google: FakeGoogle, count: int) -> list[str]:
    tokens = [f"tok-{n:02d}" for n in range(count)]
    for token in tokens:
        await _active(db, await _user(db), "google", token)
        google.add_subscription(token, acknowledged=True, expiry=PERIOD_END)
    return tokens


def _fetches(google: FakeGoogle) -> collections.Counter[str]:
    """Google subscriptionsv2 reads per purchase token."""
    return collections.Counter(
        path.rsplit("/", 1)[1] for method, path in google.requests if method == "GET" and "subscriptionsv2" in path
    )


async def test_a_stopped_pass_continues_from_its_position_and_checks_each_subscription_once(
    providers, database_url, db
) -> None:
    settings, fakes = providers
    tokens = await _google_subscriptions(db, fakes["google"], 5)
    # Pages of two and a time box that ends the run after its first page: three runs make one pass.
    boxed = _with(settings, page_size=2, max_run_seconds=0.001)
    first = await _run(boxed, database_url)
    assert "google 2 checked" in first
    assert await db.fetchval("select count(*) from reconciliation_positions where provider = 'google'") == 1
    assert "google 2 checked" in await _run(boxed, database_url)
    last = await _run(boxed, database_url)
    assert "google 1 checked, 0 drifted, 0 error(s), 0 retried, 0 skipped (pass complete)" in last
    assert _fetches(fakes["google"]) == dict.fromkeys(tokens, 1)
    assert await db.fetchval("select count(*) from reconciliation_positions") == 0
    completed = await db.fetch(
        "select provider, pass_completed_at is not null as done from reconciliation_provider_results r "
        "join reconciliation_runs u on u.id = r.run_id order by u.started_at, provider"
    )
    google_passes = [r["done"] for r in completed if r["provider"] == "google"]
    assert google_passes == [False, False, True]
    # The next run starts a new pass from the beginning.
    assert "google 5 checked" in await _run(settings, database_url)


async def test_metrics_export_the_sums_of_the_runs_from_one_row_per_provider(providers, database_url, db) -> None:
    settings, fakes = providers
    tokens = await _google_subscriptions(db, fakes["google"], 3)
    fakes["google"].add_subscription(tokens[0], acknowledged=True, state="SUBSCRIPTION_STATE_EXPIRED")
    assert "google 3 checked, 1 drifted" in await _run(settings, database_url)
    assert "google 2 checked, 0 drifted" in await _run(settings, database_url)

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[asyncpg.Connection]:
        yield db

    def exported() -> dict[str, float]:
        return {
            sample: float(value)
            for sample, value in (
                line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("cookcam_reconciliation")
            )
        }

    text = (await render_reconciliation(connect, 5)).decode()
    two_runs = exported()
    assert two_runs['cookcam_reconciliation_checked_total{provider="google"}'] == 5
    assert two_runs['cookcam_reconciliation_drifted_total{cause="status",provider="google"}'] == 1
    assert two_runs['cookcam_reconciliation_checked_total{provider="stripe"}'] == 0
    last_run = await db.fetchval(
        "select max(recorded_at) from reconciliation_provider_results where provider = 'google'"
    )
    assert two_runs['cookcam_reconciliation_last_run_timestamp_seconds{provider="google"}'] == last_run.timestamp()
    completed = await db.fetchval("select max(pass_completed_at) from reconciliation_provider_results")
    assert two_runs['cookcam_reconciliation_last_success_timestamp_seconds{provider="google"}'] == (
        completed.timestamp()
    )
    # The runs' own rows go after their retention; the counters do not go back, and a scrape reads one row per
    # provider however many runs there were.
    assert "deleted 6 reconciliation run figure(s)" in await _run(
        _with(settings, results_retention_days=0), database_url, job="purge-expired"
    )
    assert await db.fetchval("select count(*) from reconciliation_provider_results") == 0
    text = (await render_reconciliation(connect, 5)).decode()
    assert exported() == two_runs
    assert "google 2 checked" in await _run(settings, database_url)
    text = (await render_reconciliation(connect, 5)).decode()
    assert exported()['cookcam_reconciliation_checked_total{provider="google"}'] == 7
    assert await db.fetchval("select count(*) from reconciliation_provider_totals") == 3


async def test_calls_in_flight_stay_within_the_provider_concurrency_and_rate(providers, database_url, db) -> None:
    settings, fakes = providers
    google = fakes["google"]
    await _google_subscriptions(db, google, 12)
    google.traffic.latency_seconds = 0.1
    summary = await _run(_with(settings, google_concurrency=3, google_calls_per_second=20), database_url)
    assert "google 12 checked" in summary
    assert google.traffic.peak == 3  # the token request comes first, alone
    # Three in flight at 100 ms each would start 30 a second: the lane starts at most 20 (the first calls wait for
    # the access token together, so only the later ones show the pace).
    later = google.traffic.started[-8:]
    assert later[-1] - later[0] >= 7 / 20 - 0.02


async def test_a_429_pauses_the_provider_for_its_retry_after_and_is_neither_drift_nor_error(
    providers, database_url, db
) -> None:
    settings, fakes = providers
    signer, apple = fakes["signer"], fakes["apple"]
    user_id = await _user(db)
    transaction = signer.transaction(expiresDate=int(PERIOD_END.timestamp() * 1000))
    original = transaction["originalTransactionId"]
    await _active(db, user_id, "apple", original)
    await db.execute("update subscriptions set environment = 'sandbox', cancel_at_period_end = false")
    apple.set_subscription(original, 1, transaction, signer.renewal_info(transaction))
    # Apple: Retry-After is the UNIX time in milliseconds when requests may resume.
    resume_ms = now_ms() + 1500
    apple.fail_next(429, retry_after_ms=resume_ms)
    summary = await _run(settings, database_url)
    assert "apple 1 checked, 0 drifted, 0 error(s), 1 retried" in summary
    statuses = [r for r in apple.requests if "/inApps/v1/subscriptions/" in r[1]]
    assert len(statuses) == 2
    assert apple.traffic.started[-1] >= resume_ms / 1000
    row = await db.fetchrow(
        "select checked, errors, retries from reconciliation_provider_results where provider = 'apple'"
    )
    assert (row["checked"], row["errors"], row["retries"]) == (1, 0, 1)


async def test_stripe_429_without_retry_after_is_retried_with_backoff(providers, database_url, db) -> None:
    settings, fakes = providers
    user_id = await _user(db)
    await _active(db, user_id, "stripe", "sub_drift")
    fakes["stripe"].subscriptions["sub_drift"] = _stripe_subscription(user_id, "active")
    fakes["stripe"].rate_limit_next = 2
    summary = await _run(_with(settings, retry_initial_seconds=0.2), database_url)
    assert "stripe 1 checked" in summary and "0 error(s), 2 retried" in summary
    starts = fakes["stripe"].traffic.started
    assert starts[1] - starts[0] >= 0.2 and starts[2] - starts[1] >= 0.4  # doubling from the initial wait


async def test_a_provider_that_keeps_answering_429_counts_one_error(providers, database_url, db) -> None:
    settings, fakes = providers
    user_id = await _user(db)
    await _active(db, user_id, "stripe", "sub_drift")
    fakes["stripe"].rate_limit_next = 10
    summary = await _run(_with(settings, retry_attempts=2, retry_initial_seconds=0.01), database_url)
    assert "stripe 0 checked, 0 drifted, 1 error(s), 2 retried" in summary


async def test_a_run_that_died_is_reported_as_unfinished(db: asyncpg.Connection) -> None:
    await db.execute("insert into reconciliation_runs (started_at) values (now() - interval '2 hours')")
    assert await db.fetchval("select alert from billing_reconciliation_alerts") == "run_unfinished"
