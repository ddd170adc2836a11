"""The `cookcam` command as an operator runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.server import COOKCAM, REPO, free_port
from tests.support import production_like_env


def cookcam(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_ENV")}
    environment.update(env or {})
    return subprocess.run(
        [str(COOKCAM), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_config_check_lists_every_problem_and_redacts_secrets() -> None:
    bad = cookcam("config", "check", env={"APP_ENV": "production", "JWT_SECRET": "short", "HTTP_PORT": "x"})
    assert bad.returncode == 2
    assert "JWT_SECRET must be at least 32 characters" in bad.stderr
    assert "HTTP_PORT" in bad.stderr
    assert "DATABASE_URL is required in production" in bad.stderr
    good = cookcam(
        "config",
        "check",
        env={
            "APP_ENV": "development",
            "JWT_SECRET": "a-long-development-secret-of-40-characters",
            "STRIPE_WEBHOOK_SECRT": "whsec_misspelt",
        },
    )
    assert good.returncode == 0, good.stderr
    assert (
        "warning: STRIPE_WEBHOOK_SECRT is not a setting and is ignored; did you mean STRIPE_WEBHOOK_SECRET?\n"
        in good.stderr
    )
    config = json.loads(good.stdout)
    assert config["jwt"]["secret"] == "***redacted***"
    assert "a-long-development-secret" not in good.stdout


def test_every_command_that_loads_the_configuration_needs_app_env_and_says_so_in_one_line(tmp_path: Path) -> None:
    """A forgotten APP_ENV no longer means development: no demo account, no unsigned StoreKit data on a server."""
    expected = (
        "APP_ENV is required: set it to one of development, test, staging, production "
        "(./dev sets development for what it starts)\n"
    )
    database = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}  # never reached
    for command in (
        ("serve",),
        ("migrate",),
        ("seed",),
        ("config", "check"),
        ("jobs", "run", "purge-expired"),
        ("billing", "fraud-report"),
        ("billing", "customer", "someone@example.com"),
        (
            "billing",
            "grant",
            "someone@example.com",
            "regular",
            "--until",
            "2027-01-31",
            "--reason",
            "r",
            "--operator",
            "o",
        ),
        ("billing", "revoke", "someone@example.com", "--reason", "r", "--operator", "o"),
        ("billing", "reencrypt-proofs"),
        ("ingredients", "refresh"),
        ("import", "supabase", "--close-window"),
        ("ops", "backup", "cookcam.dump"),
        ("ops", "restore", "cookcam.dump"),
    ):
        result = cookcam(*command, env=database, cwd=tmp_path, timeout=60)
        assert (result.returncode, result.stderr) == (2, expected), command


def test_an_unreachable_database_stops_start_up_with_one_line_and_no_password() -> None:
    url = "postgresql://cookcam:hunter2@127.0.0.1:1/cookcam"
    result = cookcam("serve", env={"APP_ENV": "test", "DATABASE_URL": url}, timeout=60)
    assert result.returncode == 4
    (line,) = result.stderr.splitlines()
    assert line.startswith("Cannot reach the database at postgresql://cookcam:***@127.0.0.1:1/cookcam: "), line
    assert "hunter2" not in result.stderr


async def test_migrate_seed_and_jobs(postgres) -> None:
    name, dsn = await postgres.create_database("cookcam_cli")
    env = {"DATABASE_URL": dsn, "APP_ENV": "test"}
    try:
        first = cookcam("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert "0001_identity.sql" in first.stdout
        assert "Reference data: loaded 223 ingredients and 210 recipes." in first.stdout
        again = cookcam("migrate", env=env).stdout
        assert "schema current" in again and "Reference data: current." in again
        status = cookcam("migrate", "--status", env=env)
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("0001_identity.sql  applied 20")
        assert status.stdout.endswith(" applied, 0 pending.\n")
        dry_run = cookcam("migrate", "--dry-run", env=env)
        assert (dry_run.returncode, dry_run.stdout) == (
            0,
            f"{status.stdout.count('applied 20')} applied, 0 pending (dry run: nothing applied).\n",
        )
        assert "Seeded demo user demo@cookcam.app" in cookcam("seed", env=env).stdout
        assert "already exists" in cookcam("seed", env=env).stdout
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "insert into rate_limit_counters (bucket, window_start, hits) "
                "values ('old', now() - interval '2 days', 1)"
            )
            job = cookcam("jobs", "run", "purge-expired", env=env)
            assert job.returncode == 0, job.stderr
            assert "1 rate-limit window(s)" in job.stdout
            assert await conn.fetchval("select count(*) from rate_limit_counters") == 0
            assert "No fraud signals." in cookcam("billing", "fraud-report", env=env).stdout
            await conn.execute(
                "insert into billing_security_events (user_id, provider, kind) "
                "select id, 'apple', 'proof_owned_elsewhere' from users where email = 'demo@cookcam.app'"
            )
            report = cookcam("billing", "fraud-report", env=env)
            assert report.returncode == 0, report.stderr
            assert "proof_owned_elsewhere" in report.stdout
            assert "demo@cookcam.app" in report.stdout
            (line,) = cookcam("billing", "fraud-report", "--json", env=env).stdout.strip().splitlines()
            assert json.loads(line)["signal"] == "proof_owned_elsewhere"
            assert "re-encrypted 0 proof(s)" in cookcam("billing", "reencrypt-proofs", env=env).stdout
            # An applied migration whose file no longer matches stops start-up with a clear message.
            await conn.execute("update schema_migrations set checksum = 'edited' where version = '0001_identity.sql'")
        finally:
            await conn.close()
        serve = cookcam("serve", "--port", str(free_port()), env=env)
        assert serve.returncode == 3
        assert "0001_identity.sql was edited after it was applied" in serve.stderr
    finally:
        await postgres.drop_database(name)


def test_seed_refuses_production() -> None:
    env = production_like_env(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres")
    result = cookcam("seed", env=env)
    assert result.returncode == 2
    assert "Refusing to seed demo data in production" in result.stderr


def test_unknown_job_is_refused() -> None:
    result = cookcam("jobs", "run", "no-such-job")
    assert result.returncode == 2
    assert "known jobs: fold-leaderboards, purge-expired, reconcile, retry-events, send-email" in result.stderr


def test_codegen_check_passes_on_the_committed_queries() -> None:
    result = cookcam("codegen", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's temporary root: running as root, pgserver runs PostgreSQL as its own user and opens the
    folders above the data up for it, and another pytest run starting meanwhile closes pytest-of-<user> again."""
    folder = Path(tempfile.mkdtemp(prefix="cookcam-embedded-"))
    yield folder / "data"
    shutil.rmtree(folder, ignore_errors=True)


