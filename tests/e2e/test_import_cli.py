"""`cookcam import supabase` as an operator runs it: progress on stderr, the summary, the exit codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx

from tests.e2e.server import RunningServer
from tests.e2e.test_cli import cookcam
from tests.integration.importer.exports import OldAccount, write_csv, write_exports


def _import(database_url: str, exports, *extra: str):
    return cookcam(
        "import",
        "supabase",
        "--auth-users",
        str(exports.auth_users),
        "--profiles",
        str(exports.profiles),
        "--identities",
        str(exports.identities),
        *extra,
        env={"DATABASE_URL": database_url, "APP_ENV": "test"},
    )


async def test_import_dry_run_then_import_then_again(tmp_path: Path, database_url: str) -> None:
    accounts = [OldAccount(total_xp=20), OldAccount(), OldAccount(deleted_at="2024-01-01 00:00:00+00")]
    exports = write_exports(tmp_path, accounts)

    dry = _import(database_url, exports, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run (rolled back, nothing written): 3 account row(s) read." in dry.stdout
    assert "imported: 2" in dry.stdout and "skipped (deleted): 1" in dry.stdout
    assert "accounts staged 2/2" in dry.stderr
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("select count(*) from users") == 0
        done = _import(database_url, exports)
        assert done.returncode == 0, done.stderr
        assert "imported: 2" in done.stdout and "opening XP balances: 1" in done.stdout
        assert await conn.fetchval("select count(*) from users") == 2
        again = _import(database_url, exports)
        assert again.returncode == 0, again.stderr
        assert "imported: 0" in again.stdout and "already imported: 2" in again.stdout
        # Deleted here since: the dry run and the run both say so, and it stays deleted.
        await conn.execute("delete from users where id = $1::uuid", accounts[1].id)
        for run in (_import(database_url, exports, "--dry-run"), _import(database_url, exports)):
            assert run.returncode == 0, run.stderr
            assert "already imported: 1" in run.stdout and "skipped (deleted here): 1" in run.stdout
        assert await conn.fetchval("select count(*) from users") == 1
    finally:
        await conn.close()


async def test_conflicts_exit_1_and_unreadable_files_exit_4(tmp_path: Path, database_url: str) -> None:
    twins = write_exports(tmp_path, [OldAccount(email="same@example.com"), OldAccount(email="SAME@example.com")])
    conflicted = _import(database_url, twins)
    assert conflicted.returncode == 1, conflicted.stderr
    assert "conflicts: 1" in conflicted.stdout
    twins.auth_users.write_text('[{"id": "x"')
    unreadable = _import(database_url, twins)
    assert unreadable.returncode == 4
    assert "Nothing imported:" in unreadable.stderr and "invalid JSON" in unreadable.stderr


async def test_concurrent_exchanges_of_one_imported_refresh_token_give_one_pair(
    tmp_path: Path, database_url: str
) -> None:
    ada = OldAccount()
    exports = write_exports(tmp_path, [ada])
    tokens = write_csv(
        tmp_path / "refresh_tokens.csv",
        ("token", "user_id", "revoked"),
        [{"token": "ada-supabase-refresh", "user_id": ada.id, "revoked": "f"}],
    )
    done = _import(database_url, exports, "--refresh-tokens", str(tokens))
    assert done.returncode == 0, done.stderr
    assert "refresh tokens imported: 1" in done.stdout
    (tmp_path / "serve").mkdir()
    server = RunningServer(database_url, tmp_path / "serve", workers=2, env={"JWT_IMPORTED_REFRESH_WINDOW_DAYS": "7"})
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            body = {"refresh_token": "ada-supabase-refresh"}
            responses = await asyncio.gather(*(http.post("/api/v1/auth/refresh", json=body) for _ in range(8)))
    finally:
        server.terminate()
    # One exchange wins; the others, within the reuse grace, answer its pair (JWT_REFRESH_REUSE_GRACE_SECONDS).
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert len({r.json()["refresh_token"] for r in responses}) == 1
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("select count(*) from sessions") == 1
    finally:
        await conn.close()
