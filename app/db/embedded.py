"""The zero-config database: a private PostgreSQL under the data directory.

Used only when DATABASE_URL is unset in development and test. pgserver ships PostgreSQL in a wheel (CPython 3.11 and
3.12); elsewhere PostgreSQL's own initdb/pg_ctl on PATH are used, and failing both the error says how to set
DATABASE_URL.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import warnings
from pathlib import Path
from typing import Any

NO_POSTGRES_MESSAGE = (
    "No DATABASE_URL is set and no embedded PostgreSQL is available (pgserver is not installed and initdb/pg_ctl "
    "are not on PATH): set DATABASE_URL=postgresql://user:password@host:5432/dbname."
)

DATABASE_NAME = "cookcam"


class EmbeddedDatabaseError(Exception):
    pass


class EmbeddedPostgres:
    """Handle on the embedded server; `url` is the DSN of its `cookcam` database."""

    def __init__(self, url: str, handle: Any = None) -> None:
        self.url = url
        self._handle = handle

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cleanup()
            self._handle = None


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (or reuse) the embedded server and make sure the application database exists."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # On import pgserver asks platformdirs for a runtime directory, which warns where XDG_RUNTIME_DIR is unset
        # (containers, CI, cron) and falls back to /tmp: noise on every start, nothing to act on.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set", module="platformdirs")
        try:
            import pgserver  # noqa: PLC0415 - optional: wheels exist for CPython 3.11/3.12 only
        except ImportError:
            return _start_with_system_binaries(data_dir / "pg-system")
    # cleanup_mode="stop": the server stops when the last process holding a handle exits.
    server = pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")  # type: ignore[attr-defined]
    exists = server.psql(f"select 1 from pg_database where datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"create database {DATABASE_NAME};")
    return EmbeddedPostgres(server.get_uri(DATABASE_NAME), server)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_with_system_binaries(pgdata: Path) -> EmbeddedPostgres:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise EmbeddedDatabaseError(NO_POSTGRES_MESSAGE)
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run([initdb, "-D", str(pgdata), "-U", "postgres", "--auth=trust"], check=True)
    port_file = pgdata.parent / "pg-system.port"
    port = int(port_file.read_text()) if port_file.exists() else _free_port()
    port_file.write_text(str(port))
    status = subprocess.run([pg_ctl, "-D", str(pgdata), "status"], capture_output=True)
    if status.returncode != 0:
        options = f"-h 127.0.0.1 -p {port} -k {pgdata}"
        subprocess.run([pg_ctl, "-D", str(pgdata), "-o", options, "-w", "-l", str(pgdata / "log"), "start"], check=True)
    createdb = shutil.which("createdb")
    if createdb is not None:
        subprocess.run(
            [createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", DATABASE_NAME], capture_output=True
        )
    return EmbeddedPostgres(f"postgresql://postgres@127.0.0.1:{port}/{DATABASE_NAME}")
