"""Races, tried for real: concurrent requests against granian workers (Litestar's test client runs requests one
at a time, so these cannot live in the integration suite)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import asyncpg
import httpx

from tests.e2e.server import RunningServer
from tests.fakes.loopback import QuietHandler, serving
from tests.integration.billing.stripe_support import SECRET, event, signature
from tests.support import PASSWORD, new_email

AUTH = "/api/v1/auth"


async def test_concurrent_signups_with_one_email_create_one_account(server: RunningServer, db: asyncpg.Connection):
    email = new_email()
    payload = {"email": email, "password": PASSWORD, "name": "Racer"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        responses = await asyncio.gather(*(http.post(AUTH + "/signup", json=payload) for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409, 409]
    assert await db.fetchval("select count(*) from users where email = $1", email) == 1


async def test_concurrent_refreshes_of_one_token_all_get_its_one_successor(server: RunningServer) -> None:
    """One token is spent once; the requests that lose the race, within the reuse grace, get the successor the
    winner got (none is taken for reuse, which would end the session)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        auth = (
            await http.post(AUTH + "/signup", json={"email": new_email(), "password": PASSWORD, "name": "R"})
        ).json()
        token = {"refresh_token": auth["refresh_token"]}
        responses = await asyncio.gather(*(http.post(AUTH + "/refresh", json=token) for _ in range(8)))
    codes = [r.status_code for r in responses]
    assert codes == [200] * 8, codes
    assert len({r.json()["refresh_token"] for r in responses}) == 1


async def test_a_burst_of_signups_does_not_starve_other_requests_of_connections(database_url, tmp_path) -> None:
    """Password hashing queues without holding a pooled connection, so /auth/me still gets one at once."""
    running = RunningServer(
        database_url,
        tmp_path,
        workers=1,
        env={
            "DATABASE_POOL_MIN_SIZE": "1",
            "DATABASE_POOL_MAX_SIZE": "2",
            "DATABASE_ACQUIRE_TIMEOUT_SECONDS": "0.3",
            "PASSWORD_MAX_CONCURRENT_HASHES": "1",
        },
    )
    try:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as http:
            auth = (
                await http.post(AUTH + "/signup", json={"email": new_email(), "password": PASSWORD, "name": "Me"})
            ).json()
            burst = [
                asyncio.ensure_future(
                    http.post(AUTH + "/signup", json={"email": new_email(), "password": PASSWORD, "name": "Burst"})
                )
                for _ in range(12)
            ]
            await asyncio.sleep(0.2)  # the burst is queued behind one hashing slot by now
            me = await http.get(AUTH + "/me", headers={"Authorization": f"Bearer {auth['access_token']}"})
            assert me.status_code == 200, me.text
            assert [r.status_code for r in await asyncio.gather(*burst)] == [201] * 12
    finally:
        assert running.terminate() == 0


async def test_requests_waiting_on_a_slow_store_hold_no_database_connection(database_url, tmp_path) -> None:
    """Four validations wait on a stalled App Store while the pool has two connections: /auth/me still gets one."""
    release = threading.Event()

    class StalledVerifyReceipt(QuietHandler):
        def do_POST(self) -> None:
            self.body()
            release.wait(timeout=10)
            self.reply(200, b'{"status": 21002}')

    with serving(StalledVerifyReceipt) as store_url:
        running = RunningServer(
            database_url,
            tmp_path,
            workers=1,
            env={
                "DATABASE_POOL_MIN_SIZE": "1",
                "DATABASE_POOL_MAX_SIZE": "2",
                "DATABASE_ACQUIRE_TIMEOUT_SECONDS": "0.3",
                "APPLE_SHARED_SECRET": "shared-secret",
                "APPLE_VERIFY_RECEIPT_URL": f"{store_url}/verifyReceipt",
                "OUTBOUND_RETRY_ATTEMPTS": "1",
                "OUTBOUND_TIMEOUT_SECONDS": "15",
            },
        )
        try:
            async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as http:
                auth = (
                    await http.post(AUTH + "/signup", json={"email": new_email(), "password": PASSWORD, "name": "Me"})
                ).json()
                headers = {"Authorization": f"Bearer {auth['access_token']}"}
                receipt = {"platform": "ios", "receipt": "MIIT-stalled"}
                waiting = [
                    asyncio.ensure_future(http.post("/api/v1/iap/validate-receipt", json=receipt, headers=headers))
                    for _ in range(4)
                ]
                await asyncio.sleep(0.5)  # all four are waiting on the store by now
                me = await http.get(AUTH + "/me", headers=headers)
                assert me.status_code == 200, me.text
                assert not any(task.done() for task in waiting)
                release.set()
                answers = await asyncio.gather(*waiting)
            assert [(r.status_code, r.json()["code"]) for r in answers] == [(422, "RECEIPT_INVALID")] * 4
        finally:
            release.set()
            assert running.terminate() == 0


async def test_twenty_simultaneous_deliveries_of_one_stripe_event_have_one_effect(
    database_url, tmp_path, db: asyncpg.Connection
) -> None:
    """Two granian workers, twenty copies of one signed event at once: one is processed, the rest are duplicates or
    told to come back (503 EVENT_IN_PROGRESS, which Stripe retries); one subscription, one history row."""
    running = RunningServer(database_url, tmp_path, workers=2, env={"STRIPE_WEBHOOK_SECRET": SECRET})
    try:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as http:
            auth = (
                await http.post(AUTH + "/signup", json={"email": new_email(), "password": PASSWORD, "name": "Payer"})
            ).json()
            item = {"price": {"id": "price_1", "lookup_key": "cookcam_regular_monthly"}}
            subscription = {
                "id": f"sub_{uuid.uuid4().hex[:12]}",
                "status": "active",
                "metadata": {"user_id": auth["user"]["id"]},
                "items": {"data": [item]},
            }
            payload = event("customer.subscription.created", subscription)
            headers = {"Content-Type": "application/json", "Stripe-Signature": signature(payload)}
            responses = await asyncio.gather(
                *(http.post("/api/v1/subscription/webhook/stripe", content=payload, headers=headers) for _ in range(20))
            )
        outcomes = [r.json().get("outcome") or r.json()["code"] for r in responses]
        assert outcomes.count("processed") == 1, outcomes
        assert set(outcomes) <= {"processed", "duplicate", "EVENT_IN_PROGRESS"}, outcomes
        user_id = uuid.UUID(auth["user"]["id"])
        assert await db.fetchval("select count(*) from subscriptions where user_id = $1", user_id) == 1
        assert await db.fetchval("select count(*) from subscription_status_history where user_id = $1", user_id) == 1
    finally:
        assert running.terminate() == 0
