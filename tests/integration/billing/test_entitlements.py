"""Tiers, entitlements, subscription state changes with history and events, usage limits."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import asyncpg
import msgspec
import pytest

from app.billing.entitlements import (
    TIER_ORDER,
    Cause,
    ProviderState,
    entitlement_for,
    limits_for,
    record_subscription_state,
    require_tier,
)
from app.billing.usage import UsageLimitReached, consume
from app.core.errors import Conflict, Forbidden
from app.core.limits import period_bounds
from app.creators.billing_hooks import billing_hooks
from app.db.pool import connect
from tests.support import bearer, sign_up

NOW = datetime.datetime.now(datetime.UTC)
CAUSE = Cause("test", "scenario")


def _state(user_id: str | uuid.UUID, **overrides: object) -> ProviderState:
    fields: dict[str, object] = {
        "user_id": uuid.UUID(str(user_id)),
        "provider": "stripe",
        "provider_subscription_id": "sub_123",
        "tier_slug": "creator",
        "status": "trialing",
        "billing_period": "monthly",
        "trial_ends_at": NOW + datetime.timedelta(days=3),
        "current_period_start": NOW,
        "current_period_end": NOW + datetime.timedelta(days=3),
        "provider_updated_at": NOW,
    }
    fields.update(overrides)
    return msgspec.convert(fields, ProviderState)


async def test_tiers_come_from_sql_with_the_contracts_prices_and_limits(client, db: asyncpg.Connection) -> None:
    tiers = (await client.get("/api/v1/subscription/tiers")).json()
    by_slug = {t["slug"]: t for t in tiers}
    assert [t["slug"] for t in tiers] == list(TIER_ORDER)
    assert by_slug["free"]["limits"] == {"scans_per_day": 5, "recipes_per_month": 10, "saved_recipes": 50}
    assert (by_slug["regular"]["monthly_price_cents"], by_slug["regular"]["yearly_price_cents"]) == (399, 3990)
    assert (by_slug["creator"]["monthly_price_cents"], by_slug["creator"]["yearly_price_cents"]) == (999, 9990)
    assert by_slug["creator"]["revenue_share_percent"] == 30
    ranks = await db.fetch("select slug from tiers order by rank")
    assert tuple(r["slug"] for r in ranks) == TIER_ORDER


async def test_products_are_mapped_by_server_configuration(client) -> None:
    response = await client.get("/api/v1/subscription/products")
    assert response.status_code == 200, response.text
    products = {p["product_id"]: p for p in response.json()}
    assert products["com.cookcam.pro.yearly"] == {
        "product_id": "com.cookcam.pro.yearly",
        "tier_slug": "regular",
        "billing_period": "yearly",
        "price_cents": 3990,
        "currency": "usd",
    }
    assert products["com.cookcam.creator.monthly"]["tier_slug"] == "creator"


async def test_a_new_user_is_free(client) -> None:
    auth = await sign_up(client)
    status = (await client.get("/api/v1/subscription/status", headers=bearer(auth))).json()
    assert (status["tier_slug"], status["is_paid"], status["subscriptions"]) == ("free", False, [])
    mine = (await client.get("/api/v1/users/subscription", headers=bearer(auth))).json()
    assert (mine["tier_slug"], mine["status"], mine["id"]) == ("free", "active", None)
    assert (await client.get("/api/v1/subscription/status")).status_code == 401


async def test_recorded_state_grants_the_tier_keeps_history_and_publishes(
    client, db: asyncpg.Connection, database_url: str
) -> None:
    auth = await sign_up(client)
    user_id = auth["user"]["id"]
    events: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener("cookcam_events", lambda *args: events.put_nowait(args[-1]))
    try:
        assert await record_subscription_state(db, _state(user_id), CAUSE, billing_hooks()) == "created"
        event = msgspec.json.decode(await asyncio.wait_for(events.get(), 5))
        assert event["event"] == {
            "type": "subscription.updated",
            "data": {"tier_slug": "creator", "status": "trialing"},
        }
    finally:
        await listener.close()
    status = (await client.get("/api/v1/subscription/status", headers=bearer(auth))).json()
    assert (status["tier_slug"], status["subscription"]["status"], status["is_paid"]) == ("creator", "trialing", True)
    paid = _state(user_id, status="active", provider_updated_at=NOW + datetime.timedelta(seconds=1))
    assert await record_subscription_state(db, paid, Cause("stripe_event", "evt_2"), billing_hooks()) == "changed"
    assert (
        await record_subscription_state(db, paid, Cause("stripe_event", "evt_2-again"), billing_hooks()) == "unchanged"
    )
    history = await db.fetch(
        "select from_status, to_status, cause_ref from subscription_status_history "
        "where user_id = $1::uuid order by id",
        user_id,
    )
    assert [tuple(r) for r in history] == [(None, "trialing", "scenario"), ("trialing", "active", "evt_2")]


async def test_older_provider_data_never_moves_a_subscription_backwards(client, db: asyncpg.Connection) -> None:
    user_id = (await sign_up(client))["user"]["id"]
    newer = _state(user_id, status="active", provider_updated_at=NOW)
    assert await record_subscription_state(db, newer, CAUSE, billing_hooks()) == "created"
    older = _state(user_id, status="trialing", provider_updated_at=NOW - datetime.timedelta(minutes=5))
    assert await record_subscription_state(db, older, CAUSE, billing_hooks()) == "stale"
    assert (await entitlement_for(db, uuid.UUID(user_id))).subscription.status == "active"


async def test_an_unchanged_state_moves_only_the_provider_time_which_then_orders_later_reports(
    client, db: asyncpg.Connection
) -> None:
    # Reconciliation answers are mostly equal to what is held: recorded as "unchanged", they still move the stored
    # provider time forward, so a report older than the provider's answer stays stale.
    user_id = (await sign_up(client))["user"]["id"]
    assert await record_subscription_state(db, _state(user_id, status="active"), CAUSE, billing_hooks()) == "created"
    later = NOW + datetime.timedelta(minutes=10)
    same = _state(user_id, status="active", provider_updated_at=later)
    assert await record_subscription_state(db, same, CAUSE, billing_hooks()) == "unchanged"
    stored = await db.fetchrow(
        "select provider_updated_at, status from subscriptions where user_id = $1::uuid", user_id
    )
    assert (stored["provider_updated_at"], stored["status"]) == (later, "active")
    between = _state(user_id, status="paused", provider_updated_at=NOW + datetime.timedelta(minutes=5))
    assert await record_subscription_state(db, between, CAUSE, billing_hooks()) == "stale"
    older_same = _state(user_id, status="active", provider_updated_at=NOW)
    assert await record_subscription_state(db, older_same, CAUSE, billing_hooks()) == "stale"
    assert await db.fetchval("select provider_updated_at from subscriptions where user_id = $1::uuid", user_id) == later
    history = await db.fetchval("select count(*) from subscription_status_history where user_id = $1::uuid", user_id)
    assert history == 1


async def test_a_subscription_id_belongs_to_one_account(client, db: asyncpg.Connection) -> None:
    owner = (await sign_up(client))["user"]["id"]
    thief = (await sign_up(client))["user"]["id"]
    await record_subscription_state(db, _state(owner, status="active"), CAUSE, billing_hooks())
    with pytest.raises(Conflict) as raised:
        await record_subscription_state(db, _state(thief, status="active"), CAUSE, billing_hooks())
    assert raised.value.code == "SUBSCRIPTION_OWNED_ELSEWHERE"
    assert (await entitlement_for(db, uuid.UUID(thief))).slug == "free"


async def test_a_first_recording_that_meets_a_concurrent_one_waits_and_applies_to_the_stored_row(
    client, database_url: str
) -> None:
    """The recording reads the stored subscription first and inserts only when there is none (migration 0058): a
    recording that finds none while another transaction is creating it waits on that insert, then reads the row it
    committed and applies the ordering rule to it, for its account or as another account's."""
    owner = (await sign_up(client))["user"]["id"]
    other = (await sign_up(client))["user"]["id"]
    first, second, third = [await connect(database_url) for _ in range(3)]
    try:
        creating = first.transaction()
        await creating.start()
        assert await record_subscription_state(first, _state(owner, status="active"), CAUSE, billing_hooks()) == (
            "created"
        )
        later = _state(owner, status="cancelled", provider_updated_at=NOW + datetime.timedelta(seconds=1))
        same_account = asyncio.ensure_future(record_subscription_state(second, later, CAUSE, billing_hooks()))
        another_account = asyncio.ensure_future(
            record_subscription_state(third, _state(other, status="active"), CAUSE, billing_hooks())
        )
        await asyncio.sleep(0.3)
        assert not same_account.done() and not another_account.done()  # both wait on the uncommitted insert
        await creating.commit()
        assert await same_account == "changed"
        with pytest.raises(Conflict) as raised:
            await another_account
        assert raised.value.code == "SUBSCRIPTION_OWNED_ELSEWHERE"
        history = await first.fetch(
            "select from_status, to_status from subscription_status_history where user_id = $1::uuid order by id",
            owner,
        )
        assert [(r["from_status"], r["to_status"]) for r in history] == [(None, "active"), ("active", "cancelled")]
        stored = await first.fetchval("select count(*) from subscriptions where provider_subscription_id = 'sub_123'")
        assert stored == 1
    finally:
        await asyncio.gather(*(conn.close() for conn in (first, second, third)))


