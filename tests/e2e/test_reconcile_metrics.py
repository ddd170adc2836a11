"""Reconciliation runs in a process of its own (`cookcam jobs run reconcile` from a timer or a CronJob): what it
saw reaches the server's /metrics through PostgreSQL."""

from __future__ import annotations

import datetime
import re
import uuid

import asyncpg

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.creators.billing_hooks import billing_hooks
from tests.e2e.test_cli import cookcam
from tests.fakes.google import fake_google


async def _google_subscription(db: asyncpg.Connection, token: str, period_end: datetime.datetime) -> None:
    user_id = await db.fetchval(
        "insert into users (email, password_hash, name) values ($1, 'x', 'C') returning id",
        f"{uuid.uuid4().hex}@metrics.test",
    )
    now = datetime.datetime.now(datetime.UTC)
    state = ProviderState(
        user_id=user_id,
        provider="google",
        provider_subscription_id=token,
        tier_slug="regular",
        status="active",
        environment="sandbox",
        billing_period="monthly",
        current_period_start=now - datetime.timedelta(days=1),
        current_period_end=period_end,
        provider_updated_at=now - datetime.timedelta(minutes=1),
    )
    await record_subscription_state(db, state, Cause("test", "setup"), billing_hooks())


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    assert match, f"{sample} not in /metrics"
    return float(match[1])


async def test_a_cli_run_is_exported_by_the_server_at_scrape_time(database_url, db, client, tmp_path) -> None:
    period_end = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=20)).replace(microsecond=0)
    with fake_google() as google:
        for token in ("tok-same", "tok-renewed", "tok-expired"):
            await _google_subscription(db, token, period_end)
        google.add_subscription("tok-same", acknowledged=True, expiry=period_end)
        google.add_subscription("tok-renewed", acknowledged=True, expiry=period_end + datetime.timedelta(days=30))
        google.add_subscription("tok-expired", acknowledged=True, state="SUBSCRIPTION_STATE_EXPIRED")
        before = datetime.datetime.now(datetime.UTC).timestamp()
        run = cookcam(
            "jobs",
            "run",
            "reconcile",
            env={
                "DATABASE_URL": database_url,
                "APP_ENV": "test",
                "GOOGLE_SERVICE_ACCOUNT_FILE": str(google.write_service_account(tmp_path / "sa.json")),
                "GOOGLE_ANDROIDPUBLISHER_BASE": google.base_url,
            },
        )
    assert run.returncode == 0, run.stderr
    assert "reconciled 3 subscription(s): 2 drifted and fixed" in run.stdout

    text = (await client.get("/metrics")).text
    assert _value(text, 'cookcam_reconciliation_checked_total{provider="google"}') == 3
    assert _value(text, 'cookcam_reconciliation_drifted_total{cause="status",provider="google"}') == 1
    assert _value(text, 'cookcam_reconciliation_drifted_total{cause="period_end",provider="google"}') == 1
    assert _value(text, 'cookcam_reconciliation_errors_total{provider="google"}') == 0
    assert _value(text, 'cookcam_reconciliation_retries_total{provider="google"}') == 0
    assert _value(text, 'cookcam_reconciliation_last_success_timestamp_seconds{provider="google"}') >= before
    # Stripe and Apple are not configured in that process, and have no subscriptions: their passes completed too.
    assert _value(text, 'cookcam_reconciliation_checked_total{provider="stripe"}') == 0
    assert _value(text, 'cookcam_reconciliation_last_success_timestamp_seconds{provider="apple"}') >= before
