"""How long `cookcam jobs run reconcile` takes over N subscriptions against the loopback fakes of Stripe, the App
Store Server API and Google Play, each answering after a realistic round trip (docs/benchmarks.md).

    .venv/bin/python -m bench.reconcile [--subscriptions 100000] [--latency-ms 150]

Creates a migrated throwaway database on the test PostgreSQL and fills it with set-based SQL (one account and one
live subscription per index, the providers in turn; one in a hundred has changed at its provider), serves the
three fakes in a process of their own (so their threads do not share the job's interpreter), then runs the job as
the CLI does (`run_job`, the reconcile job's settings at their defaults) until each provider has completed a pass
(`--passes`: that many; the seeded rows differ from the fakes' answers in fields other than the ones that count as
drift, e.g. the period start, so the first pass records each answer in full and later passes find them equal),
printing each run's duration, the job process's CPU time and summary, and the machine's load. The job's progress
lines go to stderr. The scheduled window is the shorter of the deploy limits: the systemd unit's
TimeoutStartSec (15 min); the CronJob allows 30."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import multiprocessing
import os
import tempfile
import time
from multiprocessing.connection import Connection as Pipe
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from app.core.logging import configure_logging
from app.db.migrations import migrate
from app.ops.jobs import run_job
from app.settings import AppleSettings, GoogleSettings, StripeSettings
from tests.conftest import make_settings
from tests.fakes.apple import AppleSigner, fake_app_store_server_api
from tests.fakes.google import fake_google
from tests.fakes.loopback import QuietHandler
from tests.fakes.stripe_api import fake_stripe
from tests.integration.billing.conftest import TEST_SECRET_KEY
from tests.support import PostgresForTests

WINDOW_SECONDS = 15 * 60
PROVIDERS = ("stripe", "apple", "google")
STRIPE_PRICES = {"cookcam_regular_monthly": "price_reg_m"}

# Index n: account uuid 00000000-0000-4000-8000-<n in hex>, provider PROVIDERS[n % 3], and a provider id below.
ACCOUNTS = """
insert into users (id, email, password_hash, name)
select ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 'bench' || n || '@reconcile.test', 'x', 'B'
from generate_series(0, $1 - 1) as n
"""
SUBSCRIPTIONS = """
insert into subscriptions (user_id, provider, provider_subscription_id, tier_slug, status, environment,
                           billing_period, current_period_start, current_period_end, provider_updated_at)
select ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid,
       (array['stripe', 'apple', 'google'])[n % 3 + 1],
       case n % 3 when 0 then 'sub_bench_' || n when 1 then (2000000000000 + n)::text else 'tok-bench-' || n end,
       'regular', 'active', 'sandbox', 'monthly', to_timestamp($2) - interval '10 days', to_timestamp($2),
       now() - interval '1 day'
