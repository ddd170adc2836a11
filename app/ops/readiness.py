"""What /ready checks: the database answers within the timeout, every migration of this code is applied and
unchanged (a database ahead of the code is fine), and this worker's real-time listener is connected."""

from __future__ import annotations

import asyncio

from app.db.migrations import Migration, check_current
from app.db.queries import ops as q
from app.db.types import ConnectionSource
from app.realtime.hub import Hub


async def readiness_checks(
    connect: ConnectionSource, migrations: list[Migration], hub: Hub, *, timeout_seconds: float
) -> dict[str, str]:
    """Each check's verdict: "ok", or what failed."""
    checks = {"database": "not checked", "migrations": "not checked"}
    try:
        async with asyncio.timeout(timeout_seconds):
            async with connect() as conn:
                await q.database_now(conn)
                checks["database"] = "ok"
                problem = await check_current(conn, migrations)
                checks["migrations"] = problem or "ok"
    except Exception as exc:  # any failure here means not ready; name which step failed
        failed = "migrations" if checks["database"] == "ok" else "database"
        checks[failed] = f"unavailable: {type(exc).__name__}"
    checks["realtime"] = "ok" if hub.listening else "reconnecting"
    return checks
