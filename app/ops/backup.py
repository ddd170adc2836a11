"""`cookcam ops backup` / `restore`: a logical copy of the database in pg_dump's custom format, with a manifest.

The dump is written under a temporary name and renamed when complete, so a file with the final name is a whole
dump; its manifest (`<file>.manifest.json`: when, which server, which migration level, sha256) is written the same
way after it. A restore checks the checksum before touching anything, goes only into an empty database unless told
otherwise, runs in one transaction, and reports the migration level it restored (docs/runbooks/backup-restore.md).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
import msgspec

MANIFEST_SUFFIX = ".manifest.json"


class BackupError(Exception):
    """A refusal or failure, said in one sentence for the operator."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    created_at: datetime.datetime
    database: str
    server_version: str
    pg_dump_version: str
    # The newest applied migration file and how many are applied (None, 0: no schema_migrations table).
    migration_level: str | None
    migrations_applied: int
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class PgTool:
    path: str
    version: str  # e.g. "15.20"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


@dataclass(frozen=True)
class DatabaseFacts:
    name: str
    server_version: str
    server_major: int
    migration_level: str | None
    migrations_applied: int
    relations: int  # tables, views, sequences outside the system schemas


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + MANIFEST_SUFFIX)


def _candidates(name: str) -> list[str]:
    """`name` on PATH, then the one the embedded PostgreSQL wheel (pgserver) ships."""
    found = [path for path in (shutil.which(name),) if path]
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / name
        if bundled.is_file():
            found.append(str(bundled))
    return found


def find_pg_tool(name: str, minimum_major: int) -> PgTool:
    """The first `name` (pg_dump, pg_restore) whose major version is at least `minimum_major`: an older one cannot
    read a newer server's catalog (or a newer tool's archive)."""
    tools = []
    for path in _candidates(name):
        version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
        output = version.stdout
        match = re.search(r"(\d+)(?:\.(\d+))?", output)
        if match:
            tools.append(PgTool(path, match.group(0)))
    if not tools:
        raise BackupError(
            f"{name} was not found on PATH nor in the pgserver wheel: install PostgreSQL's client tools, "
            f"major version {minimum_major} or newer (Debian: postgresql-client-{minimum_major})."
        )
    for tool in tools:
        if tool.major >= minimum_major:
            return tool
    seen = ", ".join(f"{tool.path} ({tool.version})" for tool in tools)
    raise BackupError(f"{name} must be PostgreSQL {minimum_major} or newer; found only {seen}.")


