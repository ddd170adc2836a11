"""docs/migration.md followed end to end on generated exports of 10,000 accounts, as an operator and as the apps.

The operator's side runs what the page says, read from the page itself so that the two cannot drift apart: the
export commands' columns are the generated files' columns, the dry run and the import are the page's command
through the real `cookcam` entry point, and the verification script is the page's block run by psql as written.
The users' side talks to a real `cookcam serve` process: an old password, a Supabase access token, an imported
refresh token (once), then the window closed with the page's settings and command.

The exports share a few bcrypt hashes of cost 4 (tests/integration/importer/exports.py): hashing 10,000 passwords
at Supabase's cost 10 would take minutes, and the import only checks that a hash is bcrypt; the sign-in verifies
one at whatever cost it names."""

from __future__ import annotations

import csv
import re
import shlex
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import bcrypt
import httpx
import pgserver

from tests.e2e.server import REPO, RunningServer
from tests.e2e.test_cli import cookcam
from tests.fakes.supabase import HS256_SECRET, FakeSupabase
from tests.integration.importer.exports import (
    AUTH_USER_COLUMNS,
    IDENTITY_COLUMNS,
    PROFILE_COLUMNS,
    REFRESH_TOKEN_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    generate_exports,
)

RUNBOOK = (REPO / "docs" / "migration.md").read_text()
ACCOUNTS = 10_000
PASSWORD = "old-supabase-password"
HASHES = [bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode() for _ in range(4)]
VERIFICATION_MARKER = "<!-- verify.sql: tests/e2e/test_migration_runbook.py runs the block below as written -->"


def _section(heading: str) -> str:
    """The text of the page's `## heading` section."""
    start = RUNBOOK.index(f"\n## {heading}\n")
    end = RUNBOOK.find("\n## ", start + 1)
    return RUNBOOK[start : end if end != -1 else None]


def _cookcam_commands(heading: str) -> list[list[str]]:
    """The `cookcam ...` command lines of a section's bash blocks (continuations joined, comments dropped)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", _section(heading), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["cookcam"]:
                commands.append(words[1:])
    return commands


def _export_columns() -> dict[str, tuple[str, ...]]:
    """File name -> the columns its `\\copy (select ... from ...) to 'file'` command of step 2 selects."""
    found = re.findall(r"\\copy \(select (.+?) from \S+.*?\) to '([a-z_]+\.csv)'", _section("2. Export"))
    return {file: tuple(column.strip() for column in columns.split(",")) for columns, file in found}


def _psql() -> str:
    """The operator's psql; where PostgreSQL's client is not installed, the one the pgserver wheel ships."""
    return shutil.which("psql") or str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql")


def _verify(folder: Path, database_url: str) -> tuple[dict[str, tuple[int, int]], list[tuple[str, str]]]:
    """Step 5: the page's script, saved as verify.sql in the export folder and run there as the page says (with
    --csv added, to read its two results here)."""
    script = RUNBOOK.split(VERIFICATION_MARKER, 1)[1].split("```sql\n", 1)[1].split("\n```", 1)[0]
    (folder / "verify.sql").write_text(script)
    run = subprocess.run(
        [_psql(), database_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "verify.sql", "--csv"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    rows = list(csv.reader(run.stdout.splitlines()))
    split = rows.index(["id", "problem"])
    assert rows[0] == ["what", "in_export", "here"]
    counts = {what: (int(in_export), int(here)) for what, in_export, here in rows[1:split]}
    return counts, [(row[0], row[1]) for row in rows[split + 1 :]]


async def _written(conn: asyncpg.Connection) -> list[int]:
    tables = ("users", "user_identities", "xp_ledger", "imported_refresh_tokens", "imported_billing_bindings")
    return [await conn.fetchval(f"select count(*) from {table}") for table in tables]


async def _snapshot(conn: asyncpg.Connection) -> list[str]:
    """A digest of every imported row, to see that a second import changes nothing."""
    queries = (
        "select md5(string_agg(u::text, ',' order by id)) from users u",
        "select md5(string_agg(i::text, ',' order by id)) from user_identities i",
        "select md5(string_agg(l::text, ',' order by id)) from xp_ledger l",
        "select md5(string_agg(t::text, ',' order by token_hash)) from imported_refresh_tokens t",
        "select md5(string_agg(b::text, ',' order by provider_subscription_id)) from imported_billing_bindings b",
        "select md5(string_agg(c::text, ',' order by user_id)) from stripe_customers c",
    )
    return [await conn.fetchval(query) for query in queries]


def _summary_count(stdout: str, label: str) -> int:
    """A number of the import's summary: `  <label>: <number>`."""
    match = re.search(rf"^  {re.escape(label)}: (\d+)", stdout, re.M)
    assert match, stdout
    return int(match.group(1))


