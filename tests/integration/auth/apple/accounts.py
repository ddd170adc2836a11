"""What the Sign in with Apple tests share: the app's ids and a count of what sign-ins write."""

from __future__ import annotations

import asyncpg

BUNDLE_ID = "app.cookcam.ios"
SERVICE_ID = "app.cookcam.web"


async def written(db: asyncpg.Connection) -> tuple[int, int, int]:
    """How many users, identities and sessions exist."""
    return (
        await db.fetchval("select count(*) from users"),
        await db.fetchval("select count(*) from user_identities"),
        await db.fetchval("select count(*) from sessions"),
    )
