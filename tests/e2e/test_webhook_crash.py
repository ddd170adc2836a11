"""A granian worker killed in the middle of a Stripe event's statement (migration 0057: the event, its state, its
history row and its real-time notice are one statement): the event is applied exactly once, all of it or none of it.
The statement either finishes without its worker and commits whole (the worker's session had read all of it), and
Stripe's redelivery, answered by the replacement worker, is a duplicate; or the session ends first (as PostgreSQL
ends it when it sees the client gone), nothing of the event survives, and the redelivery applies it once."""

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
# The database session of a request whose statement waits for a lock inside the recording of a subscription state.
WAITING_TO_RECORD = """
select pid from pg_stat_activity
where datname = current_database() and application_name = 'cookcam-api' and wait_event_type = 'Lock'
  and query like '%cookcam_store_subscription_event%'
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


class KilledMidEvent:
    """A server whose only worker was killed while its statement for an upgrade event waited for the subscription's
    row lock, held by `blocker`; `notices` collects the real-time notices from before the upgrade on."""

    def __init__(self, running: RunningServer, http: httpx.AsyncClient, db: asyncpg.Connection) -> None:
        self.running, self.http, self.db = running, http, db
        self.notices: list[str] = []

    async def start(self, listener: asyncpg.Connection, blocker: asyncpg.Connection) -> None:
        auth = (
            await self.http.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD, "name": "K"})
        ).json()
        self.user_id = auth["user"]["id"]
        self.subscription_id = f"sub_{uuid.uuid4().hex[:12]}"
        created = int(time.time()) - 10
        first = event(
            "customer.subscription.created",
            _subscription(self.subscription_id, self.user_id, "regular"),
            created=created,
        )
        assert (await _deliver(self.http, first)).json()["outcome"] == "processed"
        await listener.add_listener("cookcam_events", lambda *args: self.notices.append(args[3]))

        # The upgrade's statement will wait for this lock, inside cookcam_record_subscription_state.
        self.upgrade = event(
            "customer.subscription.updated",
            _subscription(self.subscription_id, self.user_id, "creator"),
            created=created + 1,
        )
        self.upgrade_id = msgspec.json.decode(self.upgrade)["id"]
        self.held = blocker.transaction()
        await self.held.start()
        await blocker.execute(
            "select 1 from subscriptions where provider_subscription_id = $1 for update", self.subscription_id
        )
        self.in_flight = asyncio.ensure_future(_deliver(self.http, self.upgrade))

        async def waiting_backend() -> bool:
            return await self.db.fetchval(WAITING_TO_RECORD) is not None

        await _until(waiting_backend, "the worker's statement waits for the subscription row")
        self.stuck_pid = await self.db.fetchval(WAITING_TO_RECORD)
        # Stored only by the commit that applies it: not visible while its statement waits.
        assert await self.stored() is None
        worker = _worker(self.running)
        os.kill(worker, signal.SIGKILL)
        psutil.Process(worker).wait(timeout=10)

    async def stored(self) -> asyncpg.Record | None:
        return await self.db.fetchrow(
            "select status, attempts, error from provider_events where event_id = $1", self.upgrade_id
        )

    async def release(self) -> None:
        """Let go of the lock, and wait until the dead worker's session has ended."""
        await self.held.rollback()

        async def backend_gone() -> bool:
            return not await self.db.fetchval("select count(*) from pg_stat_activity where pid = $1", self.stuck_pid)

        await _until(backend_gone, "the dead worker's database session has ended")
        try:
            await self.in_flight
            raise AssertionError("the killed worker answered")
        except httpx.HTTPError:
            pass  # the connection died with the worker: no answer, so Stripe will deliver the event again

    async def redeliver(self) -> str:
        """Stripe's redelivery, once granian's replacement worker serves: its outcome."""

        async def replacement_answers() -> bool:
            try:
                return (await self.http.get("/ready", timeout=2)).status_code == 200
            except httpx.HTTPError:
                return False

        await _until(replacement_answers, "granian's replacement worker serves", timeout=60)
        redelivered = await _deliver(self.http, self.upgrade)
        assert redelivered.status_code == 200
        return str(redelivered.json()["outcome"])

    async def applied_once(self) -> None:
        """The event is stored processed once, with one history row, the new tier and one notice of it."""
        stored = await self.stored()
        assert stored is not None
        assert (stored["status"], stored["attempts"], stored["error"]) == ("processed", 1, None)
        assert await _history(self.db, self.upgrade_id) == 1
        assert await _tier(self.db, self.subscription_id) == "creator"
        again = await _deliver(self.http, self.upgrade)
        assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")

        def updates() -> list[dict[str, object]]:
            decoded = [msgspec.json.decode(n) for n in self.notices]
            return [
                n["event"]
                for n in decoded
                if n["user_id"] == self.user_id and n["event"]["type"] == "subscription.updated"
            ]

        async def notified() -> bool:
            return bool(updates())

        await _until(notified, "the upgrade's real-time notice arrives")
        assert updates() == [{"type": "subscription.updated", "data": {"tier_slug": "creator", "status": "active"}}]


async def _killed_mid_event(
    database_url: str, tmp_path, db: asyncpg.Connection, scenario: Callable[[KilledMidEvent], Awaitable[None]]
) -> None:
    running = RunningServer(database_url, tmp_path, workers=1, env={"STRIPE_WEBHOOK_SECRET": SECRET})
    listener = await asyncpg.connect(database_url)
    blocker = await asyncpg.connect(database_url)
    try:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as http:
            killed = KilledMidEvent(running, http, db)
            await killed.start(listener, blocker)
            await scenario(killed)
            await killed.applied_once()
    finally:
        await listener.close()
        await blocker.close()
        assert running.terminate() == 0, running.log()


async def test_a_worker_killed_mid_event_whose_statement_finishes_commits_it_whole_and_the_redelivery_is_a_duplicate(
    database_url: str, tmp_path, db: asyncpg.Connection
) -> None:
    async def lock_released(killed: KilledMidEvent) -> None:
        await killed.release()  # the dead worker's session gets its lock and finishes the statement it had read
        stored = await killed.stored()
        assert stored is not None and stored["status"] == "processed"
        assert await _history(db, killed.upgrade_id) == 1  # all of it, in the same commit
        assert await killed.redeliver() == "duplicate"

    await _killed_mid_event(database_url, tmp_path, db, lock_released)


async def test_a_worker_killed_mid_event_whose_session_ends_first_leaves_nothing_and_the_redelivery_applies_it_once(
    database_url: str, tmp_path, db: asyncpg.Connection
) -> None:
    async def session_ended(killed: KilledMidEvent) -> None:
        # What PostgreSQL does when it notices the client gone mid-statement (client_connection_check_interval).
        assert await db.fetchval("select pg_terminate_backend($1)", killed.stuck_pid)
        await killed.release()
        assert await killed.stored() is None
        assert await _history(db, killed.upgrade_id) == 0
        assert await _tier(db, killed.subscription_id) == "regular"
        assert await killed.redeliver() == "processed"

    await _killed_mid_event(database_url, tmp_path, db, session_ended)
