"""DELETE /api/v1/auth/account and GET /api/v1/auth/export (paths kept from the mobile app's contract)."""

from __future__ import annotations

from typing import Any

from litestar import Response, delete, get
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from app.account import service
from app.account.registry import AccountParts, OwnerCheck
from app.account.schemas import DeleteAccountRequest, DeleteAccountResponse
from app.core.identity import CurrentUser, provide_caller, provide_caller_briefly
from app.db.types import Connection, ConnectionSource


@delete(
    "/api/v1/auth/account",
    status_code=200,
    operation_id="deleteAccount",
    tags=["auth"],
    # Deletion waits on argon2, on Apple's or Google's keys and on Stripe: no pooled connection is held meanwhile.
    dependencies={"caller": Provide(provide_caller_briefly)},
)
async def delete_account(
    connect: NamedDependency[ConnectionSource],
    account_parts: NamedDependency[AccountParts],
    owner_check: NamedDependency[OwnerCheck],
    caller: NamedDependency[CurrentUser],
    data: JSONBody[DeleteAccountRequest],
) -> DeleteAccountResponse:
    """Erase the account and everything it owns, once the caller proves it owns the account now with exactly one
    of: `confirm_password` (what the shipped app sends; 401 INVALID_PASSWORD, 409 PASSWORD_NOT_SET for an account
    made through Apple or Google), `identity_token` (Sign in with Apple again just now, with the `nonce` the sign-in
    used, if any) or `id_token` (Sign in with Google again just now). A token is verified as at sign-in (401
    APPLE_TOKEN_INVALID, APPLE_TOKEN_EXPIRED, APPLE_NONCE_MISMATCH, GOOGLE_TOKEN_INVALID, GOOGLE_TOKEN_EXPIRED),
    must be at most five minutes old (401 REAUTHENTICATION_TOO_OLD) and must belong to an identity linked to this
    account (403 IDENTITY_NOT_LINKED); any account with a linked identity may use it instead of its password. 422
    PROOF_REQUIRED unless exactly one proof is sent. Limited per account and address like password checks (429
    RATE_LIMITED). Live Stripe subscriptions are cancelled first (if that fails, nothing is erased); store
    subscriptions to cancel in the store are listed in `store_subscriptions_to_cancel`."""
    return await service.delete_account(connect, account_parts, owner_check, caller, data)


@get(
    "/api/v1/auth/export", operation_id="exportAccount", tags=["auth"], dependencies={"caller": Provide(provide_caller)}
)
async def export_account(
    db: NamedDependency[Connection], account_parts: NamedDependency[AccountParts], caller: NamedDependency[CurrentUser]
) -> Response[dict[str, Any]]:
    """Everything the account owns, as JSON: the user, then each domain's section (no secrets, no other users')."""
    document = await service.export_account(db, account_parts, caller)
    return Response(document, headers={"Content-Disposition": 'attachment; filename="cookcam-export.json"'})
