"""The terminal side of `cookcam import supabase`: a progress line on stderr, the summary on stdout, an exit code."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import asyncpg

from app.db.pool import connect
from app.importer.exports import ExportError
from app.importer.supabase import EXIT_UNREADABLE, ExportFiles, ImportSummary, import_supabase
from app.importer.window import ClosedWindow, close_window, still_open
from app.settings import Settings

EXIT_CONFIGURATION = 2


class _ProgressLine:
    """`accounts staged 45,000/100,000` on stderr: rewritten in place on a terminal, a line per phase otherwise."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        finished = done >= total
        now = time.monotonic()
        if not finished and now - self._last < 0.5:
            return
        self._last = now
        text = f"{phase} {done:,}/{total:,}"
        if self._tty:
            sys.stderr.write("\r" + text + ("\n" if finished else ""))
        elif finished:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()


async def _run(dsn: str, files: ExportFiles, dry_run: bool) -> ImportSummary:
    conn = await connect(dsn)
    try:
        return await import_supabase(conn, files, dry_run=dry_run, progress=_ProgressLine())
    finally:
        await conn.close()


def run_import(dsn: str, args: argparse.Namespace) -> int:
    files = ExportFiles(
        auth_users=args.auth_users,
        profiles=args.profiles,
        identities=args.identities,
        refresh_tokens=args.refresh_tokens,
        subscriptions=args.subscriptions,
    )
    started = time.monotonic()
    try:
        summary = asyncio.run(_run(dsn, files, args.dry_run))
    except ExportError as exc:
        print(f"Nothing imported: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except asyncpg.UndefinedTableError:
        print("Nothing imported: the schema is behind this release; run `cookcam migrate` first.", file=sys.stderr)
        return 3
    print("\n".join(summary.lines()))
    print(f"Took {time.monotonic() - started:.1f} s.")
    return summary.exit_code


async def _close(dsn: str, dry_run: bool) -> ClosedWindow:
    conn = await connect(dsn)
    try:
        return await close_window(conn, dry_run=dry_run)
    finally:
        await conn.close()


def run_close_window(dsn: str, settings: Settings, args: argparse.Namespace) -> int:
    """`--close-window`: refused (exit 2) while this process's settings still accept the previous backend's tokens,
    so that it runs with the configuration that closed the window on the API."""
    problems = still_open(settings)
    if problems:
        print("The window is still open in this configuration; nothing deleted:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print("Close it on the API first (docs/migration.md, step 8), then run this again.", file=sys.stderr)
        return EXIT_CONFIGURATION
    try:
        closed = asyncio.run(_close(dsn, args.dry_run))
    except asyncpg.UndefinedTableError:
        print("Nothing deleted: the schema is behind this release; run `cookcam migrate` first.", file=sys.stderr)
        return 3
    print("\n".join(closed.lines()))
    return 0
