"""`cookcam ops backup` / `restore`: the round trip keeps every row, and a restore refuses what it cannot trust."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

import asyncpg
import pytest

from app.gamification.xp import award
from app.ops.backup import BackupError, find_pg_tool
from tests.e2e.test_cli import cookcam
from tests.support import sign_up

# The tables whose rows must come back byte for byte (compared by checksum, beyond the row counts of every table).
KEY_TABLES = ("users", "subscriptions", "xp_ledger", "xp_totals", "creator_earnings", "schema_migrations")


async def ops(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cookcam, "ops", *args, env={"DATABASE_URL": dsn, "APP_ENV": "test"})


async def _contents(dsn: str) -> tuple[dict[str, int], dict[str, str]]:
    """Row counts of every table, and an md5 of the ordered rows of each key table."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [
            r["tablename"] for r in await conn.fetch("select tablename from pg_tables where schemaname = 'public'")
        ]
        counts = {t: await conn.fetchval(f'select count(*) from "{t}"') for t in tables}
        checksums = {
            t: await conn.fetchval(f"select md5(coalesce(string_agg(r::text, '|' order by r::text), '')) from {t} r")
            for t in KEY_TABLES
        }
        return counts, checksums
    finally:
        await conn.close()


async def _some_of_everything(client, db) -> None:
    """Accounts, a subscription, XP and a creator's earning, as the service writes them."""
    cooks = [uuid.UUID((await sign_up(client))["user"]["id"]) for _ in range(2)]
    async with db.transaction():
        await award(db, cooks[0], "recipe_cooked", "recipe-1")
        await award(db, cooks[1], "scan_completed", "scan-1")
    await db.execute(
        "insert into subscriptions (user_id, provider, provider_subscription_id, tier_slug, status,"
        " provider_updated_at) values ($1, 'stripe', 'sub_backup', 'regular', 'active', now())",
        cooks[1],
    )
    await db.execute(
        "insert into creator_earnings (creator_id, provider, period_start, kind, amount_cents, net_cents,"
        " share_percent, currency, period_key, payable_at)"
        " values ($1, 'stripe', now(), 'earning', 254, 849, 30, 'usd', 'k1', now())",
        cooks[0],
    )


async def test_a_restored_backup_holds_every_row_of_the_original(client, db, database_url, postgres, tmp_path) -> None:
    await _some_of_everything(client, db)
    dump = tmp_path / "cookcam.dump"
    backup = await ops(database_url, "backup", str(dump))
    assert backup.returncode == 0, backup.stderr
    manifest = json.loads((tmp_path / "cookcam.dump.manifest.json").read_text())
    level = await db.fetchval("select max(version) from schema_migrations")
    assert manifest["migration_level"] == level
    assert f"migrations through {level}" in backup.stdout
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial file left behind
    name, target = await postgres.create_database("cookcam_restore")
    try:
        restored = await ops(target, "restore", str(dump))
        assert restored.returncode == 0, restored.stderr
        assert f"migrations through {level} ({manifest['migrations_applied']} applied)" in restored.stdout
        original, copy = await _contents(database_url), await _contents(target)
        assert copy == original
        assert original[0]["xp_ledger"] == 2 and original[0]["creator_earnings"] == 1
        # Into a database that now has tables: refused, unless asked for.
        again = await ops(target, "restore", str(dump))
        assert again.returncode == 2
        assert f"Database {name} is not empty" in again.stderr
        replaced = await ops(target, "restore", str(dump), "--allow-non-empty")
        assert replaced.returncode == 0, replaced.stderr
        assert await _contents(target) == original
    finally:
        await postgres.drop_database(name)


async def test_a_backup_never_overwrites_and_a_changed_dump_is_not_restored(database_url, postgres, tmp_path) -> None:
    dump = tmp_path / "cookcam.dump"
    assert (await ops(database_url, "backup", str(dump))).returncode == 0
    refused = await ops(database_url, "backup", str(dump))
    assert (refused.returncode, refused.stderr.strip()) == (
        2,
        f"{dump} exists; choose a new file name (a backup never overwrites one).",
    )
    with dump.open("r+b") as file:  # one byte changed in the middle
        file.seek(dump.stat().st_size // 2)
        byte = file.read(1)
        file.seek(-1, 1)
        file.write(bytes([byte[0] ^ 1]))
    name, target = await postgres.create_database("cookcam_restore")
    try:
        changed = await ops(target, "restore", str(dump))
        assert changed.returncode == 2
        assert "does not match its manifest" in changed.stderr and "refusing to restore" in changed.stderr
        conn = await asyncpg.connect(target)
        try:
            assert await conn.fetchval("select count(*) from pg_tables where schemaname = 'public'") == 0
        finally:
            await conn.close()
        (tmp_path / "cookcam.dump.manifest.json").unlink()
        unverifiable = await ops(target, "restore", str(dump))
        assert unverifiable.returncode == 2
        assert "without its manifest a dump cannot be verified" in unverifiable.stderr
    finally:
        await postgres.drop_database(name)


def test_pg_tools_older_than_the_server_or_missing_are_named() -> None:
    with pytest.raises(BackupError, match=r"pg_dump must be PostgreSQL 99 or newer; found only .*pg_dump \(\d+"):
        find_pg_tool("pg_dump", 99)
    with pytest.raises(BackupError, match="pg_nothing was not found on PATH nor in the pgserver wheel"):
        find_pg_tool("pg_nothing", 15)
