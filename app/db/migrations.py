"""Forward-only migration runner.

Many instances may boot at once: a session-level advisory lock on a dedicated connection serialises them, so each
file is applied exactly once. Every applied file's sha256 is stored; an applied file that was edited afterwards is
a hard error, because the schema in the database would no longer be what the repository says.

A file runs in one transaction with a lock_timeout, unless its first line is the marker `-- cookcam: no-transaction`
(for `CREATE INDEX CONCURRENTLY` on big tables): such a file holds exactly one statement, since outside a
transaction a failure after the first statement would leave the file half applied.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from app.db.types import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "migrations"
log = logging.getLogger("cookcam.migrations")

# Arbitrary constant shared by every runner of this application ("cookcam" in ASCII).
ADVISORY_LOCK_KEY = 0x636F6F6B63616D
# Who holds it: pg_locks shows a bigint advisory key as its high and low 32 bits.
LOCK_HOLDER = """
select pid from pg_locks
where locktype = 'advisory' and granted and classid = $1 and objid = $2 and objsubid = 1 and pid <> pg_backend_pid()
"""
NO_TRANSACTION_MARKER = "-- cookcam: no-transaction"
DEFAULT_LOCK_TIMEOUT_SECONDS = 10.0

CREATE_LEDGER = """
create table if not exists schema_migrations (
    version text primary key,
    checksum text not null,
    applied_at timestamptz not null default now()
)
"""


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str
    checksum: str

    @property
    def in_transaction(self) -> bool:
        return self.sql.partition("\n")[0].strip() != NO_TRANSACTION_MARKER


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        data = path.read_bytes()
        migration = Migration(path.name, data.decode(), hashlib.sha256(data).hexdigest())
        if NO_TRANSACTION_MARKER in (line.strip() for line in migration.sql.splitlines()[1:]):
            raise MigrationError(f"Migration {path.name}: {NO_TRANSACTION_MARKER!r} counts only as the first line.")
        migrations.append(migration)
    return migrations


def verify_applied(applied: dict[str, str], migrations: list[Migration]) -> list[str]:
    """Raise when an applied file changed, or when the database has a migration the repository lacks among its
    own; return the applied versions newer than every file here (a newer release migrated first)."""
    known = {m.version: m for m in migrations}
    newest_known = max(known, default="")
    ahead = []
    for version, checksum in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            if version > newest_known:
                # Rolling deploys: the new release migrates while old instances still run. Migrations are
                # additive (expand first, contract later), so older code keeps working against a newer schema.
                ahead.append(version)
                continue
            raise MigrationError(
                f"Database has migration {version} applied, but sql/migrations has no such file, and newer files "
                "exist. The repository and the database disagree about history."
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"Migration {version} was edited after it was applied (stored sha256 {checksum[:12]}…, "
                f"file sha256 {migration.checksum[:12]}…). Migrations are forward-only: restore the file "
                "and put the change in a new migration."
            )
    return ahead


async def applied_migrations(conn: Connection) -> dict[str, str]:
    return {version: checksum for version, (checksum, _) in (await _ledger(conn)).items()}


async def _ledger(conn: Connection) -> dict[str, tuple[str, datetime.datetime]]:
    exists = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    if not exists:
        return {}
    rows = await conn.fetch("select version, checksum, applied_at from schema_migrations")
    return {row["version"]: (row["checksum"], row["applied_at"]) for row in rows}


async def _refuse_compound_outside_transaction(conn: Connection, pending: list[Migration]) -> None:
    """PostgreSQL parses each file that runs outside a transaction: more than one statement is refused before
    anything is applied (parsing a statement neither runs nor locks anything)."""
    for migration in pending:
        if migration.in_transaction:
            continue
        try:
            await conn.prepare(migration.sql)
        except asyncpg.PostgresSyntaxError as exc:
            if "multiple commands" not in str(exc):
                raise
            raise MigrationError(
                f"Migration {migration.version} runs outside a transaction ({NO_TRANSACTION_MARKER}) and must hold "
                "exactly one statement: put each statement in a file of its own."
            ) from None


async def _take_runner_lock(conn: Connection) -> None:
    if await conn.fetchval("select pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY):
        return
    # None when the holder let go in between: the wait below is then short.
    holder = await conn.fetchval(LOCK_HOLDER, ADVISORY_LOCK_KEY >> 32, ADVISORY_LOCK_KEY & 0xFFFFFFFF)
    log.warning(
        "waiting for the migration lock: another runner (PostgreSQL backend pid %s) is applying migrations",
        holder or "unknown",
    )
    await conn.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    log.warning("got the migration lock")


async def _apply(conn: Connection, migration: Migration, lock_timeout_seconds: float) -> None:
    record = "insert into schema_migrations (version, checksum) values ($1, $2)"
    if not migration.in_transaction:
        # Autocommit, without lock_timeout: CREATE INDEX CONCURRENTLY blocks no writes while it waits for older
        # transactions, and aborting it would leave an invalid index behind. Recorded only once it succeeded.
        await conn.execute(migration.sql)
        await conn.execute(record, migration.version, migration.checksum)
        return
    try:
        async with conn.transaction():
            # Waiting for a table lock queues every later query on that table behind us: give up instead.
            await conn.execute(f"set local lock_timeout = {round(lock_timeout_seconds * 1000)}")
            await conn.execute(migration.sql)
            await conn.execute(record, migration.version, migration.checksum)
    except asyncpg.LockNotAvailableError:
        raise MigrationError(
            f"Migration {migration.version} waited {lock_timeout_seconds:g} s for a table lock (lock_timeout) and "
            "was rolled back: a long transaction holds the table. Retry when it has finished, or raise "
            "DATABASE_MIGRATION_LOCK_TIMEOUT_SECONDS."
        ) from None


async def migrate(
    dsn: str, directory: Path = MIGRATIONS_DIR, *, lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS
) -> list[str]:
    """Apply pending migrations, each file in one transaction unless marked; return the versions applied."""
    migrations = load_migrations(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await _take_runner_lock(conn)
        try:
            await conn.execute(CREATE_LEDGER)
            applied = await applied_migrations(conn)
            ahead = verify_applied(applied, migrations)
            if ahead:
                log.warning("database is ahead of this code by %d migration(s): %s", len(ahead), ", ".join(ahead))
            pending = [m for m in migrations if m.version not in applied]
            await _refuse_compound_outside_transaction(conn, pending)
            done = []
            for migration in pending:
                await _apply(conn, migration, lock_timeout_seconds)
                done.append(migration.version)
            return done
        finally:
            await conn.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Plan:
    """What `migrate` would do, read without the lock and without changing anything."""

    applied: dict[str, datetime.datetime]
    pending: list[Migration]
    ahead: list[str]
    # Why `migrate` would stop (an edited file, a history the repository lacks), or None.
    problem: str | None


async def plan(dsn: str, directory: Path = MIGRATIONS_DIR, *, check_pending: bool = False) -> Plan:
    """The state of every migration; with check_pending also the refusals `migrate` would make before applying."""
    conn = await asyncpg.connect(dsn)
    try:
        ledger = await _ledger(conn)
        applied = {version: applied_at for version, (_, applied_at) in ledger.items()}
        try:
            migrations = load_migrations(directory)
            pending = [m for m in migrations if m.version not in ledger]
            ahead = verify_applied({version: checksum for version, (checksum, _) in ledger.items()}, migrations)
            if check_pending:
                await _refuse_compound_outside_transaction(conn, pending)
        except MigrationError as exc:
            return Plan(applied, [], [], str(exc))
        return Plan(applied, pending, ahead, None)
    finally:
        await conn.close()


async def check_current(conn: Connection, migrations: list[Migration]) -> str | None:
    """None when every repository migration is applied unchanged (extra newer ones are fine); else the problem."""
    applied = await applied_migrations(conn)
    try:
        verify_applied(applied, migrations)  # a database ahead of this code is fine (rolling deploys)
    except MigrationError as exc:
        return str(exc)
    missing = [m.version for m in migrations if m.version not in applied]
    if missing:
        return f"{len(missing)} migration(s) not applied, first {missing[0]}"
    return None
