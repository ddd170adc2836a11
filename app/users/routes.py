"""/api/v1/users: public profiles, search by name, follow and unfollow, followers and following (docs/social.md).

The caller's own account lives under /api/v1/auth (me, profile) and /api/v1/users/subscription (billing)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from app.core.identity import CurrentUser, provide_caller
from app.core.ratelimit import RateLimiter
from app.db.types import Connection
from app.settings import Settings
from app.users import social
from app.users.schemas import FollowList, FollowRequest, FollowState, PublicProfile, UserSearchResults

ListLimit = Annotated[int, QueryParameter(ge=1, le=100)]
ListOffset = Annotated[int, QueryParameter(ge=0, le=100_000)]


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]
    dependencies = {"caller": Provide(provide_caller)}

    @get("/", operation_id="searchUsers")
    async def search(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        search: Annotated[str, QueryParameter(min_length=1, max_length=80)],
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000)] = 0,
    ) -> UserSearchResults:
        """People whose name contains `search` (starts with it, for one or two characters), case-insensitively:
        names starting with it first (the exact name first of all), then a word starting with it, then the rest."""
        return UserSearchResults(await social.search(db, caller.id, search, limit=limit, offset=offset))

    @get("/{user_id:uuid}", operation_id="getPublicProfile")
    async def get_profile(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], user_id: FromPath[uuid.UUID]
    ) -> PublicProfile:
        """Public fields only, the follow counts, and whether the caller follows this user."""
        return await social.profile(db, caller.id, user_id)

    @post("/{user_id:uuid}/follow", status_code=200, operation_id="followUser")
    async def follow(
        self,
        *,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        settings: NamedDependency[Settings],
        rate_limiter: NamedDependency[RateLimiter],
        user_id: FromPath[uuid.UUID],
        data: JSONBody[FollowRequest | None] = None,
    ) -> FollowState:
        """`{"following": true|false}` sets it (idempotent); no body toggles it. A new follow is announced to the
        followee (follower.new) at most once a day per pair, and a limited number of times a day per follower."""
        notices = social.FollowNotices.create(rate_limiter, settings.social)
        return await social.set_following(db, notices, caller.id, user_id, data.following if data else None)

    @get("/{user_id:uuid}/followers", operation_id="listFollowers")
    async def followers(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        user_id: FromPath[uuid.UUID],
        limit: ListLimit = 20,
        offset: ListOffset = 0,
    ) -> FollowList:
        """Who follows this user, newest first."""
        return FollowList(await social.followers(db, caller.id, user_id, limit=limit, offset=offset))

    @get("/{user_id:uuid}/following", operation_id="listFollowing")
    async def following(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        user_id: FromPath[uuid.UUID],
        limit: ListLimit = 20,
        offset: ListOffset = 0,
    ) -> FollowList:
        """Whom this user follows, newest first."""
        return FollowList(await social.following(db, caller.id, user_id, limit=limit, offset=offset))