from generate_series(0, $1 - 1) as n
"""


def user_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012x}"


def serve_fakes(count: int, latency: float, period_end: int, folder: str, answer: Pipe, stop: Event) -> None:
    """Serve the three fakes, knowing subscription n as the database has it (one in a hundred ended at its
    provider), until `stop`; sends the settings' values through `answer` once serving. The providers keep HTTP/1.1
    connections alive, so here the fakes do too (the tests' fakes close each connection, HTTP/1.0)."""
    QuietHandler.protocol_version = "HTTP/1.1"
    signer = AppleSigner()
    end = datetime.datetime.fromtimestamp(period_end, datetime.UTC)
    with (
        fake_stripe(STRIPE_PRICES) as (stripe_url, stripe),
        fake_google() as google,
        fake_app_store_server_api(signer=signer) as apple,
    ):
        for fake in (stripe, google, apple):
            fake.traffic.latency_seconds = latency
        for n in range(count):
            ended = n % 100 == 0
            if n % 3 == 0:
                item: dict[str, Any] = {
                    "id": f"si_{n}",
                    "price": {"id": "price_reg_m", "lookup_key": "cookcam_regular_monthly"},
                    "current_period_start": period_end - 30 * 86400,
                    "current_period_end": period_end,
                }
                stripe.subscriptions[f"sub_bench_{n}"] = {
                    "id": f"sub_bench_{n}",
                    "object": "subscription",
                    "status": "canceled" if ended else "active",
                    "metadata": {"user_id": user_id(n)},
                    "livemode": False,
                    "items": {"object": "list", "data": [item]},
                }
            elif n % 3 == 1:
                original = str(2000000000000 + n)
                expires = (int(time.time()) - 86400 if ended else period_end) * 1000
                transaction = signer.transaction(transactionId=original, expiresDate=expires)
                apple.set_subscription(original, 2 if ended else 1, transaction, signer.renewal_info(transaction))
            else:
                state = "SUBSCRIPTION_STATE_EXPIRED" if ended else "SUBSCRIPTION_STATE_ACTIVE"
                google.add_subscription(f"tok-bench-{n}", state=state, expiry=end, acknowledged=True)
        key_file = Path(folder) / "AuthKey.p8"
        key_file.write_text(apple.private_key_pem)
        answer.send(
            {
                "stripe": stripe_url,
                "google_account": str(google.write_service_account(Path(folder) / "sa.json")),
                "google": google.base_url,
                "apple_root": str(signer.write_root(Path(folder) / "root.cer")),
                "apple_key_id": apple.key_id,
                "apple_issuer_id": apple.issuer_id,
                "apple_key_file": str(key_file),
                "apple": apple.base_url,
            }
        )
        stop.wait()


async def fill(dsn: str, count: int, period_end: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.monotonic()
        async with conn.transaction():
            await conn.execute(ACCOUNTS, count)
            await conn.execute(SUBSCRIPTIONS, count, period_end)
        await conn.execute("analyze users; analyze subscriptions")
        return time.monotonic() - started
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--runs", type=int, default=3, help="runs at most, until each provider has completed a pass")
    parser.add_argument(
        "--passes",
        type=int,
        default=1,
        help="passes each provider completes before the bench stops (the first one also records what the fakes "
        "say; from the second on, the data held equals the providers' but for the 1%% that drift)",
    )
    args = parser.parse_args()
    postgres = PostgresForTests()
    name, dsn = asyncio.run(postgres.create_database("cookcam_reconcile_bench"))
    try:
        asyncio.run(migrate(dsn))
        _measure(dsn, args.subscriptions, args.latency_ms / 1000, args.runs, args.passes)
    finally:
        asyncio.run(postgres.drop_database(name))
        postgres.stop()


def _measure(dsn: str, count: int, latency: float, runs: int, passes: int) -> None:
    period_end = int(time.time()) + 20 * 86400
    print(f"filled {count} subscriptions in {asyncio.run(fill(dsn, count, period_end)):.1f} s", flush=True)
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        receive, send = context.Pipe(duplex=False)
        stop = context.Event()
        fakes = context.Process(target=serve_fakes, args=(count, latency, period_end, folder, send, stop))
        fakes.start()
        try:
            settings = _settings(dsn, receive.recv())
            configure_logging(settings)  # as the CLI does: the job's progress lines on stderr
            for run in range(1, runs + 1):
                started, cpu = time.monotonic(), time.process_time()
                summary = asyncio.run(run_job("reconcile", dsn, settings))
                took, cpu = time.monotonic() - started, time.process_time() - cpu
                print(f"run {run}: {took:.0f} s (window {WINDOW_SECONDS} s), {cpu:.0f} s of CPU: {summary}", flush=True)
                if asyncio.run(_passes_complete(dsn, passes)):
                    break
        finally:
            stop.set()
            fakes.join()
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{count} subscriptions at {latency * 1000:.0f} ms per provider call: finishing within the window needs "
        f"{count / WINDOW_SECONDS:.0f} checks/s"
    )


async def _passes_complete(dsn: str, passes: int) -> bool:
    """Whether every provider has completed `passes` passes over its subscriptions (in whichever runs)."""
    conn = await asyncpg.connect(dsn)
    try:
        done = await conn.fetchval(
            "select count(*) from (select provider from reconciliation_provider_results "
            "where pass_completed_at is not null group by provider having count(*) >= $1) as p",
            passes,
        )
        return bool(done == len(PROVIDERS))
    finally:
        await conn.close()


def _settings(dsn: str, urls: dict[str, Any]) -> Any:
    return msgspec.structs.replace(
        make_settings(dsn),
        stripe=StripeSettings(secret_key=TEST_SECRET_KEY, api_base=urls["stripe"]),
        google=GoogleSettings(service_account_file=urls["google_account"], androidpublisher_base=urls["google"]),
        apple=AppleSettings(
            root_certificates=(urls["apple_root"],),
            api_key_id=urls["apple_key_id"],
            api_issuer_id=urls["apple_issuer_id"],
            api_private_key_file=urls["apple_key_file"],
            sandbox_api_base=urls["apple"],
        ),
    )


if __name__ == "__main__":
    main()