def test_embedded_postgres_when_no_database_url(data_dir: Path) -> None:
    env = {"APP_ENV": "development", "DATA_DIR": str(data_dir)}
    result = cookcam("migrate", env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    # The note goes to stderr: stdout is the command's own output (data such as `--json` must stay parseable).
    # It is the only line there: pgserver's INFO narration of initdb and pg_ctl and platformdirs' warning stay out.
    assert result.stderr.splitlines() == [
        f"Using the embedded PostgreSQL under {data_dir}/ (set DATABASE_URL to use your own)."
    ]
    assert "embedded PostgreSQL" not in result.stdout
    assert "0001_identity.sql" in result.stdout
    # The data survives: a second run finds the schema current.
    again = cookcam("migrate", env=env, timeout=180)
    assert "schema current" in again.stdout
    # A data command's stdout is its data alone, also on the embedded database: no signals, no JSON lines.
    report = cookcam("billing", "fraud-report", "--json", env=env, timeout=180)
    assert report.returncode == 0, report.stderr
    assert report.stdout.strip() == ""


def test_ingredient_refresh_needs_a_key_and_leaves_the_file_alone() -> None:
    before = (REPO / "app" / "ingredients" / "data" / "ingredients.json").read_bytes()
    result = cookcam("ingredients", "refresh", "sugar", env={"APP_ENV": "development", "FDC_API_KEY": ""})
    assert result.returncode == 2
    assert "FDC_UNCONFIGURED" in result.stderr
    assert (REPO / "app" / "ingredients" / "data" / "ingredients.json").read_bytes() == before