@pytest.mark.parametrize(
    ("status", "period_end_days", "expected"),
    [
        ("trialing", 3, "creator"),
        ("active", 30, "creator"),
        ("grace_period", 1, "creator"),
        ("cancelled", 10, "creator"),  # paid time left
        ("cancelled", -1, "free"),
        ("billing_retry", 1, "free"),
        ("paused", 30, "free"),
        ("expired", -1, "free"),
        ("revoked", 30, "free"),
    ],
)
async def test_which_statuses_grant_access(
    client, db: asyncpg.Connection, status: str, period_end_days: int, expected: str
) -> None:
    user_id = (await sign_up(client))["user"]["id"]
    state = _state(user_id, status=status, current_period_end=NOW + datetime.timedelta(days=period_end_days))
    await record_subscription_state(db, state, CAUSE, billing_hooks())
    entitlement = await entitlement_for(db, uuid.UUID(user_id))
    assert entitlement.slug == expected
    # The one-read limits used by scans, generations and saves follow the same rule.
    assert await limits_for(db, uuid.UUID(user_id)) == entitlement.tier.limits


async def test_the_best_tier_of_all_sources_wins(client, db: asyncpg.Connection) -> None:
    user_id = (await sign_up(client))["user"]["id"]
    apple = _state(user_id, provider="apple", provider_subscription_id="1000", tier_slug="regular", status="active")
    stripe = _state(user_id, provider="stripe", provider_subscription_id="sub_9", tier_slug="creator", status="active")
    await record_subscription_state(db, apple, CAUSE, billing_hooks())
    await record_subscription_state(db, stripe, CAUSE, billing_hooks())
    assert (await entitlement_for(db, uuid.UUID(user_id))).slug == "creator"
    expired = _state(
        user_id, provider_subscription_id="sub_9", status="expired", provider_updated_at=NOW + datetime.timedelta(1)
    )
    await record_subscription_state(db, expired, CAUSE, billing_hooks())
    entitlement = await entitlement_for(db, uuid.UUID(user_id))
    assert (entitlement.slug, entitlement.subscription.provider) == ("regular", "apple")
    assert await limits_for(db, uuid.UUID(user_id)) == entitlement.tier.limits


