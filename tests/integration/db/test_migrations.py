"""The migration runner: exactly-once under concurrency, edited migrations stop start-up."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path

import asyncpg
import pytest

from app.cli import main
from app.db.migrations import (
    ADVISORY_LOCK_KEY,
    MIGRATIONS_DIR,
    NO_TRANSACTION_MARKER,
    MigrationError,
    check_current,
    load_migrations,
    migrate,
    plan,
)


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


LEDGER = (
    "create table ledger (id bigint generated always as identity primary key, account int not null);\n"
    "insert into ledger (account) select n % 50 from generate_series(1, 2000) as n;\n"
)


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    directory = tmp_path / "small"
    directory.mkdir(exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


async def _fetchval(dsn: str, query: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def test_a_concurrent_index_migration_runs_outside_a_transaction_and_is_recorded_once_it_succeeded(
    empty_database, tmp_path
) -> None:
    directory = _folder(
        tmp_path,
        {
            "0001_ledger.sql": LEDGER,
            "0002_ledger_account.sql": f"{NO_TRANSACTION_MARKER}\ncreate unique index concurrently ledger_account "
            "on ledger (account);\n",
        },
    )
    # The accounts repeat: the unique index fails after the ledger file was applied, and is not recorded.
    with pytest.raises(asyncpg.UniqueViolationError):
        await migrate(empty_database, directory)
    versions = await _fetchval(empty_database, "select array_agg(version order by version) from schema_migrations")
    assert versions == ["0001_ledger.sql"]
    # What PostgreSQL leaves of a failed CREATE INDEX CONCURRENTLY: an invalid index, for the operator to drop.
    valid = "select indisvalid from pg_index where indexrelid = 'ledger_account'::regclass"
    assert await _fetchval(empty_database, valid) is False
    await _fetchval(empty_database, "drop index concurrently ledger_account")
    fixed = f"{NO_TRANSACTION_MARKER}\ncreate index concurrently ledger_account on ledger (account);\n"
    (directory / "0002_ledger_account.sql").write_text(fixed)
    assert await migrate(empty_database, directory) == ["0002_ledger_account.sql"]
    assert await _fetchval(empty_database, valid) is True
    checksum = "select checksum from schema_migrations where version = '0002_ledger_account.sql'"
    assert await _fetchval(empty_database, checksum) == hashlib.sha256(fixed.encode()).hexdigest()
    assert (await plan(empty_database, directory)).pending == []


async def test_a_no_transaction_migration_holds_one_statement_and_its_marker_is_the_first_line(
    empty_database, tmp_path
) -> None:
    directory = _folder(
        tmp_path,
        {
            "0001_ledger.sql": LEDGER,
            "0002_two.sql": f"{NO_TRANSACTION_MARKER}\ncreate index concurrently a on ledger (account);\n"
            "create index concurrently b on ledger (id, account);\n",
        },
    )
    with pytest.raises(MigrationError, match=r"0002_two\.sql runs outside a transaction .* exactly one statement"):
        await migrate(empty_database, directory)
    # Refused before anything was applied, the earlier pending file included.
    assert await _fetchval(empty_database, "select count(*) from schema_migrations") == 0
    assert await _fetchval(empty_database, "select to_regclass('ledger')") is None
    (directory / "0002_two.sql").write_text(
        f"-- an index\n{NO_TRANSACTION_MARKER}\ncreate index a on ledger (account);"
    )
    with pytest.raises(MigrationError, match="counts only as the first line"):
        await migrate(empty_database, directory)


async def test_a_migration_waiting_for_a_table_lock_gives_up_after_lock_timeout(empty_database, tmp_path) -> None:
    directory = _folder(tmp_path, {"0001_ledger.sql": LEDGER})
    await migrate(empty_database, directory)
    (directory / "0002_column.sql").write_text("alter table ledger add column note text;")
    reader = await asyncpg.connect(empty_database)
    try:
        # An open transaction that read the table (ACCESS SHARE) blocks ALTER TABLE's ACCESS EXCLUSIVE lock.
        transaction = reader.transaction()
        await transaction.start()
        await reader.fetchval("select count(*) from ledger")
        with pytest.raises(MigrationError, match=r"0002_column.sql waited 0.2 s for a table lock \(lock_timeout\)"):
            await asyncio.wait_for(migrate(empty_database, directory, lock_timeout_seconds=0.2), timeout=10)
        await transaction.rollback()
    finally:
        await reader.close()
    assert await migrate(empty_database, directory) == ["0002_column.sql"]


async def test_a_runner_waiting_for_the_advisory_lock_says_who_holds_it(empty_database, tmp_path, caplog) -> None:
    directory = _folder(tmp_path, {"0001_ledger.sql": LEDGER})
    holder = await asyncpg.connect(empty_database)
    try:
        await holder.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        runner = asyncio.create_task(migrate(empty_database, directory))
        message = f"waiting for the migration lock: another runner (PostgreSQL backend pid {holder.get_server_pid()})"
        for _ in range(250):
            if message in caplog.text:
                break
            await asyncio.sleep(0.02)
        assert message in caplog.text
        assert not runner.done()
        await holder.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
        assert await runner == ["0001_ledger.sql"]
    finally:
        await holder.close()


async def test_the_plan_lists_applied_and_pending_files_and_what_migrate_would_refuse(empty_database, tmp_path) -> None:
    directory = _folder(tmp_path, {"0001_ledger.sql": LEDGER})
    await migrate(empty_database, directory)
    (directory / "0002_two.sql").write_text(f"{NO_TRANSACTION_MARKER}\nvacuum ledger; analyze ledger;\n")
    state = await plan(empty_database, directory)
    assert list(state.applied) == ["0001_ledger.sql"]
    assert [(m.version, m.in_transaction) for m in state.pending] == [("0002_two.sql", False)]
    assert state.problem is None
    checked = await plan(empty_database, directory, check_pending=True)
    assert checked.problem is not None and "exactly one statement" in checked.problem
    (directory / "0002_two.sql").write_text(f"vacuum ledger;\n{NO_TRANSACTION_MARKER}\n")
    assert "counts only as the first line" in str((await plan(empty_database, directory)).problem)
    (directory / "0002_two.sql").unlink()
    (directory / "0001_ledger.sql").write_text(LEDGER + "-- edited\n")
    assert "0001_ledger.sql was edited after it was applied" in str((await plan(empty_database, directory)).problem)
    assert await _fetchval(empty_database, "select count(*) from schema_migrations") == 1


def test_migrate_status_and_dry_run_report_pending_files_and_change_nothing(
    empty_database, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", empty_database)
    assert main(["migrate", "--status"]) == 1
    status = capsys.readouterr().out.splitlines()
    assert status[0] == "0001_identity.sql  pending"
    assert status[-1] == f"0 applied, {len(load_migrations())} pending."
    assert main(["migrate", "--dry-run"]) == 0
    dry_run = capsys.readouterr().out.splitlines()
    assert dry_run[0] == "would apply 0001_identity.sql in a transaction"
    assert dry_run[-1] == f"0 applied, {len(load_migrations())} pending (dry run: nothing applied)."
    assert asyncio.run(_fetchval(empty_database, "select to_regclass('schema_migrations')")) is None
