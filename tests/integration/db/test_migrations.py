"""The migration runner: exactly-once under concurrency, edited migrations stop start-up."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from app.db.migrations import MIGRATIONS_DIR, MigrationError, check_current, load_migrations, migrate


@pytest.fixture
async def empty_database(postgres):
    name, dsn = await postgres.create_database("cookcam_migrations")
    yield dsn
    await postgres.drop_database(name)


def _copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


async def test_concurrent_runners_apply_each_file_exactly_once(empty_database, tmp_path) -> None:
    directory = _copy_migrations(tmp_path)
    # A migration that would fail if run twice (no IF NOT EXISTS) and records each run.
    (directory / "9999_probe.sql").write_text(
        "create table migration_probe (id int primary key); insert into migration_probe values (1);"
    )
    results = await asyncio.gather(*(migrate(empty_database, directory) for _ in range(4)))
    applied = sorted(v for result in results for v in result)
    expected = sorted(p.name for p in directory.glob("*.sql"))
    assert applied == expected
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("select count(*) from migration_probe") == 1
        assert await conn.fetchval("select count(*) from schema_migrations") == len(expected)
    finally:
        await conn.close()


async def test_edited_applied_migration_is_a_hard_error(empty_database, tmp_path) -> None:
    directory = _copy_migrations(tmp_path)
    await migrate(empty_database, directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match=f"{first.name} was edited after it was applied"):
        await migrate(empty_database, directory)


async def test_failed_migration_leaves_nothing_half_applied(empty_database, tmp_path) -> None:
    directory = _copy_migrations(tmp_path)
    (directory / "9999_broken.sql").write_text("create table half_done (id int); select * from no_such_table;")
    with pytest.raises(asyncpg.UndefinedTableError):
        await migrate(empty_database, directory)
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("select to_regclass('half_done')") is None
        assert await conn.fetchval("select count(*) from schema_migrations where version = '9999_broken.sql'") == 0
        # Earlier files were committed one by one.
        assert await conn.fetchval("select count(*) from schema_migrations") == len(list(MIGRATIONS_DIR.glob("*.sql")))
    finally:
        await conn.close()


async def _record_applied(dsn: str, version: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("insert into schema_migrations (version, checksum) values ($1, 'x')", version)
    finally:
        await conn.close()


async def test_database_ahead_of_the_code_is_tolerated(empty_database, tmp_path) -> None:
    """A newer release migrated first (rolling deploy): this code still starts and is ready."""
    directory = _copy_migrations(tmp_path)
    await migrate(empty_database, directory)
    await _record_applied(empty_database, "9999_from_a_newer_release.sql")
    assert await migrate(empty_database, directory) == []
    conn = await asyncpg.connect(empty_database)
    try:
        assert await check_current(conn, load_migrations(directory)) is None
    finally:
        await conn.close()


async def test_unknown_migration_among_known_ones_is_refused(empty_database, tmp_path) -> None:
    directory = _copy_migrations(tmp_path)
    await migrate(empty_database, directory)
    await _record_applied(empty_database, "0000_deleted_file.sql")
    with pytest.raises(MigrationError, match="disagree about history"):
        await migrate(empty_database, directory)
