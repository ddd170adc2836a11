"""How long `cookcam import supabase` takes for N synthetic accounts (docs/runbooks/supabase-import.md).

    .venv/bin/python -m bench.supabase_import [--accounts 100000]

Writes the psql CSV exports of docs/migration.md (tests/integration/importer/exports.py: generate_exports, the
generator the end-to-end test of the runbook uses: 97% of the accounts importable, nine in ten with a bcrypt hash of
cost 10, all with a profile with preferences and XP, a third with a Google identity, a fifth with an Apple one, a
quarter with a refresh token, one in 25 with a subscription) into a temporary folder, creates a migrated throwaway
database on the test PostgreSQL, then times the dry run, the import and the second (idempotent) run through the CLI,
as an operator runs them."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

import bcrypt

from app.db.migrations import migrate
from tests.integration.importer.exports import generate_exports
from tests.support import PostgresForTests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    accounts = parser.parse_args().accounts
    postgres = PostgresForTests()
    name, dsn = asyncio.run(postgres.create_database("cookcam_import_bench"))
    try:
        asyncio.run(migrate(dsn))
        _measure(dsn, accounts)
    finally:
        asyncio.run(postgres.drop_database(name))
        postgres.stop()


def _measure(dsn: str, accounts: int) -> None:
    env = {**os.environ, "DATABASE_URL": dsn, "APP_ENV": "test"}
    with tempfile.TemporaryDirectory() as folder:
        password_hash = bcrypt.hashpw(b"old-password", bcrypt.gensalt(rounds=10)).decode()
        files = generate_exports(Path(folder), accounts, [password_hash]).options()
        for label, extra in (("dry run", ["--dry-run"]), ("import", []), ("second run", [])):
            started = time.monotonic()
            run = subprocess.run(
                [".venv/bin/cookcam", "import", "supabase", *files, *extra],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            print(f"{label}: {time.monotonic() - started:.1f} s (exit {run.returncode})")
            print(run.stdout)


if __name__ == "__main__":
    main()
