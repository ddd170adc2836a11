"""The previous backend's refresh tokens (imported by `cookcam import supabase --refresh-tokens`): exchanged once at
POST /auth/refresh for this service's pair while JWT_IMPORTED_REFRESH_WINDOW_DAYS lasts, then never again."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.importer.exports import ExportError
from app.importer.supabase import EXIT_UNREADABLE, ExportFiles, import_supabase
from app.server import create_app
from tests.conftest import make_settings
from tests.integration.importer.exports import OldAccount, write_csv, write_exports
from tests.support import bearer

REFRESH = "/api/v1/auth/refresh"
TOKEN_COLUMNS = ("id", "token", "user_id", "revoked", "created_at", "session_id")


def _token_row(user_id: str, token: str, revoked: str = "f") -> dict[str, str]:
    return {
        "id": str(secrets.randbelow(10**9)),
        "token": token,
        "user_id": user_id,
        "revoked": revoked,
        "created_at": "2024-03-01 10:00:00+00",
        "session_id": str(uuid.uuid4()),
    }


async def _client(database_url: str, window_days: int) -> AsyncIterator[AsyncTestClient]:
    settings = make_settings(database_url)
    settings = msgspec.structs.replace(
        settings, jwt=msgspec.structs.replace(settings.jwt, imported_refresh_window_days=window_days)
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.fixture
async def window_client(database_url: str) -> AsyncIterator[AsyncTestClient]:
    async for client in _client(database_url, 14):
        yield client


@pytest.fixture
async def closed_client(database_url: str) -> AsyncIterator[AsyncTestClient]:
    async for client in _client(database_url, 0):
        yield client


async def _import(tmp_path: Path, db: asyncpg.Connection, rows: list[dict], accounts: list[OldAccount]):
    exports = write_exports(tmp_path, accounts)
    tokens = write_csv(tmp_path / "refresh_tokens.csv", TOKEN_COLUMNS, rows)
    return await import_supabase(db, ExportFiles(exports.auth_users, exports.profiles, None, tokens))


async def test_a_live_token_is_exchanged_once_for_a_working_pair(tmp_path: Path, db, window_client) -> None:
    ada, gone = OldAccount(), OldAccount(deleted_at="2024-01-01 00:00:00+00")
    rows = [
        _token_row(ada.id, "ada-live-token"),
        _token_row(ada.id, "ada-rotated-token", revoked="t"),
        _token_row(gone.id, "gone-token"),
    ]
    summary = await _import(tmp_path, db, rows, [ada, gone])
    assert (summary.refresh_tokens_imported, summary.refresh_tokens_already) == (1, 0)
    assert dict(summary.refresh_tokens_skipped) == {"revoked": 1, "account not imported": 1}
    # Only the hash is stored.
    stored = await db.fetchval("select token_hash from imported_refresh_tokens")
    assert b"ada-live-token" not in stored and len(stored) == 32

    first = await window_client.post(REFRESH, json={"refresh_token": "ada-live-token"})
    assert first.status_code == 200, first.text
    pair = first.json()
    assert pair["user"]["id"] == ada.id
    assert (await window_client.get("/api/v1/auth/me", headers=bearer(pair))).status_code == 200
    rotated = await window_client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200  # this service's own token now, rotated as usual

    again = await window_client.post(REFRESH, json={"refresh_token": "ada-live-token"})
    assert (again.status_code, again.json()["code"]) == (401, "REFRESH_TOKEN_REUSED")
    for refused in ("ada-rotated-token", "gone-token", "never-issued"):
        response = await window_client.post(REFRESH, json={"refresh_token": refused})
        assert (response.status_code, response.json()["code"]) == (401, "REFRESH_TOKEN_INVALID"), refused


async def test_the_app_refreshing_twice_at_once_after_the_move_gets_one_pair(tmp_path: Path, db, window_client) -> None:
    """The reuse grace (JWT_REFRESH_REUSE_GRACE_SECONDS) covers the exchange as it covers our own tokens: two
    concurrent refreshes with the imported token answer the same pair, in one session."""
    ada = OldAccount()
    await _import(tmp_path, db, [_token_row(ada.id, "ada-live-token")], [ada])
    first, second = await asyncio.gather(
        *(window_client.post(REFRESH, json={"refresh_token": "ada-live-token"}) for _ in range(2))
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json()["refresh_token"] == second.json()["refresh_token"]
    assert await db.fetchval("select count(*) from sessions") == 1
    # Past the grace (or once that pair is spent) the imported token is refused as before.
    await db.execute("update imported_refresh_tokens set exchanged_at = now() - interval '11 seconds'")
    late = await window_client.post(REFRESH, json={"refresh_token": "ada-live-token"})
    assert (late.status_code, late.json()["code"]) == (401, "REFRESH_TOKEN_REUSED")
    assert (await window_client.get("/api/v1/auth/me", headers=bearer(first.json()))).status_code == 200


async def test_a_second_import_keeps_the_spent_state(tmp_path: Path, db, window_client) -> None:
    ada = OldAccount()
    rows = [_token_row(ada.id, "ada-live-token")]
    await _import(tmp_path, db, rows, [ada])
    assert (await window_client.post(REFRESH, json={"refresh_token": "ada-live-token"})).status_code == 200
    exchanged_at = await db.fetchval("select exchanged_at from imported_refresh_tokens")
    second = await _import(tmp_path, db, rows, [ada])
    assert (second.refresh_tokens_imported, second.refresh_tokens_already) == (0, 1)
    assert await db.fetchval("select exchanged_at from imported_refresh_tokens") == exchanged_at
    await db.execute("update imported_refresh_tokens set exchanged_at = exchanged_at - interval '11 seconds'")
    again = await window_client.post(REFRESH, json={"refresh_token": "ada-live-token"})  # past the reuse grace
    assert again.json()["code"] == "REFRESH_TOKEN_REUSED"


async def test_after_the_window_the_token_is_refused(tmp_path: Path, db, window_client) -> None:
    ada = OldAccount()
    await _import(tmp_path, db, [_token_row(ada.id, "ada-live-token")], [ada])
    await db.execute("update imported_refresh_tokens set imported_at = now() - interval '15 days'")
    late = await window_client.post(REFRESH, json={"refresh_token": "ada-live-token"})
    assert (late.status_code, late.json()["code"]) == (401, "REFRESH_TOKEN_EXPIRED")
    assert await db.fetchval("select count(*) from sessions") == 0


async def test_with_no_window_configured_imported_tokens_are_unknown(tmp_path: Path, db, closed_client) -> None:
    ada = OldAccount()
    await _import(tmp_path, db, [_token_row(ada.id, "ada-live-token")], [ada])
    response = await closed_client.post(REFRESH, json={"refresh_token": "ada-live-token"})
    assert (response.status_code, response.json()["code"]) == (401, "REFRESH_TOKEN_INVALID")
    assert await db.fetchval("select exchanged_at from imported_refresh_tokens") is None


async def test_malformed_refresh_token_exports_write_nothing(tmp_path: Path, db) -> None:
    ada = OldAccount()
    summary = await _import(tmp_path, db, [_token_row("not-a-uuid", "t"), _token_row(ada.id, "")], [ada])
    assert summary.exit_code == EXIT_UNREADABLE
    assert [str(p).split(": ", 1)[1] for p in summary.unreadable] == [
        "user_id is not a UUID",
        "token is empty or longer than 1024 characters",
    ]
    assert await db.fetchval("select count(*) from users") == 0
    exports = write_exports(tmp_path, [ada])
    wrong = write_csv(tmp_path / "wrong.csv", ("token", "user_id"), [{"token": "x", "user_id": ada.id}])
    with pytest.raises(ExportError, match="missing column"):
        await import_supabase(db, ExportFiles(exports.auth_users, exports.profiles, None, wrong))
    assert await db.fetchval("select count(*) from imported_refresh_tokens") == 0
