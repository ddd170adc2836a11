"""DELETE /api/v1/auth/account and GET /api/v1/auth/export (paths kept from the mobile app's contract)."""

from __future__ import annotations

from typing import Any

from litestar import Response, delete, get
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from app.account import service
from app.account.registry import AccountParts
from app.account.schemas import DeleteAccountRequest, DeleteAccountResponse
from app.core.identity import CurrentUser, provide_caller, provide_caller_briefly
from app.core.passwords import Passwords
from app.db.types import Connection, ConnectionSource


@delete(
    "/api/v1/auth/account",
    status_code=200,
    operation_id="deleteAccount",
    tags=["auth"],
    # Deletion waits on argon2 and on Stripe: no pooled connection is held meanwhile.
    dependencies={"caller": Provide(provide_caller_briefly)},
)
async def delete_account(
    connect: NamedDependency[ConnectionSource],
    account_parts: NamedDependency[AccountParts],
    passwords: NamedDependency[Passwords],
    caller: NamedDependency[CurrentUser],
    data: JSONBody[DeleteAccountRequest],
) -> DeleteAccountResponse:
    return await service.delete_account(connect, account_parts, passwords, caller, data.confirm_password)


@get(
    "/api/v1/auth/export", operation_id="exportAccount", tags=["auth"], dependencies={"caller": Provide(provide_caller)}
)
async def export_account(
    db: NamedDependency[Connection], account_parts: NamedDependency[AccountParts], caller: NamedDependency[CurrentUser]
) -> Response[dict[str, Any]]:
    """Everything the account owns, as JSON: the user, then each domain's section (no secrets, no other users')."""
    document = await service.export_account(db, account_parts, caller)
    return Response(document, headers={"Content-Disposition": 'attachment; filename="cookcam-export.json"'})
