"""Gamification requests and answers (the app's shapes)."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

import msgspec

from app.gamification.xp import Outcome


class ClaimMetadata(msgspec.Struct, frozen=True):
    """What a claim may carry; other fields the app sends (xp_amount among them) are ignored."""

    recipe_id: uuid.UUID | None = None


class AddXpRequest(msgspec.Struct, frozen=True):
    # Not forbid_unknown_fields: the shipped app also sends xp_amount, which is ignored.
    action: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    metadata: ClaimMetadata | None = None


class AddXpResponse(msgspec.Struct, frozen=True):
    xp_awarded: int  # everything this claim earned: the action's XP and any streak milestone or achievement it brought
    total_xp: int
    level: int
    leveled_up: bool
    # The action's own award: awarded, or not because this action and thing already earned XP (duplicate) or
    # today's cap is reached.
    outcome: Outcome


class GamificationProfile(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    total_xp: int
    level: int
    current_level_xp: int
    next_level_xp: int
    achievements_earned: int
    recipes_created: int
    scans_completed: int
    streak_days: int


class StreakStatus(msgspec.Struct, frozen=True):
    current_streak: int
    longest_streak: int
    freeze_tokens: int
    extended_today: bool  # today (the user's local date) already counts


class Achievement(msgspec.Struct, frozen=True):
    slug: str
    name: str
    description: str
    metric: str  # what is counted: scans, recipes_made, recipes_cooked, cuisines_cooked, streak_days, ratings
    threshold: int
    progress: int  # the user's count, up to the threshold
    unlocked: bool
    unlocked_at: datetime.datetime | None = None


LeaderboardPeriod = Literal["daily", "weekly", "monthly", "allTime"]


class LeaderboardEntry(msgspec.Struct, frozen=True):
    rank: int  # 1 + the number of users with more XP on this board: equal XP, equal rank
    user_id: uuid.UUID
    username: str
    avatar_url: str | None
    is_creator: bool
    creator_tier: int | None  # 1-5 from active referred subscriptions; null unless a creator now
    total_xp: int
    period_xp: int  # XP in this period (all-time: the total)
    level: int


class Leaderboard(msgspec.Struct, frozen=True):
    leaderboard: list[LeaderboardEntry]
    period: LeaderboardPeriod
    period_start: datetime.date | None  # UTC day, ISO week's Monday or month's first day; null for allTime
    updated_at: datetime.datetime  # computed live: the moment of this answer
    caller: LeaderboardEntry | None  # the caller's own entry (null without XP on this board)
