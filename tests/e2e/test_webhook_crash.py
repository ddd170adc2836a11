"""A granian worker killed in the middle of a Stripe event's transaction: nothing of the event survives it (no
stored event, no history row, no real-time notice), and Stripe's redelivery, answered by the replacement worker,
applies the event exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import msgspec
import psutil

from tests.e2e.server import RunningServer
from tests.integration.billing.stripe_support import SECRET, event, signature
from tests.support import PASSWORD, new_email

WEBHOOK = "/api/v1/subscription/webhook/stripe"
# The database session of a request whose transaction waits for a lock inside the recording of a subscription state.
WAITING_TO_RECORD = """
select pid from pg_stat_activity
where datname = current_database() and application_name = 'cookcam-api' and wait_event_type = 'Lock'
  and query like '%cookcam_record_subscription_state%'
"""


def _subscription(subscription_id: str, user_id: str, tier: str) -> dict[str, object]:
    now = int(time.time())
    item = {
        "price": {"id": f"price_{tier}", "lookup_key": f"cookcam_{tier}_monthly"},
        "current_period_start": now,
        "current_period_end": now + 30 * 86400,
    }
    return {"id": subscription_id, "status": "active", "metadata": {"user_id": user_id}, "items": {"data": [item]}}


async def _deliver(http: httpx.AsyncClient, payload: bytes) -> httpx.Response:
    """As Stripe delivers: signed afresh each time."""
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature(payload)}
    return await http.post(WEBHOOK, content=payload, headers=headers)


async def _until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


async def _history(db: asyncpg.Connection, event_id: str) -> int:
    """History rows caused by the event."""
    return int(await db.fetchval("select count(*) from subscription_status_history where cause_ref = $1", event_id))


async def _tier(db: asyncpg.Connection, subscription_id: str) -> str:
    return str(
        await db.fetchval("select tier_slug from subscriptions where provider_subscription_id = $1", subscription_id)
    )


def _worker(server: RunningServer) -> int:
    (worker,) = [child.pid for child in psutil.Process(server.process.pid).children() if child.is_running()]
    return worker


async def test_a_worker_killed_mid_event_leaves_nothing_and_the_redelivery_applies_it_once(
    database_url: str, tmp_path, db: asyncpg.Connection
) -> None:
    running = RunningServer(database_url, tmp_path, workers=1, env={"STRIPE_WEBHOOK_SECRET": SECRET})
    notices: list[str] = []
    listener = await asyncpg.connect(database_url)
    blocker = await asyncpg.connect(database_url)
    try:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as http:
            auth = (
                await http.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD, "name": "K"})
            ).json()
            user_id = auth["user"]["id"]
            subscription_id = f"sub_{uuid.uuid4().hex[:12]}"
            created = int(time.time()) - 10
            first = event(
                "customer.subscription.created", _subscription(subscription_id, user_id, "regular"), created=created
            )
            assert (await _deliver(http, first)).json()["outcome"] == "processed"
            await listener.add_listener("cookcam_events", lambda *args: notices.append(args[3]))

            # The upgrade's transaction will wait for this lock, inside cookcam_record_subscription_state.
            upgrade = event(
                "customer.subscription.updated",
                _subscription(subscription_id, user_id, "creator"),
                created=created + 1,
            )
            upgrade_id = msgspec.json.decode(upgrade)["id"]
            held = blocker.transaction()
            await held.start()
            await blocker.execute(
                "select 1 from subscriptions where provider_subscription_id = $1 for update", subscription_id
            )
            in_flight = asyncio.ensure_future(_deliver(http, upgrade))

            async def waiting_backend() -> bool:
                return await db.fetchval(WAITING_TO_RECORD) is not None

            await _until(waiting_backend, "the worker's transaction waits for the subscription row")
            stuck_pid = await db.fetchval(WAITING_TO_RECORD)
            # Stored only by the commit that applies it: not visible while its transaction waits.
            assert await db.fetchval("select count(*) from provider_events where event_id = $1", upgrade_id) == 0
            worker = _worker(running)
            os.kill(worker, signal.SIGKILL)
            psutil.Process(worker).wait(timeout=10)
            await held.rollback()  # the dead worker's backend gets its lock, then finds its client gone and rolls back

            async def backend_gone() -> bool:
                return not await db.fetchval("select count(*) from pg_stat_activity where pid = $1", stuck_pid)

            await _until(backend_gone, "the dead worker's database session has ended")
            try:
                await in_flight
                raise AssertionError("the killed worker answered")
            except httpx.HTTPError:
                pass  # the connection died with the worker: no answer, so Stripe will deliver the event again

            assert await db.fetchval("select count(*) from provider_events where event_id = $1", upgrade_id) == 0
            assert await _history(db, upgrade_id) == 0
            assert await _tier(db, subscription_id) == "regular"

            async def replacement_answers() -> bool:
                try:
                    return (await http.get("/ready", timeout=2)).status_code == 200
                except httpx.HTTPError:
                    return False

            await _until(replacement_answers, "granian's replacement worker serves", timeout=60)
            redelivered = await _deliver(http, upgrade)
            assert (redelivered.status_code, redelivered.json()["outcome"]) == (200, "processed")
            again = await _deliver(http, upgrade)
            assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")

        stored = await db.fetchrow(
            "select status, attempts, error from provider_events where event_id = $1", upgrade_id
        )
        assert (stored["status"], stored["attempts"], stored["error"]) == ("processed", 1, None)
        assert await _history(db, upgrade_id) == 1
        assert await _tier(db, subscription_id) == "creator"

        def updates() -> list[str]:
            return [n for n in notices if '"subscription.updated"' in n and user_id in n]

        async def notified() -> bool:
            return bool(updates())

        await _until(notified, "the upgrade's real-time notice arrives")
        assert len(updates()) == 1 and '"tier_slug":"creator"' in updates()[0], notices
    finally:
        await listener.close()
        await blocker.close()
        assert running.terminate() == 0, running.log()
