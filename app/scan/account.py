"""Scanning's share of an account's export: scans (detected and corrected ingredients; images are not
exported) and AI usage per day, task and model (scans and recipe generation alike)."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import ai as ai_q
from app.db.queries import scans as q
from app.db.types import Connection


class ScansSection(msgspec.Struct, frozen=True):
    scans: list[q.ExportScansRow]
    ai_usage: list[ai_q.ListAiUsageRow]


async def export_section(conn: Connection, user_id: uuid.UUID) -> ScansSection:
    return ScansSection(
        scans=await q.export_scans(conn, user_id=user_id), ai_usage=await ai_q.list_ai_usage(conn, user_id=user_id)
    )
