"""`cookcam import supabase --close-window`: the end of the move. Once the API refuses the previous backend's
tokens (JWT_IMPORTED_REFRESH_WINDOW_DAYS=0, SUPABASE_TOKEN_ACCEPT_UNTIL unset or past), the imported refresh tokens'
hashes and the links between Supabase sessions and ours have no use left: this deletes them, in one transaction
(rolled back by --dry-run). Nothing else deletes them: the API refuses them by its settings, not by deleting them.
The staging rows of the import itself never outlive its transaction (app/importer/supabase.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.db.queries import supabase_import as q
from app.db.types import Connection
from app.settings import Settings


@dataclass(frozen=True)
class ClosedWindow:
    dry_run: bool
    refresh_tokens: int
    refresh_tokens_exchanged: int
    supabase_sessions: int

    def lines(self) -> list[str]:
        head = "Dry run (rolled back, nothing deleted): " if self.dry_run else ""
        return [
            f"{head}the window of the move from Supabase is closed.",
            f"  imported refresh tokens deleted: {self.refresh_tokens} "
            f"({self.refresh_tokens_exchanged} exchanged, {self.refresh_tokens - self.refresh_tokens_exchanged} "
            "never used)",
            f"  Supabase session links deleted: {self.supabase_sessions}",
        ]


def still_open(settings: Settings, now: datetime | None = None) -> list[str]:
    """The settings that still accept the previous backend's tokens: closing the window with them set would delete
    what the API still serves."""
    moment = now or datetime.now(UTC)
    problems = []
    if settings.jwt.imported_refresh_window_days > 0:
        problems.append(
            f"JWT_IMPORTED_REFRESH_WINDOW_DAYS is {settings.jwt.imported_refresh_window_days} (set it to 0)"
        )
    until = settings.supabase.token_accept_until
    if until is not None and until > moment:
        problems.append(f"SUPABASE_TOKEN_ACCEPT_UNTIL is {until.isoformat()}, still ahead (unset it)")
    return problems


class _DryRun(Exception):
    pass


async def close_window(conn: Connection, *, dry_run: bool = False) -> ClosedWindow:
    """Delete every imported refresh token and every Supabase session link; with `dry_run`, count and roll back."""
    closed = ClosedWindow(dry_run, 0, 0, 0)
    try:
        async with conn.transaction():
            await q.lock_supabase_import(conn)  # not in the middle of an import
            tokens = await q.purge_imported_refresh_tokens(conn)
            assert tokens is not None  # an aggregate always returns its row
            links = await q.purge_supabase_sessions(conn)
            closed = ClosedWindow(dry_run, tokens.purged, tokens.exchanged, links)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return closed
