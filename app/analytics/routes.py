"""/api/v1/analytics: events the app tracks, and the caller's own dashboard."""

from __future__ import annotations

import datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, QueryParameter

from app.analytics import service
from app.analytics.schemas import Dashboard, Period, TrackEvent, TrackResponse
from app.core.identity import CurrentUser, provide_caller
from app.core.ratelimit import RateLimiter
from app.db.types import Connection
from app.settings import Settings


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]
    dependencies = {"caller": Provide(provide_caller)}

    @post("/track", status_code=202, operation_id="trackEvent", request_max_body_size=service.MAX_BODY_BYTES)
    async def track(
        self,
        db: NamedDependency[Connection],
        rate_limiter: NamedDependency[RateLimiter],
        settings: NamedDependency[Settings],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[TrackEvent],
    ) -> TrackResponse:
        """Record one event (202 {"accepted": true}); it never awards XP. event_data and metadata: JSON objects of
        at most 4 KB, depth 5 and 50 keys each; 120 events a minute and 10,000 a day per account by default."""
        return await service.track(db, rate_limiter, settings.analytics, caller.id, data)

    @get("/dashboard", operation_id="analyticsDashboard")
    async def get_dashboard(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        period: Annotated[Period, QueryParameter(description="day, week (ISO, UTC), month or all")] = "week",
    ) -> Dashboard:
        """The caller's scans, recipes, saves, favourites, ratings, XP and tracked events in the current UTC day,
        ISO week (Monday to Sunday), calendar month, or since the account was created (`all`)."""
        return await service.dashboard(
            db,
            caller.id,
            period=period,
            member_since=caller.user.created_at,
            now=datetime.datetime.now(datetime.UTC),
        )