def libpq_target(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN for pg_dump/pg_restore without its password, and the environment carrying it (PGPASSWORD): a
    password on a command line is visible to every user of the machine (ps)."""
    parts = urlsplit(dsn)
    env = dict(os.environ)
    if parts.password is None:
        return dsn, env
    env["PGPASSWORD"] = unquote(parts.password)
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc)), env


async def database_facts(dsn: str) -> DatabaseFacts:
    conn = await asyncpg.connect(dsn)
    try:
        relations = await conn.fetchval(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%' "
            "and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')"
        )
        level, applied = None, 0
        if await conn.fetchval("select to_regclass('schema_migrations') is not null"):
            level = await conn.fetchval("select max(version) from schema_migrations")
            applied = await conn.fetchval("select count(*) from schema_migrations")
        return DatabaseFacts(
            name=await conn.fetchval("select current_database()"),
            server_version=await conn.fetchval("show server_version"),
            server_major=int(await conn.fetchval("show server_version_num")) // 10000,
            migration_level=level,
            migrations_applied=applied,
            relations=relations,
        )
    finally:
        await conn.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _publish(temporary: Path, final: Path) -> None:
    """Make a complete file visible under its final name: flushed to disk, renamed, the rename flushed too."""
    with temporary.open("rb") as file:
        os.fsync(file.fileno())
    temporary.replace(final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _level(level: str | None, applied: int) -> str:
    return f"migrations through {level} ({applied} applied)" if level else "no migrations applied"


def backup(dsn: str, dump: Path) -> str:
    """Write `dump` and its manifest; a one-line summary."""
    manifest_file = manifest_path(dump)
    for existing in (dump, manifest_file):
        if existing.exists():
            raise BackupError(f"{existing} exists; choose a new file name (a backup never overwrites one).")
    facts = asyncio.run(database_facts(dsn))
    pg_dump = find_pg_tool("pg_dump", facts.server_major)
    target, env = libpq_target(dsn)
    partial = dump.with_name(f".{dump.name}.partial")
    started = time.monotonic()
    created_at = datetime.datetime.now(datetime.UTC)
    result = subprocess.run(  # noqa: S603 - our own arguments, no shell
        [pg_dump.path, "--format=custom", f"--file={partial}", f"--dbname={target}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed (exit {result.returncode}): {result.stderr.strip()}")
    manifest = Manifest(
        created_at=created_at,
        database=facts.name,
        server_version=facts.server_version,
        pg_dump_version=pg_dump.version,
        migration_level=facts.migration_level,
        migrations_applied=facts.migrations_applied,
        size_bytes=partial.stat().st_size,
        sha256=_sha256(partial),
    )
    _publish(partial, dump)
    partial_manifest = manifest_file.with_name(f".{manifest_file.name}.partial")
    partial_manifest.write_bytes(msgspec.json.format(msgspec.json.encode(manifest)) + b"\n")
    _publish(partial_manifest, manifest_file)
    level = _level(facts.migration_level, facts.migrations_applied)
    return (
        f"Backed up {facts.name} (PostgreSQL {facts.server_version}, {level}) to {dump} with pg_dump "
        f"{pg_dump.version}: {manifest.size_bytes} bytes in {elapsed:.2f} s, sha256 {manifest.sha256}; "
        f"manifest {manifest_file}."
    )


def read_manifest(dump: Path) -> Manifest:
    """The dump's manifest, once the dump's checksum matches it."""
    manifest_file = manifest_path(dump)
    if not dump.is_file():
        raise BackupError(f"{dump} does not exist.")
    if not manifest_file.is_file():
        raise BackupError(f"{manifest_file} does not exist: without its manifest a dump cannot be verified.")
    try:
        manifest = msgspec.json.decode(manifest_file.read_bytes(), type=Manifest)
    except msgspec.DecodeError as exc:
        raise BackupError(f"{manifest_file} is not a backup manifest: {exc}") from None
    actual = _sha256(dump)
    if actual != manifest.sha256:
        raise BackupError(
            f"{dump} does not match its manifest (sha256 {actual}, expected {manifest.sha256}): refusing to restore."
        )
    return manifest


def restore(dsn: str, dump: Path, *, allow_non_empty: bool = False) -> str:
    """Restore `dump` into the database at `dsn` in one transaction; a one-line summary."""
    manifest = read_manifest(dump)
    before = asyncio.run(database_facts(dsn))
    if before.relations and not allow_non_empty:
        raise BackupError(
            f"Database {before.name} is not empty ({before.relations} tables, views or sequences): restore into a new, "
            "empty database, or pass --allow-non-empty to drop and replace the objects the dump contains."
        )
    dump_major = int(manifest.pg_dump_version.split(".")[0])
    pg_restore = find_pg_tool("pg_restore", max(before.server_major, dump_major))
    target, env = libpq_target(dsn)
    # Objects belong to the restoring role (DATABASE_URL's user); the schema grants nothing to other roles.
    command = [pg_restore.path, "--no-owner", "--no-acl", "--single-transaction", "--exit-on-error"]
    if allow_non_empty:
        command += ["--clean", "--if-exists"]
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own arguments, no shell
        [*command, f"--dbname={target}", str(dump)], capture_output=True, text=True, env=env, check=False
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise BackupError(
            f"pg_restore failed (exit {result.returncode}); nothing was restored: {result.stderr.strip()}"
        )
    after = asyncio.run(database_facts(dsn))
    if (after.migration_level, after.migrations_applied) != (manifest.migration_level, manifest.migrations_applied):
        raise BackupError(
            f"Restored {_level(after.migration_level, after.migrations_applied)}, but the manifest says "
            f"{_level(manifest.migration_level, manifest.migrations_applied)}."
        )
    return (
        f"Restored {dump} (taken {manifest.created_at.isoformat()} from {manifest.database}) into {after.name} with "
        f"pg_restore {pg_restore.version} in {elapsed:.2f} s: "
        f"{_level(after.migration_level, after.migrations_applied)}."
    )