async def test_require_tier(client, db: asyncpg.Connection) -> None:
    user_id = (await sign_up(client))["user"]["id"]
    free = await entitlement_for(db, uuid.UUID(user_id))
    with pytest.raises(Forbidden) as raised:
        require_tier(free, "creator")
    assert raised.value.code == "CREATOR_REQUIRED"
    with pytest.raises(Forbidden) as raised:
        require_tier(free, "regular")
    assert raised.value.code == "SUBSCRIPTION_REQUIRED"
    require_tier(free, "free")
    await record_subscription_state(db, _state(user_id, status="active"), CAUSE, billing_hooks())
    creator = await entitlement_for(db, uuid.UUID(user_id))
    require_tier(creator, "regular")
    require_tier(creator, "creator")


async def test_export_includes_billing_history(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client)
    await record_subscription_state(db, _state(auth["user"]["id"]), Cause("stripe_event", "evt_1"), billing_hooks())
    body = (await client.get("/api/v1/auth/export", headers=bearer(auth))).json()
    assert body["subscriptions"][0]["tier_slug"] == "creator"
    assert body["subscription_history"][0]["cause_kind"] == "stripe_event"
    assert "sub_123" not in (await client.get("/api/v1/auth/export", headers=bearer(auth))).text


async def test_usage_limit_counts_and_reports_the_reset(client, db: asyncpg.Connection) -> None:
    user_id = uuid.UUID((await sign_up(client))["user"]["id"])
    moment = datetime.datetime(2026, 11, 24, 15, 30, tzinfo=datetime.UTC)
    for expected in range(1, 6):
        used = await consume(db, user_id, "scans", limit=5, period="day", limit_code="SCAN_LIMIT_REACHED", now=moment)
        assert used == expected
    with pytest.raises(UsageLimitReached) as raised:
        await consume(db, user_id, "scans", limit=5, period="day", limit_code="SCAN_LIMIT_REACHED", now=moment)
    assert raised.value.code == "SCAN_LIMIT_REACHED"
    assert raised.value.resets_at == datetime.datetime(2026, 11, 25, tzinfo=datetime.UTC)
    tomorrow = moment + datetime.timedelta(days=1)
    assert await consume(db, user_id, "scans", limit=5, period="day", limit_code="X", now=tomorrow) == 1
    assert await consume(db, user_id, "scans", limit=None, period="day", limit_code="X") is None


async def test_parallel_uses_with_one_left_admit_exactly_one(client, db: asyncpg.Connection, database_url: str) -> None:
    user_id = uuid.UUID((await sign_up(client))["user"]["id"])
    for _ in range(4):
        await consume(db, user_id, "scans", limit=5, period="day", limit_code="SCAN_LIMIT_REACHED")
    connections = [await asyncpg.connect(database_url) for _ in range(10)]
    try:
        results = await asyncio.gather(
            *(
                consume(conn, user_id, "scans", limit=5, period="day", limit_code="SCAN_LIMIT_REACHED")
                for conn in connections
            ),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(conn.close() for conn in connections))
    assert [r for r in results if isinstance(r, int)] == [5]
    assert sum(isinstance(r, UsageLimitReached) for r in results) == 9


def test_period_bounds_roll_over_months_and_years() -> None:
    december = datetime.datetime(2026, 12, 31, 23, 59, tzinfo=datetime.UTC)
    assert period_bounds("month", december) == (
        datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC),
        datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC),
    )
    assert period_bounds("day", december)[1] == datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)
