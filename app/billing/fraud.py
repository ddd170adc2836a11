"""Security events about purchases and the fraud report built on the `billing_fraud_signals` view.

Purchase identities (transaction ids, purchase tokens, charges) are kept only as sha256 hashes here: enough to
group attempts on one purchase, useless to replay it.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Literal

from app.billing.schemas import Provider
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
