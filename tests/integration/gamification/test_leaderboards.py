"""Leaderboards against a brute-force computation from the ledger (SQL window ranks over its own date_trunc
periods): pages, ties, the caller's own rank, for daily, weekly, monthly and all-time boards; the period boundaries
of code and SQL agree; bad parameters are refused."""

from __future__ import annotations

import asyncio
import datetime
import random
import uuid

import asyncpg
import pytest

from app.billing.providers import PaymentProviders
from app.creators.billing_hooks import billing_hooks
from app.db.pool import connect, create_pool
from app.gamification import leaderboards
from app.gamification.periods import period_start
from app.gamification.xp import award
from app.ops.jobs import run_locked
from app.settings import DatabaseSettings
from tests.conftest import make_settings
from tests.support import bearer, sign_up

NOW = datetime.datetime(2026, 11, 25, 15, 0, tzinfo=datetime.UTC)  # a Wednesday
BRUTE_FORCE = """
select user_id, sum(amount) as xp, rank() over (order by sum(amount) desc) as rank
from xp_ledger
where $1::text = 'allTime'
   or ($1 = 'daily' and (awarded_at at time zone 'UTC')::date = $2::date)
   or ($1 = 'weekly' and date_trunc('week', awarded_at at time zone 'UTC')::date = $2::date)
   or ($1 = 'monthly' and date_trunc('month', awarded_at at time zone 'UTC')::date = $2::date)
group by user_id
order by xp desc, user_id
"""


async def test_code_and_sql_agree_on_period_boundaries(db: asyncpg.Connection) -> None:
    first = datetime.datetime(2026, 12, 20, 23, 30, tzinfo=datetime.UTC)
    for n in range(0, 24 * 60, 7):  # hours across two year ends and the 53-week year 2026
        instant = first + datetime.timedelta(hours=n)
        sql = await db.fetchrow(
            "select ($1 at time zone 'UTC')::date as day, date_trunc('week', $1 at time zone 'UTC')::date as week,"
            " date_trunc('month', $1 at time zone 'UTC')::date as month",
            instant,
        )
        assert (period_start("daily", instant), period_start("weekly", instant), period_start("monthly", instant)) == (
            sql["day"],
            sql["week"],
            sql["month"],
        )


@pytest.fixture
async def players(db: asyncpg.Connection) -> list[uuid.UUID]:
    """120 users with awards spread over the last ten weeks (chronologically, as they would happen), many ties."""
    rng = random.Random(1125)
    users = [
        await db.fetchval(
            "insert into users (email, password_hash, name) values ($1, 'x', $2) returning id",
            f"{n}-{uuid.uuid4()}@t.io",
            f"Player {n}",
        )
        for n in range(120)
    ]
    awards = []
    for user in users:
        for _ in range(rng.randrange(0, 6)):
            when = NOW - datetime.timedelta(hours=rng.choice([0, 1, 5, 30, 60, 24 * 8, 24 * 20, 24 * 40, 24 * 70]))
            awards.append((when, user, rng.choice(["daily_check_in", "recipe_shared", "recipe_cooked"])))
    for when, user, action in sorted(awards, key=lambda a: a[0]):
        async with db.transaction():
            await award(db, user, action, str(uuid.uuid4()), now=when)  # type: ignore[arg-type]
    return users


@pytest.mark.parametrize("period", ["daily", "weekly", "monthly", "allTime"])
async def test_every_page_and_rank_matches_the_brute_force(db, players, period: str) -> None:
    board = leaderboards.BOARDS[period]  # type: ignore[index]
    start = period_start(board, NOW) if board else None
    expected = [(r["user_id"], r["xp"], r["rank"]) for r in await db.fetch(BRUTE_FORCE, period, start)]
    assert len(expected) > 10 and len({xp for _, xp, _ in expected}) < len(expected)  # ties exist
    walked = []
    for offset in range(0, len(expected) + 7, 7):
        page = await leaderboards.leaderboard(db, players[0], period, limit=7, offset=offset, now=NOW)  # type: ignore[arg-type]
        walked += [(e.user_id, e.period_xp, e.rank) for e in page.leaderboard]
    assert walked == expected
    ranks = {user: rank for user, _, rank in expected}
    for user in players[:40]:
        page = await leaderboards.leaderboard(db, user, period, limit=1, offset=0, now=NOW)  # type: ignore[arg-type]
        if user in ranks:
            assert page.caller is not None and page.caller.rank == ranks[user]
        else:
            assert page.caller is None


# Rank counts that differ from the boards' own users per XP value (both sides net, zero counts left out).
COUNTS_DIFFER = """
with counted as (
    select board, period_start, xp, sum(users) as users from xp_rank_counts group by 1, 2, 3 having sum(users) <> 0
), truth as (
    select board, period_start, xp, count(*) as users from xp_period_totals group by 1, 2, 3
    union all
    select 'allTime', '-infinity', total_xp, count(*) from xp_totals where total_xp > 0 group by 3
)
select count(*) from ((table counted except table truth) union all (table truth except table counted)) differ
"""


