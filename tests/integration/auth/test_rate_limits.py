"""Credential endpoints are limited per account and per client address, with shared counters."""

from __future__ import annotations

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.core.errors import TooManyRequests
from app.core.ratelimit import PostgresCounters, RateLimit, RateLimiter, RedisCounters
from app.server import create_app
from tests.conftest import make_settings
from tests.support import PASSWORD, new_email

SIGNIN = "/api/v1/auth/signin"


def _app(database_url: str, **ratelimit: object):
    settings = make_settings(database_url)
    limits = msgspec.structs.replace(settings.ratelimit, **ratelimit)
    return create_app(msgspec.structs.replace(settings, ratelimit=limits))


async def test_signin_is_limited_per_account(database_url) -> None:
    email = new_email()
    async with AsyncTestClient(app=_app(database_url, per_account=3, per_address=100)) as client:
        await client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "A"})
        codes = [(await client.post(SIGNIN, json={"email": email, "password": "wrong"})).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        limited = await client.post(SIGNIN, json={"email": email.upper(), "password": PASSWORD})
        assert limited.status_code == 429
        assert limited.json()["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) > 0
        # Another account from the same address is unaffected.
        other = await client.post(SIGNIN, json={"email": new_email(), "password": "x"})
        assert other.status_code == 401


async def test_signin_is_limited_per_address(database_url) -> None:
    async with AsyncTestClient(app=_app(database_url, per_account=100, per_address=2)) as client:
        for _ in range(2):
            assert (await client.post(SIGNIN, json={"email": new_email(), "password": "x"})).status_code == 401
        assert (await client.post(SIGNIN, json={"email": new_email(), "password": "x"})).status_code == 429


async def test_counters_are_shared_between_app_instances(database_url) -> None:
    """Two app instances (as two workers) share one PostgreSQL-backed counter."""
    email = new_email()
    async with (
        AsyncTestClient(app=_app(database_url, per_account=2, per_address=100)) as first,
        AsyncTestClient(app=_app(database_url, per_account=2, per_address=100)) as second,
    ):
        assert (await first.post(SIGNIN, json={"email": email, "password": "x"})).status_code == 401
        assert (await second.post(SIGNIN, json={"email": email, "password": "x"})).status_code == 401
        assert (await first.post(SIGNIN, json={"email": email, "password": "x"})).status_code == 429


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(database_url) -> None:
    settings = make_settings(database_url)
    limits = msgspec.structs.replace(settings.ratelimit, per_account=100, per_address=1)
    app = create_app(msgspec.structs.replace(settings, ratelimit=limits))
    async with AsyncTestClient(app=app) as client:
        first = await client.post(
            SIGNIN, json={"email": new_email(), "password": "x"}, headers={"X-Forwarded-For": "203.0.113.1"}
        )
        assert first.status_code == 401
        # A different forged address does not buy a new bucket.
        second = await client.post(
            SIGNIN, json={"email": new_email(), "password": "x"}, headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert second.status_code == 429


async def test_redis_counters_limit_the_same_way(db) -> None:
    store = RedisCounters.from_url("redis://127.0.0.1:6379/15")
    limiter = RateLimiter(store, pseudonym_key=b"test-key")
    rule = RateLimit(f"test-{new_email()}", limit=2, window_seconds=60)
    await limiter.check(db, [(rule, "subject")], now=1_000_000.0)
    await limiter.check(db, [(rule, "subject")], now=1_000_001.0)
    with pytest.raises(TooManyRequests) as raised:
        await limiter.check(db, [(rule, "subject")], now=1_000_002.0)
    assert raised.value.retry_after_seconds == 1_000_020 - 1_000_002 + 1
    # A new window starts fresh.
    await limiter.check(db, [(rule, "subject")], now=1_000_021.0)
    await store.close()


async def test_counters_store_no_emails_or_addresses(client, db) -> None:
    email = new_email()
    await client.post(SIGNIN, json={"email": email, "password": "x"})
    buckets = [row["bucket"] for row in await db.fetch("select bucket from rate_limit_counters")]
    assert len(buckets) == 2
    assert all(email not in b and "testclient" not in b for b in buckets)


async def test_unreachable_redis_answers_503_quickly(database_url) -> None:
    settings = make_settings(database_url)
    limits = msgspec.structs.replace(settings.ratelimit, redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, ratelimit=limits))) as client:
        response = await client.post(SIGNIN, json={"email": new_email(), "password": "x"})
        assert response.status_code == 503
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"
        assert response.headers["retry-after"] == "5"


@pytest.mark.parametrize("store", ["postgres", "redis"])
async def test_several_rules_are_counted_in_one_call(db, store: str) -> None:
    counters = RedisCounters.from_url("redis://127.0.0.1:6379/15") if store == "redis" else PostgresCounters()
    limiter = RateLimiter(counters, pseudonym_key=b"test-key")
    tag = new_email()
    short = RateLimit(f"short-{tag}", limit=1, window_seconds=10)
    long = RateLimit(f"long-{tag}", limit=5, window_seconds=3600)
    now = 7_200_000.0  # a multiple of both windows
    await limiter.check(db, [(short, "a"), (long, "a")], now=now)
    with pytest.raises(TooManyRequests) as raised:
        await limiter.check(db, [(short, "a"), (long, "a")], now=now + 1)
    assert raised.value.retry_after_seconds == 10  # only the short window is exceeded
    for _ in range(3):
        with pytest.raises(TooManyRequests):
            await limiter.check(db, [(short, "a"), (long, "a")], now=now + 2)
    # The long rule (5 per hour) is now past its limit too: the longer wait wins.
    with pytest.raises(TooManyRequests) as raised:
        await limiter.check(db, [(short, "a"), (long, "a")], now=now + 12)
    assert raised.value.retry_after_seconds == 3600 - 12 + 1
    if isinstance(counters, RedisCounters):
        await counters.close()
