"""The bench's peers (bench/peers/) answer one request each as the bench relies on: the minimal /auth/me peer
answers what the app's /auth/me answers for the same token, and the FastAPI webhook peer refuses a forged Stripe
signature, records a signed event once and applies it to its subscription row."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import jwt
import pytest
from litestar.testing import AsyncTestClient

from app.settings import Settings
from bench.payments import STRIPE_WEBHOOK_SECRET, StripeUsers, stripe_events, stripe_signature
from bench.peers import me_minimal, webhook_fastapi
from bench.scenarios import WEBHOOK_PATH
from tests.support import bearer, sign_up


async def test_the_minimal_me_peer_answers_what_the_apps_me_answers(
    client, settings: Settings, database_url: str
) -> None:
    auth = await sign_up(client, name="Peer Cook")
    ours = await client.get("/api/v1/auth/me", headers=bearer(auth))
    assert ours.status_code == 200, ours.text

    peer_app = me_minimal.create_app(database_url, settings.jwt.secret, settings.jwt.issuer)
    async with AsyncTestClient(app=peer_app) as peer:
        answer = await peer.get(me_minimal.ME_PATH, headers=bearer(auth))
        assert answer.status_code == 200, answer.text
        assert answer.json() == ours.json()
        assert answer.json()["name"] == "Peer Cook"

        claims = jwt.decode(auth["access_token"], options={"verify_signature": False})
        forged = jwt.encode(claims, "not-the-apps-secret-" * 2, algorithm="HS256")
        assert (await peer.get(me_minimal.ME_PATH, headers={"Authorization": f"Bearer {forged}"})).status_code == 401
        assert (await peer.get(me_minimal.ME_PATH)).status_code == 401
        # A signed-out session ends the token on the peer too: the query joins the live session.
        assert (await client.post("/api/v1/auth/signout", headers=bearer(auth))).status_code == 204
        assert (await peer.get(me_minimal.ME_PATH, headers=bearer(auth))).status_code == 401


@pytest.fixture
async def webhook_peer(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    await webhook_fastapi.create_tables(database_url)
    app = webhook_fastapi.create_app(database_url, STRIPE_WEBHOOK_SECRET)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://peer") as peer:
            yield peer
    finally:
        await app.state.engine.dispose()
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f"drop schema {webhook_fastapi.SCHEMA} cascade")
        finally:
            await conn.close()


async def test_the_webhook_peer_refuses_a_forged_signature_and_records_a_signed_event_once(
    webhook_peer: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    assert webhook_fastapi.WEBHOOK_PATH == WEBHOOK_PATH  # the bench sends both the same request
    users = StripeUsers((uuid.uuid4(),), "t")
    subscription_id = users.subscription_id(0)
    await db.execute(
        "insert into peer.subscriptions (id, customer, status) values ($1, 'cus_bench_0000000', 'incomplete')",
        subscription_id,
    )
    payload = stripe_events(users, 0, 1, "peertest")[0]
    now = int(time.time())

    forged = stripe_signature(payload, now, secret="whsec_someone_else")
    refused = await webhook_peer.post(WEBHOOK_PATH, content=payload, headers={"Stripe-Signature": forged})
    assert refused.status_code == 400, refused.text
    assert await db.fetchval("select count(*) from peer.stripe_events") == 0

    signed = {"Stripe-Signature": stripe_signature(payload, now), "Content-Type": "application/json"}
    first = await webhook_peer.post(WEBHOOK_PATH, content=payload, headers=signed)
    assert first.status_code == 200, first.text
    assert first.json() == {"outcome": "processed"}
    again = await webhook_peer.post(WEBHOOK_PATH, content=payload, headers=signed)
    assert again.json() == {"outcome": "duplicate"}

    event = await db.fetchrow("select event_id, type, payload ->> 'id' as payload_id from peer.stripe_events")
    assert event is not None
    assert event["event_id"] == event["payload_id"] == "evt_bench_peertest_t_00000000"
    assert event["type"] == "customer.subscription.updated"
    row = await db.fetchrow(
        "select status, price_lookup_key, latest_event_id, current_period_end from peer.subscriptions where id = $1",
        subscription_id,
    )
    assert row is not None
    assert row["status"] == "active"
    assert row["price_lookup_key"] == "cookcam_regular_monthly"
    assert row["latest_event_id"] == event["event_id"]
    assert row["current_period_end"] is not None