async def _fold(db: asyncpg.Connection) -> str:
    async with db.transaction():
        return await leaderboards.fold_rank_counts(db)


async def test_rank_counts_follow_awards_folds_and_deleted_accounts(db, players) -> None:
    assert await db.fetchval(COUNTS_DIFFER) == 0
    appended = await db.fetchval("select count(*) from xp_rank_counts where not folded")
    assert appended > 0
    assert (await _fold(db)).startswith(f"folded {appended} appended rank count(s) into ")
    assert await db.fetchval("select count(*) from xp_rank_counts where not folded") == 0
    assert await db.fetchval(COUNTS_DIFFER) == 0
    # The top users leave: their XP values are held by no one, and the next fold drops those rows.
    top = await db.fetch("select user_id, total_xp from xp_totals order by total_xp desc limit 3")
    await db.execute("delete from users where id = any($1::uuid[])", [row["user_id"] for row in top])
    assert await db.fetchval(COUNTS_DIFFER) == 0
    assert "dropped 0 value(s)" not in await _fold(db)
    assert await db.fetchval("select count(*) from xp_rank_counts where users = 0") == 0
    assert await db.fetchval(COUNTS_DIFFER) == 0
    expected = {r["user_id"]: r["rank"] for r in await db.fetch(BRUTE_FORCE, "allTime", None)}
    for user in [user for user in players if user in expected][:20]:
        page = await leaderboards.leaderboard(db, user, "allTime", limit=1, offset=0, now=NOW)
        assert page.caller is not None and page.caller.rank == expected[user]


async def test_rank_counts_hold_under_concurrent_awards_and_folds(database_url: str, db, players) -> None:
    """Awards on eight connections at once, some to the same users, while folds run: no change is lost or counted
    twice (appends never wait on one another; a fold takes only what its snapshot saw)."""
    conns = [await connect(database_url) for _ in range(8)]
    try:

        async def awards(conn: asyncpg.Connection, lane: int) -> None:
            for n in range(12):
                async with conn.transaction():
                    user = players[(lane * 5 + n) % 30]
                    await award(conn, user, "recipe_shared", f"{lane}-{n}", now=NOW)

        async def folds(conn: asyncpg.Connection) -> None:
            for _ in range(6):
                async with conn.transaction():
                    await leaderboards.fold_rank_counts(conn)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(awards(conn, lane) for lane, conn in enumerate(conns[:7])), folds(conns[7]))
    finally:
        for conn in conns:
            await conn.close()
    assert await db.fetchval(COUNTS_DIFFER) == 0
    await _fold(db)
    assert await db.fetchval(COUNTS_DIFFER) == 0


async def test_the_fold_is_a_locked_job(db, players, database_url: str) -> None:
    pool = await create_pool(database_url, DatabaseSettings(pool_min_size=1, pool_max_size=2))
    settings = make_settings(database_url)
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        async with db.transaction():
            await db.execute("select pg_advisory_xact_lock(hashtext('fold-leaderboards'))")
            held = await run_locked("fold-leaderboards", pool, settings, payments)
        assert held == "fold-leaderboards: another runner holds the lock; nothing done"
        assert "appended rank count(s)" in await run_locked("fold-leaderboards", pool, settings, payments)
        assert await db.fetchval("select count(*) from xp_rank_counts where not folded") == 0
    finally:
        await payments.close()
        await pool.close()


async def test_the_route(client, db) -> None:
    auth, idle = await sign_up(client), await sign_up(client)
    await client.post("/api/v1/gamification/add-xp", headers=bearer(auth), json={"action": "daily_check_in"})
    route = "/api/v1/gamification/leaderboard"
    weekly = (await client.get(route, headers=bearer(auth))).json()
    assert weekly["period"] == "weekly" and weekly["caller"]["rank"] == 1
    assert weekly["leaderboard"][0] == weekly["caller"]
    assert set(weekly["leaderboard"][0]) == {
        "rank",
        "user_id",
        "username",
        "avatar_url",
        "is_creator",
        "creator_tier",
        "total_xp",
        "period_xp",
        "level",
    }
    all_time = (await client.get(route, params={"period": "allTime"}, headers=bearer(idle))).json()
    assert all_time["caller"] is None and all_time["period_start"] is None
    for bad in ({"period": "yearly"}, {"limit": 0}, {"limit": 101}, {"offset": 10_001}, {"offset": -1}):
        response = await client.get(route, params=bad, headers=bearer(auth))
        assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR"), bad
    assert (await client.get(route)).status_code == 401
