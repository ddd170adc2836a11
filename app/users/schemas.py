"""Public profiles, search results, follow lists and follow changes (the app's shapes).

Only public fields appear here: never an email, preferences, time zone, subscription or anything else private."""

from __future__ import annotations

import datetime
import uuid

import msgspec


class PublicProfile(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str
    avatar_url: str | None
    is_creator: bool
    creator_tier: int | None  # 1-5 from active referred subscriptions; null unless a creator now
    created_at: datetime.datetime  # member since
    total_xp: int
    level: int
    followers_count: int
    following_count: int
    is_following: bool  # the caller follows this user


class UserSummary(msgspec.Struct, frozen=True):
    """A user in search results and follow lists."""

    id: uuid.UUID
    name: str
    avatar_url: str | None
    is_creator: bool
    creator_tier: int | None  # 1-5 from active referred subscriptions; null unless a creator now
    level: int
    is_following: bool  # the caller follows this user


class FollowedUser(UserSummary, frozen=True):
    followed_at: datetime.datetime


class UserSearchResults(msgspec.Struct, frozen=True):
    users: list[UserSummary]


class FollowList(msgspec.Struct, frozen=True):
    users: list[FollowedUser]


class FollowRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    following: bool | None = None


class FollowState(msgspec.Struct, frozen=True):
    following: bool
    followers_count: int
