"""Social's share of an account's export: follows both ways (the other account's id and when)."""

from __future__ import annotations

import uuid

import msgspec

from app.db.queries import social as q
from app.db.types import Connection


class FollowsSection(msgspec.Struct, frozen=True):
    follows: list[q.ExportFollowsRow]


async def export_section(conn: Connection, user_id: uuid.UUID) -> FollowsSection:
    return FollowsSection(follows=await q.export_follows(conn, user_id=user_id))
