"""Gamification requests and answers (the app's shapes)."""

from __future__ import annotations

import uuid
from typing import Annotated

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
    xp_awarded: int
    total_xp: int
    level: int
    leveled_up: bool
    # Why xp_awarded is 0 when it is: this action and thing already earned XP, or today's cap is reached.
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
