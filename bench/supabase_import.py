"""How long `cookcam import supabase` takes for N synthetic accounts (docs/runbooks/supabase-import.md).

    .venv/bin/python -m bench.supabase_import [--accounts 100000]

Writes psql-style CSV exports (every account with a bcrypt hash, a profile with preferences and XP, every third
with a Google identity) into a temporary folder, creates a migrated throwaway database on the test PostgreSQL,
then times the dry run, the import and the second (idempotent) run through the CLI, as an operator runs them."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import bcrypt

from app.db.migrations import migrate
from tests.support import PostgresForTests


def write_exports(folder: Path, accounts: int) -> list[str]:
    password_hash = bcrypt.hashpw(b"old-password", bcrypt.gensalt(rounds=10)).decode()
    users, profiles, identities = (folder / name for name in ("users.csv", "profiles.csv", "identities.csv"))
    with users.open("w", newline="") as u, profiles.open("w", newline="") as p, identities.open("w", newline="") as i:
        uw, pw, iw = csv.writer(u), csv.writer(p), csv.writer(i)
        uw.writerow(["id", "email", "encrypted_password", "email_confirmed_at", "raw_user_meta_data", "created_at"])
        pw.writerow(["id", "name", "kitchen_appliances", "dietary_preferences", "total_xp", "onboarding_completed"])
        iw.writerow(["provider_id", "user_id", "identity_data", "provider", "created_at"])
        for n in range(accounts):
            user_id = str(uuid.uuid4())
            meta = json.dumps({"full_name": f"Cook {n}"})
            uw.writerow([user_id, f"cook{n}@example.com", password_hash, "2024-01-01 00:00:00+00", meta, "2024-01-01"])
            pw.writerow([user_id, "", '{oven,"air fryer"}', "{vegan}", n % 5000, "t"])
            if n % 3 == 0:
                iw.writerow([f"g{n}", user_id, json.dumps({"sub": f"g{n}"}), "google", "2024-01-01 00:00:00+00"])
    return ["--auth-users", str(users), "--profiles", str(profiles), "--identities", str(identities)]


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
        files = write_exports(Path(folder), accounts)
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
