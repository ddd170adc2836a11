"""`cookcam ops backup` / `restore`: the round trip keeps every row, and a restore refuses what it cannot trust."""

from __future__ import annotations

import asyncio
import subprocess

import asyncpg
import pytest

from app.ops.backup import BackupError, find_pg_tool
from tests.e2e.test_cli import cookcam


async def ops(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cookcam, "ops", *args, env={"DATABASE_URL": dsn, "APP_ENV": "test"})


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
