"""Forward-only migration runner.

Many instances may boot at once: a session-level advisory lock on a dedicated connection serialises them, so each
file is applied exactly once. Every applied file's sha256 is stored; an applied file that was edited afterwards is
a hard error, because the schema in the database would no longer be what the repository says.
"""

from __future__ import annotations

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


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        data = path.read_bytes()
        migrations.append(Migration(path.name, data.decode(), hashlib.sha256(data).hexdigest()))
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
    exists = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    if not exists:
        return {}
    rows = await conn.fetch("select version, checksum from schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


async def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations, one transaction per file; return the versions applied by this call."""
    migrations = load_migrations(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("select pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            await conn.execute(CREATE_LEDGER)
            applied = await applied_migrations(conn)
            ahead = verify_applied(applied, migrations)
            if ahead:
                log.warning("database is ahead of this code by %d migration(s): %s", len(ahead), ", ".join(ahead))
            done = []
            for migration in migrations:
                if migration.version in applied:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "insert into schema_migrations (version, checksum) values ($1, $2)",
                        migration.version,
                        migration.checksum,
                    )
                done.append(migration.version)
            return done
        finally:
            await conn.execute("select pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
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
