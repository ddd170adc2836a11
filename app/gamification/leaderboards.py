"""Leaderboards: daily, weekly (ISO), monthly and all-time XP, in pages, with standard competition ranks (equal XP,
equal rank: 1, 2, 2, 4) and the caller's own entry. A rank is 1 + the number of users with more XP, summed from
the board's counts of users per XP value (migration 0025); pages walk the board's rank index. A request is two
queries in one snapshot: the page (with its first row's rank) and the caller's entry (docs/gamification.md,
"Leaderboards")."""

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
CallerRow = q.PeriodCallerEntryRow | q.AllTimeCallerEntryRow


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
    rows: list[Row]
    mine: CallerRow | None
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # page and ranks from one snapshot
        if board and start:
            rows = list(await q.period_leaderboard(conn, board=board, period_start=start, max_rows=limit, skip=offset))
            mine = await q.period_caller_entry(conn, board=board, period_start=start, user_id=caller_id)
        else:
            rows = list(await q.all_time_leaderboard(conn, max_rows=limit, skip=offset))
            mine = await q.all_time_caller_entry(conn, user_id=caller_id)
    return Leaderboard(
        leaderboard=_ranked(rows, offset),
        period=period,
        period_start=start,
        updated_at=now,
        caller=_entry(caller_id, mine, mine.rank) if mine else None,  # None: no XP on this board
    )


def _ranked(rows: list[Row], offset: int) -> list[LeaderboardEntry]:
    entries: list[LeaderboardEntry] = []
    for position, row in enumerate(rows):
        if entries and row.period_xp == entries[-1].period_xp:
            rank = entries[-1].rank  # a tie shares the rank of the first with that XP
        elif position == 0:
            rank = 1 + row.users_above  # may tie with the previous page
        else:
            rank = offset + position + 1
        entries.append(_entry(row.user_id, row, rank))
    return entries


def _entry(user_id: uuid.UUID, row: Row | CallerRow, rank: int) -> LeaderboardEntry:
    return LeaderboardEntry(
        rank=rank,
        user_id=user_id,
        username=row.name,
        avatar_url=row.avatar_url,
        is_creator=row.is_creator,
        creator_tier=row.creator_tier,
        total_xp=row.total_xp,
        period_xp=row.period_xp,
        level=level_for(row.total_xp),
    )


async def fold_rank_counts(conn: Connection) -> str:
    """Add the rank counts appended since the last fold into one row per XP value (the fold-leaderboards job)."""
    folded = await q.fold_rank_counts(conn)
    assert folded is not None  # an aggregate always has a row
    empty = await q.drop_empty_rank_counts(conn)
    return (
        f"folded {folded.appended} appended rank count(s) into {folded.folded} XP value(s); "
        f"dropped {empty} value(s) no one holds"
    )
