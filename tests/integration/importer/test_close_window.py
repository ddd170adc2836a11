"""`cookcam import supabase --close-window`: once the API refuses the previous backend's tokens, the imported refresh
tokens and the Supabase session links are deleted (counted and kept by --dry-run); refused while this process's
settings still open the window, and with export files."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
import pytest

from app.cli import build_parser, main
from app.importer.cli import run_close_window
from app.importer.supabase import ExportFiles, import_supabase
from app.importer.window import close_window
from app.settings import Settings, SupabaseSettings
from tests.conftest import make_settings
from tests.integration.importer.exports import REFRESH_TOKEN_COLUMNS, OldAccount, write_csv, write_exports


async def _imported_window(tmp_path: Path, db: asyncpg.Connection) -> OldAccount:
    """An imported account with two refresh tokens (one of them exchanged) and a Supabase session linked to ours."""
    ada = OldAccount()
    exports = write_exports(tmp_path, [ada])
    rows = [{"token": token, "user_id": ada.id, "revoked": "f", "created_at": ""} for token in ("rt-1", "rt-2")]
    tokens = write_csv(tmp_path / "refresh_tokens.csv", REFRESH_TOKEN_COLUMNS, rows)
    await import_supabase(db, ExportFiles(exports.auth_users, exports.profiles, refresh_tokens=tokens))
    await db.execute("update imported_refresh_tokens set exchanged_at = now() where token_hash = sha256('rt-1')")
    session_id = await db.fetchval("insert into sessions (user_id) values ($1) returning id", uuid.UUID(ada.id))
    await db.execute(
        "insert into supabase_sessions (supabase_session_id, user_id, session_id) values ($1, $2, $3)",
        uuid.uuid4(),
        uuid.UUID(ada.id),
        session_id,
    )
    return ada


async def _left(db: asyncpg.Connection) -> tuple[int, int, int]:
    return (
        await db.fetchval("select count(*) from imported_refresh_tokens"),
        await db.fetchval("select count(*) from supabase_sessions"),
        await db.fetchval("select count(*) from sessions"),
    )


async def test_closing_deletes_imported_tokens_and_session_links_and_a_dry_run_only_counts(
    tmp_path: Path, db: asyncpg.Connection
) -> None:
    await _imported_window(tmp_path, db)

    dry = await close_window(db, dry_run=True)
    assert (dry.refresh_tokens, dry.refresh_tokens_exchanged, dry.supabase_sessions) == (2, 1, 1)
    assert dry.lines()[0].startswith("Dry run (rolled back, nothing deleted)")
    assert await _left(db) == (2, 1, 1)

    closed = await close_window(db)
    assert closed.lines() == [
        "the window of the move from Supabase is closed.",
        "  imported refresh tokens deleted: 2 (1 exchanged, 1 never used)",
        "  Supabase session links deleted: 1",
    ]
    # Our session stays in the account's history; only the link and the tokens go.
    assert await _left(db) == (0, 0, 1)
    again = await close_window(db)
    assert (again.refresh_tokens, again.supabase_sessions) == (0, 0)


def _with_window(settings: Settings, *, days: int = 0, until: datetime | None = None) -> Settings:
    return msgspec.structs.replace(
        settings,
        jwt=msgspec.structs.replace(settings.jwt, imported_refresh_window_days=days),
        supabase=SupabaseSettings(token_accept_until=until, jwt_secret="s" * 40 if until else None),
    )


async def test_the_command_is_refused_while_its_settings_still_open_the_window(
    tmp_path: Path, db: asyncpg.Connection, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await _imported_window(tmp_path, db)
    args = build_parser().parse_args(["import", "supabase", "--close-window"])
    base = make_settings(database_url)
    ahead = datetime.now(UTC) + timedelta(days=1)

    open_settings = _with_window(base, days=30, until=ahead)
    assert await asyncio.to_thread(run_close_window, database_url, open_settings, args) == 2
    err = capsys.readouterr().err
    assert "JWT_IMPORTED_REFRESH_WINDOW_DAYS is 30 (set it to 0)" in err
    assert "SUPABASE_TOKEN_ACCEPT_UNTIL is" in err and "still ahead" in err
    assert await _left(db) == (2, 1, 1)

    # A past SUPABASE_TOKEN_ACCEPT_UNTIL is a closed window (its tokens get LEGACY_TOKEN_EXPIRED).
    closed_settings = _with_window(base, until=datetime.now(UTC) - timedelta(minutes=1))
    assert await asyncio.to_thread(run_close_window, database_url, closed_settings, args) == 0
    assert "imported refresh tokens deleted: 2 (1 exchanged, 1 never used)" in capsys.readouterr().out
    assert await _left(db) == (0, 0, 1)


def test_close_window_takes_no_export_file_and_an_import_needs_its_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "supabase", "--close-window", "--profiles", "profiles.csv"]) == 2
    assert "--close-window takes no export file." in capsys.readouterr().err
    assert main(["import", "supabase", "--auth-users", "auth_users.csv"]) == 2
    assert "--auth-users and --profiles are required (or --close-window)." in capsys.readouterr().err
