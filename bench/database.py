"""A fresh, migrated database for one bench run, and the refresh-token pool the refresh scenario spends."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from app.core.tokens import hash_refresh_token, new_refresh_token
from app.db.migrations import migrate
from tests.support import LOCAL_ADMIN_DSN, PostgresForTests


@dataclass(frozen=True)
class BenchDatabase:
    dsn: str
    # Where it runs, for the report: the local server or the embedded fallback.
    server: str
    version: str


@contextmanager
def fresh_database() -> Iterator[BenchDatabase]:
    """A new `cookcam_bench_<random>` database with every migration applied, dropped afterwards.

    Uses the PostgreSQL on 127.0.0.1:5432 when it answers, else an embedded one (the tests' own logic).
    """
    postgres = PostgresForTests()
    try:
        name, dsn = asyncio.run(postgres.create_database(prefix="cookcam_bench"))
        try:
            asyncio.run(migrate(dsn))
            server = "local 127.0.0.1:5432" if postgres.admin_dsn == LOCAL_ADMIN_DSN else "embedded"
            yield BenchDatabase(dsn=dsn, server=server, version=asyncio.run(_server_version(dsn)))
        finally:
            asyncio.run(postgres.drop_database(name))
    finally:
        postgres.stop()


async def _server_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("show server_version"))
    finally:
        await conn.close()


def create_refresh_token_pool(dsn: str, user_id: str, count: int, token_file: Path) -> None:
    """Give `user_id` `count` live sessions with one unspent refresh token each; write the tokens, one a line.

    One token per session, so that concurrent refreshes never touch the same token family (a reuse would
    revoke the session). Inserted with COPY because 200k requests' worth through the API would take minutes.
    """
    tokens = [new_refresh_token() for _ in range(count)]
    asyncio.run(_insert_pool(dsn, uuid.UUID(user_id), tokens))
    token_file.write_text("\n".join(tokens) + "\n")


async def _insert_pool(dsn: str, user_id: uuid.UUID, tokens: list[str]) -> None:
    session_ids = [uuid.uuid4() for _ in tokens]
    expires_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "sessions", records=[(session_id, user_id) for session_id in session_ids], columns=["id", "user_id"]
            )
            await conn.copy_records_to_table(
                "refresh_tokens",
                records=[
                    (user_id, session_id, hash_refresh_token(token), expires_at)
                    for session_id, token in zip(session_ids, tokens, strict=True)
                ],
                columns=["user_id", "session_id", "token_hash", "expires_at"],
            )
        # Fresh statistics, so the planner sees 200k rows rather than an empty table.
        await conn.execute("analyze sessions; analyze refresh_tokens")
    finally:
        await conn.close()


def spent_pool_tokens(dsn: str, user_id: str) -> int:
    """How many pool tokens the refresh scenario spent (the tokens it issued in exchange are never spent)."""
    return asyncio.run(_count_spent(dsn, uuid.UUID(user_id)))


async def _count_spent(dsn: str, user_id: uuid.UUID) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        spent = await conn.fetchval(
            "select count(*) from refresh_tokens where user_id = $1 and spent_at is not null", user_id
        )
        return int(spent)
    finally:
        await conn.close()