@asynccontextmanager
async def _serving(data_dir: Path, database_url: str, env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """`cookcam serve` with `env`, and a client of its /api/v1."""
    data_dir.mkdir()
    server = RunningServer(database_url, data_dir, workers=1, env=env)
    try:
        async with httpx.AsyncClient(base_url=server.base_url + "/api/v1", timeout=30) as client:
            yield client
    finally:
        server.terminate()


def _window(supabase: FakeSupabase, *, refresh_days: int, until: datetime) -> dict[str, str]:
    """Step 0's settings (step 8's once closed): HS256 tokens of the old project, our refresh-token window."""
    return {
        "JWT_IMPORTED_REFRESH_WINDOW_DAYS": str(refresh_days),
        "SUPABASE_TOKEN_ACCEPT_UNTIL": until.isoformat(),
        "SUPABASE_JWT_SECRET": HS256_SECRET,
        "SUPABASE_ISSUER": supabase.issuer,
    }


async def test_the_cut_over_runbook_on_10000_generated_accounts(tmp_path: Path, database_url: str) -> None:
    exports_dir = tmp_path / "exports"
    exports_dir.mkdir()
    exports = generate_exports(exports_dir, ACCOUNTS, HASHES)
    # Step 2: the page's export commands select the generated files' columns, in their order.
    assert _export_columns() == {
        "auth_users.csv": AUTH_USER_COLUMNS,
        "profiles.csv": PROFILE_COLUMNS,
        "identities.csv": IDENTITY_COLUMNS,
        "subscriptions.csv": SUBSCRIPTION_COLUMNS,
        "refresh_tokens.csv": REFRESH_TOKEN_COLUMNS,
    }
    [dry_run_command] = _cookcam_commands("3. Dry run")
    assert dry_run_command[-1] == "--dry-run"
    import_command = dry_run_command[:-1]  # step 4: "the same command without --dry-run"
    operator = {"DATABASE_URL": database_url, "APP_ENV": "test"}
    conn = await asyncpg.connect(database_url)
    try:
        # Step 3: the dry run's counts are the import's, and it writes nothing.
        dry = cookcam(*dry_run_command, env=operator, cwd=exports_dir)
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.startswith(f"Dry run (rolled back, nothing written): {ACCOUNTS} account row(s) read.")
        assert _summary_count(dry.stdout, "imported") == exports.importable
        assert await _written(conn) == [0, 0, 0, 0, 0]

        # Step 4.
        done = cookcam(*import_command, env=operator, cwd=exports_dir)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[1:-1] == dry.stdout.splitlines()[1:-1]  # the same counts ("Took" aside)
        assert _summary_count(done.stdout, "imported") == exports.importable
        assert _summary_count(done.stdout, "conflicts") == 0
        identities = _summary_count(done.stdout, "identities imported")
        bindings = _summary_count(done.stdout, "subscription bindings imported (pending the provider's answer)")

        # Step 5: the page's script finds everything of the export here, and nothing missing.
        counts, problems = _verify(exports_dir, database_url)
        with_password = await conn.fetchval("select count(*) from users where password_hash is not null")
        assert counts == {
            "accounts (id and email)": (exports.importable, exports.importable),
            "accounts with a password": (with_password, with_password),
            "opening XP (sum)": (exports.opening_xp, exports.opening_xp),
            "Apple and Google identities": (identities, identities),
            "refresh tokens": (len(exports.refresh_token_of), len(exports.refresh_token_of)),
            "subscription bindings": (bindings, bindings),
        }
        assert 0 < with_password < exports.importable and identities > 0 and bindings > 0
        assert problems == []

        # A second import changes nothing.
        before = await _snapshot(conn)
        again = cookcam(*import_command, env=operator, cwd=exports_dir)
        assert again.returncode == 0, again.stderr
        assert _summary_count(again.stdout, "imported") == 0
        assert _summary_count(again.stdout, "already imported") == exports.importable
        assert await _snapshot(conn) == before

        # Step 6: the service with step 0's window, as the apps see it after the switch.
        old_project = FakeSupabase(base_url="https://old-project.supabase.co")
        window = _window(old_project, refresh_days=30, until=datetime.now(UTC) + timedelta(days=1))
        ada, bob, cy = exports.account_ids[0], exports.account_ids[4], exports.account_ids[8]
        ada_email = await conn.fetchval("select email from users where id = $1", ada)
        supabase_token = old_project.access_token(bob, signer="hs256")
        async with _serving(tmp_path / "open", database_url, window) as api:
            signin = await api.post("/auth/signin", json={"email": ada_email, "password": PASSWORD})
            assert signin.status_code == 200, signin.text
            assert signin.json()["user"]["id"] == ada
            me = await api.get("/auth/me", headers={"Authorization": f"Bearer {supabase_token}"})
            assert (me.status_code, me.json()["id"]) == (200, bob), me.text
            body = {"refresh_token": exports.refresh_token_of[ada]}
            exchanged = await api.post("/auth/refresh", json=body)
            assert exchanged.status_code == 200, exchanged.text
            ours = {"Authorization": f"Bearer {exchanged.json()['access_token']}"}
            assert (await api.get("/auth/me", headers=ours)).json()["id"] == ada
            # Sent again at once (a lost answer): the same pair, within the reuse grace; once that pair is
            # spent, the imported token is refused.
            again = await api.post("/auth/refresh", json=body)
            assert again.json()["refresh_token"] == exchanged.json()["refresh_token"], again.text
            spent = await api.post("/auth/refresh", json={"refresh_token": exchanged.json()["refresh_token"]})
            assert spent.status_code == 200, spent.text
            reused = await api.post("/auth/refresh", json=body)
            assert (reused.status_code, reused.json()["code"]) == (401, "REFRESH_TOKEN_REUSED")
        assert (await conn.fetchval("select password_hash from users where id = $1", ada)).startswith("$argon2id$")

        # Step 8 (the command's refusal while the window is open, and its dry run: tests/integration/importer/
        # test_close_window.py).
        close_dry_run, close = _cookcam_commands("8. Close the window")
        assert close_dry_run == [*close, "--dry-run"]
        closed = _window(old_project, refresh_days=0, until=datetime.now(UTC) - timedelta(minutes=1))
        async with _serving(tmp_path / "closed", database_url, closed) as api:
            late = await api.get("/auth/me", headers={"Authorization": f"Bearer {supabase_token}"})
            assert (late.status_code, late.json()["code"]) == (401, "LEGACY_TOKEN_EXPIRED")
            unused = {"refresh_token": exports.refresh_token_of[cy]}
            refused_refresh = await api.post("/auth/refresh", json=unused)
            assert (refused_refresh.status_code, refused_refresh.json()["code"]) == (401, "REFRESH_TOKEN_INVALID")

            purged = cookcam(*close, env=operator | closed, cwd=exports_dir)
            assert purged.returncode == 0, purged.stderr
            never_used = len(exports.refresh_token_of) - 1
            assert purged.stdout.splitlines()[1:] == [
                f"  imported refresh tokens deleted: {len(exports.refresh_token_of)} (1 exchanged, "
                f"{never_used} never used)",
                "  Supabase session links deleted: 1",
            ]
            assert await conn.fetchval("select count(*) from imported_refresh_tokens") == 0
            assert await conn.fetchval("select count(*) from supabase_sessions") == 0
            still = await api.post("/auth/refresh", json=unused)
            assert (still.status_code, still.json()["code"]) == (401, "REFRESH_TOKEN_INVALID")

        # The script now reports the refresh tokens as gone, and everything else as it was.
        counts, problems = _verify(exports_dir, database_url)
        assert counts["refresh tokens"] == (len(exports.refresh_token_of), 0)
        assert counts["accounts (id and email)"] == (exports.importable, exports.importable)
        assert {problem for _, problem in problems} == {"refresh token missing"}
    finally:
        await conn.close()
