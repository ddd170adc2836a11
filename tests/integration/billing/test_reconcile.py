"""Reconciliation against all three providers' loopback fakes: drift is fixed with the cause `reconcile`, failures
and unconfigured providers are counted, and the health views raise their alerts."""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Iterator

import asyncpg
import msgspec
import pytest

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.billing.providers import PaymentProviders
from app.creators.billing_hooks import billing_hooks
from app.db.pool import create_pool
from app.ops.jobs import run_locked
from app.settings import AppleSettings, GoogleSettings, OutboundSettings, Settings, StripeSettings
from tests.conftest import make_settings
from tests.fakes.apple import AppleSigner, fake_app_store_server_api, now_ms
from tests.fakes.google import fake_google
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


async def test_a_run_that_died_is_reported_as_unfinished(db: asyncpg.Connection) -> None:
    await db.execute("insert into reconciliation_runs (started_at) values (now() - interval '2 hours')")
    assert await db.fetchval("select alert from billing_reconciliation_alerts") == "run_unfinished"
