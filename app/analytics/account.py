"""Analytics' share of an account's export: tracked events (type, data, metadata, when), the newest 10,000."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import analytics as q
from app.db.types import Connection


class AnalyticsSection(msgspec.Struct, frozen=True):
    analytics_events: list[q.ExportAnalyticsEventsRow]


async def export_section(conn: Connection, user_id: uuid.UUID) -> AnalyticsSection:
    return AnalyticsSection(analytics_events=await q.export_analytics_events(conn, user_id=user_id))
