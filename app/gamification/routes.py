"""/api/v1/gamification: claims of the few app-observed actions, and the caller's progress."""

from __future__ import annotations

import datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, JSONBody, QueryParameter

from app.core.identity import CurrentUser, provide_caller
from app.db.types import Connection
from app.gamification import achievements, claims, leaderboards, progress, streaks
from app.gamification.schemas import (
    Achievement,
    AddXpRequest,
    AddXpResponse,
    GamificationProfile,
    Leaderboard,
    LeaderboardPeriod,
    StreakStatus,
)


class GamificationController(Controller):
    path = "/api/v1/gamification"
    tags = ["gamification"]
    dependencies = {"caller": Provide(provide_caller)}

    @post("/add-xp", status_code=200, operation_id="addXp")
    async def add_xp(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], data: JSONBody[AddXpRequest]
    ) -> AddXpResponse:
        """Claim XP for an action only the app observes (recipe_cooked, completion_photo, recipe_shared,
        daily_check_in); the amount, caps and de-duplication are the server's, and any amount sent is ignored."""
        return await claims.claim(db, caller.id, data)

    @post("/check-streak", status_code=200, operation_id="checkStreak")
    async def check_streak(self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]) -> StreakStatus:
        """The cooking streak as of today in the caller's time zone (spending a freeze token for one missed day)."""
        return await streaks.check(db, caller.id, datetime.datetime.now(datetime.UTC))

    @get("/achievements", operation_id="listAchievements")
    async def list_achievements(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]
    ) -> list[Achievement]:
        """Every achievement, with the caller's progress towards it and when it was unlocked."""
        return await achievements.list_for(db, caller.id)

    @get("/leaderboard", operation_id="leaderboard")
    async def get_leaderboard(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        period: FromQuery[LeaderboardPeriod] = "weekly",
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=10_000)] = 0,
    ) -> Leaderboard:
        """XP ranks for the current UTC day, ISO week, month or all time, a page at a time, with the caller's own."""
        now = datetime.datetime.now(datetime.UTC)
        return await leaderboards.leaderboard(db, caller.id, period, limit=limit, offset=offset, now=now)

    @get("/progress", operation_id="gamificationProgress")
    async def get_progress(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser]
    ) -> GamificationProfile:
        """The caller's XP and level, achievements earned, recipes created, scans completed and streak."""
        return await progress.progress(db, caller.id)
