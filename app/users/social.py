"""Public profiles, finding people by name, and following them.

A follow change is idempotent when the app says what it wants (`{"following": true}`) and a toggle when it does not
(the shipped app's behaviour). One account's follow changes are serialised on its users row, so the follow limit
holds and concurrent toggles apply one after the other; the pair's primary key rules out duplicates either way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.core.errors import ErrorDetail, Forbidden, NotFound, Unprocessable
from app.core.ratelimit import RateLimit, RateLimiter
from app.db.queries import social as q
from app.db.queries import users as users_q
from app.db.types import Connection
from app.gamification.levels import level_for
from app.realtime.events import RealtimeEvent, publish
from app.settings import SocialSettings
from app.users.schemas import FollowedUser, FollowState, PublicProfile, UserSummary

# How many accounts one account may follow (docs/social.md): far above what a person reads, low enough that a
# script cannot follow everyone.
MAX_FOLLOWING = 5_000
# Shorter queries search name prefixes; from this length on, names containing the query (docs/social.md).
SUBSTRING_MIN_LENGTH = 3
FOLLOWER_NEW = "follower.new"


def _user_not_found() -> NotFound:
    return NotFound("USER_NOT_FOUND", "There is no such user.")


def like_literal(text: str) -> str:
    """`text` as a LIKE pattern that matches it literally (the queries say `escape '\\'`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def profile(conn: Connection, caller_id: uuid.UUID, user_id: uuid.UUID) -> PublicProfile:
    row = await q.get_public_profile(conn, caller_id=caller_id, user_id=user_id)
    if row is None:
        raise _user_not_found()
    return PublicProfile(
        id=row.id,
        name=row.name,
        avatar_url=row.avatar_url,
        is_creator=row.is_creator,
        creator_tier=row.creator_tier,
        created_at=row.created_at,
        total_xp=row.total_xp,
        level=level_for(row.total_xp),
        followers_count=row.followers_count,
        following_count=row.following_count,
        is_following=row.is_following,
    )


async def search(conn: Connection, caller_id: uuid.UUID, text: str, *, limit: int, offset: int) -> list[UserSummary]:
    """Names containing `text` (names starting with it for one or two characters), case-insensitively, wildcards
    matching literally: names starting with it first (the exact name first of all), then names with a word starting
    with it, then the rest; by lower-cased name (code points), then id."""
    query = text.strip()
    if not query:
        raise Unprocessable(
            "VALIDATION_ERROR",
            "Invalid value for query.search.",
            details=[ErrorDetail(message="Type at least one character that is not a space.", field="query.search")],
        )
    pattern = like_literal(query)
    rows: list[q.SearchUsersByPrefixRow] | list[q.SearchUsersBySubstringRow]
    if len(query) < SUBSTRING_MIN_LENGTH:
        rows = await q.search_users_by_prefix(conn, caller_id=caller_id, pattern=pattern, skip=offset, max_rows=limit)
    else:
        rows = await q.search_users_by_substring(
            conn, caller_id=caller_id, query=query, pattern=pattern, skip=offset, max_rows=limit
        )
    return [
        UserSummary(r.id, r.name, r.avatar_url, r.is_creator, r.creator_tier, level_for(r.total_xp), r.is_following)
        for r in rows
    ]


@dataclass(frozen=True)
class FollowNotices:
    """When a new follow is announced (follower.new): within both budgets, counted on the shared rate-limit
    counters. Past either the follow still happens, unannounced: toggling cannot flood someone, nor one account
    everyone (docs/social.md)."""

    limiter: RateLimiter
    per_pair: RateLimit
    per_follower: RateLimit

    @classmethod
    def create(cls, limiter: RateLimiter, settings: SocialSettings) -> FollowNotices:
        day = 24 * 3600  # UTC days: windows start at the epoch
        return cls(
            limiter,
            RateLimit("follow-notice:pair", settings.follow_notices_per_pair_per_day, day),
            RateLimit("follow-notice:follower", settings.follow_notices_per_day, day),
        )

    async def allowed(self, conn: Connection, follower_id: uuid.UUID, followee_id: uuid.UUID) -> bool:
        # The pair first: a repeat to the same person does not spend the follower's budget for others.
        pair = (self.per_pair, f"{follower_id}>{followee_id}")
        return await self.limiter.within(conn, [pair]) and await self.limiter.within(
            conn, [(self.per_follower, str(follower_id))]
        )


async def set_following(
    conn: Connection, notices: FollowNotices, follower_id: uuid.UUID, followee_id: uuid.UUID, wanted: bool | None
) -> FollowState:
    """Follow or unfollow (`wanted`), or toggle (`None`); a new follow tells the followee (`follower.new`) when
    `notices` allow it."""
    if follower_id == followee_id:
        raise Unprocessable("CANNOT_FOLLOW_SELF", "You cannot follow yourself.")
    async with conn.transaction():
        if await q.lock_follower(conn, follower_id=follower_id) is None:  # the caller's account was just deleted
            raise NotFound("USER_NOT_FOUND", "This account no longer exists.")
        state = await q.get_follow_state(conn, followee_id=followee_id, follower_id=follower_id)
        assert state is not None  # a select without from always makes a row
        if not state.followee_exists:
            raise _user_not_found()
        target = (not state.following) if wanted is None else wanted
        if target and not state.following:
            followed = await q.follow_user(
                conn, follower_id=follower_id, followee_id=followee_id, max_following=MAX_FOLLOWING
            )
            if followed is None:
                raise Forbidden(
                    "FOLLOW_LIMIT_REACHED",
                    f"You can follow at most {MAX_FOLLOWING:,} accounts; unfollow some to follow others.",
                )
            if await notices.allowed(conn, follower_id, followee_id):
                await publish(conn, followee_id, RealtimeEvent(FOLLOWER_NEW, {"follower_id": str(follower_id)}))
        elif not target and state.following:
            await q.unfollow_user(conn, follower_id=follower_id, followee_id=followee_id)
        count = await q.count_followers(conn, followee_id=followee_id) or 0
    return FollowState(following=target, followers_count=count)


async def _known(conn: Connection, user_id: uuid.UUID) -> None:
    if not await users_q.user_exists(conn, id=user_id):
        raise _user_not_found()


def _followed(row: q.ListFollowersRow | q.ListFollowingRow) -> FollowedUser:
    level = level_for(row.total_xp)
    return FollowedUser(
        row.id, row.name, row.avatar_url, row.is_creator, row.creator_tier, level, row.is_following, row.followed_at
    )


async def followers(
    conn: Connection, caller_id: uuid.UUID, user_id: uuid.UUID, *, limit: int, offset: int
) -> list[FollowedUser]:
    await _known(conn, user_id)
    rows = await q.list_followers(conn, caller_id=caller_id, user_id=user_id, skip=offset, max_rows=limit)
    return [_followed(r) for r in rows]


async def following(
    conn: Connection, caller_id: uuid.UUID, user_id: uuid.UUID, *, limit: int, offset: int
) -> list[FollowedUser]:
    await _known(conn, user_id)
    rows = await q.list_following(conn, caller_id=caller_id, user_id=user_id, skip=offset, max_rows=limit)
    return [_followed(r) for r in rows]
