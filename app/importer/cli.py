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
