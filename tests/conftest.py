from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.db.migrations import migrate
from app.db.pool import connect
from app.server import create_app
from app.settings import DatabaseSettings, JobsSettings, RateLimitSettings, Settings
from tests.support import PostgresForTests

# Tables holding rows right after migrating (the migration ledger and the reference data migrations seed: tiers,
# xp_actions, ...) survive the per-test wipe; every other table is emptied after each test. By database URL.
SEEDED_TABLES: dict[str, frozenset[str]] = {}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresForTests]:
    server = PostgresForTests()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def database_url(postgres: PostgresForTests) -> AsyncIterator[str]:
    """One database built from sql/migrations for the whole run; tests are isolated by the wipe below."""
    name, dsn = await postgres.create_database()
    await migrate(dsn)
    SEEDED_TABLES[dsn] = await _tables_with_rows(dsn)
    yield dsn
    await postgres.drop_database(name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(database_url)  # prepared like the pool's connections (jsonb codec)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
async def _wipe_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "database_url" not in request.fixturenames:
        return
    dsn = request.getfixturevalue("database_url")
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch("select tablename from pg_tables where schemaname = 'public'")
        names = [f'"{t["tablename"]}"' for t in tables if t["tablename"] not in SEEDED_TABLES[dsn]]
        if names:
            # DELETE rather than TRUNCATE: truncating ~60 tables gives each new files and took 0.4 s a test, deleting
            # a test's few rows takes milliseconds. The replica role skips foreign-key checks and triggers (the
            # append-only ledgers refuse deletes; deleting users would write tombstones) for this wipe only.
            async with conn.transaction():
                await conn.execute("set local session_replication_role = replica")
                await conn.execute("; ".join(f"delete from {name}" for name in names))
    finally:
        await conn.close()


async def _tables_with_rows(dsn: str) -> frozenset[str]:
    conn = await asyncpg.connect(dsn)
    try:
        seeded = set()
        for table in await conn.fetch("select tablename from pg_tables where schemaname = 'public'"):
            if await conn.fetchval(f'select exists (select from "{table["tablename"]}")'):
                seeded.add(table["tablename"])
        return frozenset(seeded)
    finally:
        await conn.close()


def make_settings(database_url: str, **overrides: object) -> Settings:
    base = Settings(
        app_env="test",
        database=DatabaseSettings(url=database_url, pool_min_size=1, pool_max_size=5),
        ratelimit=RateLimitSettings(per_account=1000, per_address=1000, emails_per_account=1000),
        # Tests send the outbox themselves (through the loopback SMTP fake): the in-process send-email job must not
        # take their messages first.
        jobs=JobsSettings(send_email_seconds=3600.0),
    )
    return msgspec.structs.replace(base, **overrides)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client
