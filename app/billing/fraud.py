"""Security events about purchases and the fraud report built on the `billing_fraud_signals` view.

Purchase identities (transaction ids, purchase tokens, charges) are kept only as sha256 hashes here: enough to
group attempts on one purchase, useless to replay it.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Literal

import msgspec

from app.billing.schemas import Provider
from app.db.pool import connect
from app.db.queries import purchases as q
from app.db.types import Connection

SecurityEventKind = Literal["proof_owned_elsewhere", "account_token_mismatch", "payment_disputed"]
FRAUD_REPORT_MAX_ROWS = 1000


def identity_hash(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()


async def record_security_event(
    conn: Connection,
    user_id: uuid.UUID,
    provider: Provider,
    kind: SecurityEventKind,
    *,
    identity: str | None,
    detail: str = "",
) -> None:
    await q.record_security_event(
        conn,
        user_id=user_id,
        provider=provider,
        kind=kind,
        proof_hash=identity_hash(identity) if identity else None,
        detail=detail[:500],
    )


async def fraud_report(conn: Connection) -> list[q.ListFraudSignalsRow]:
    """Every account the fraud view flags, most recent first (at most FRAUD_REPORT_MAX_ROWS)."""
    return await q.list_fraud_signals(conn, max_rows=FRAUD_REPORT_MAX_ROWS)


def format_report(rows: list[q.ListFraudSignalsRow], *, as_json: bool) -> str:
    """The fraud report as JSON lines or as a text table (the CLI's output)."""
    if as_json:
        return "\n".join(msgspec.json.encode(row).decode() for row in rows)
    if not rows:
        return "No fraud signals."
    lines = [f"{'signal':<24} {'provider':<8} {'count':>6}  {'last seen':<25} account"]
    lines += [
        f"{r.signal:<24} {r.provider:<8} {r.occurrences:>6}  {r.last_seen.isoformat(timespec='seconds'):<25} "
        f"{r.email} ({r.user_id})"
        for r in rows
    ]
    return "\n".join(lines)


async def fraud_report_text(dsn: str, *, as_json: bool) -> str:
    conn = await connect(dsn)
    try:
        return format_report(await fraud_report(conn), as_json=as_json)
    finally:
        await conn.close()
