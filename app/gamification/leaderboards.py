"""Leaderboards: daily, weekly (ISO), monthly and all-time XP, in pages, with standard competition ranks (equal XP,
equal rank: 1, 2, 2, 4) and the caller's own entry. A rank is 1 + the number of users with more XP, summed from
the board's counts of users per XP value (migration 0025); pages walk the board's rank index
(docs/gamification.md, "Leaderboards")."""

from __future__ import annotations

import datetime
import uuid

from app.db.queries import gamification as q
from app.db.types import Connection
from app.gamification.levels import level_for
from app.gamification.periods import Board, period_start
from app.gamification.schemas import Leaderboard, LeaderboardEntry, LeaderboardPeriod

BOARDS: dict[LeaderboardPeriod, Board | None] = {
    "daily": "daily",
    "weekly": "weekly",
    "monthly": "monthly",
    "allTime": None,
}
Row = q.PeriodLeaderboardRow | q.AllTimeLeaderboardRow


async def leaderboard(
    conn: Connection,
    caller_id: uuid.UUID,
    period: LeaderboardPeriod,
    *,
    limit: int,
    offset: int,
    now: datetime.datetime,
) -> Leaderboard:
    board = BOARDS[period]
    start = period_start(board, now) if board else None
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # page and ranks from one snapshot
        rows: list[Row]
        if board and start:
            rows = list(await q.period_leaderboard(conn, board=board, period_start=start, max_rows=limit, skip=offset))
        else:
            rows = list(await q.all_time_leaderboard(conn, max_rows=limit, skip=offset))
        entries = await _ranked(conn, board, start, rows, offset)
        mine = await _caller(conn, board, start, caller_id)
    return Leaderboard(leaderboard=entries, period=period, period_start=start, updated_at=now, caller=mine)


async def _ranked(
    conn: Connection, board: Board | None, start: datetime.date | None, rows: list[Row], offset: int
) -> list[LeaderboardEntry]:
    entries: list[LeaderboardEntry] = []
    for position, row in enumerate(rows):
        if entries and row.period_xp == entries[-1].period_xp:
            rank = entries[-1].rank  # a tie shares the rank of the first with that XP
        elif position == 0:
            rank = await _rank_of(conn, board, start, row.period_xp)  # may tie with the previous page
        else:
            rank = offset + position + 1
        entries.append(
            LeaderboardEntry(
                rank=rank,
                user_id=row.user_id,
                username=row.name,
                avatar_url=row.avatar_url,
                total_xp=row.total_xp,
                period_xp=row.period_xp,
                level=level_for(row.total_xp),
            )
        )
    return entries


async def _caller(
    conn: Connection, board: Board | None, start: datetime.date | None, user_id: uuid.UUID
) -> LeaderboardEntry | None:
    """The caller's own entry, or None when they have no XP on this board."""
    if board and start:
        found = await q.period_xp_of(conn, board=board, period_start=start, user_id=user_id)
        period_xp, total_xp = (found.xp, found.total_xp) if found else (0, 0)
    else:
        total_xp = period_xp = await q.get_xp_total(conn, user_id=user_id) or 0
    if period_xp <= 0:
        return None
    profile = await q.public_name(conn, user_id=user_id)
    assert profile is not None  # the caller exists
    rank = await _rank_of(conn, board, start, period_xp)
    return LeaderboardEntry(
        rank=rank,
        user_id=user_id,
        username=profile.name,
        avatar_url=profile.avatar_url,
        total_xp=total_xp,
        period_xp=period_xp,
        level=level_for(total_xp),
    )


async def _rank_of(conn: Connection, board: Board | None, start: datetime.date | None, xp: int) -> int:
    if board and start:
        above = await q.period_users_above(conn, board=board, period_start=start, xp=xp)
    else:
        above = await q.all_time_users_above(conn, xp=xp)
    return 1 + (above or 0)


async def fold_rank_counts(conn: Connection) -> str:
    """Add the rank counts appended since the last fold into one row per XP value (the fold-leaderboards job)."""
    folded = await q.fold_rank_counts(conn)
    assert folded is not None  # an aggregate always has a row
    empty = await q.drop_empty_rank_counts(conn)
    return (
        f"folded {folded.appended} appended rank count(s) into {folded.folded} XP value(s); "
        f"dropped {empty} value(s) no one holds"
    )
