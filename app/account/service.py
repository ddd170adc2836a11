"""An account's export (every section the domains register, read in one snapshot) and its deletion (each domain's
close step with no connection held, then one transaction that runs the erase steps and deletes the users row, which
takes everything the account owns with it: every user-owned table references users(id) ON DELETE CASCADE)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgspec

from app.account.registry import AccountParts, OwnerCheck
from app.account.schemas import DeleteAccountRequest, DeleteAccountResponse
from app.core.errors import NotFound
from app.core.identity import CurrentUser
from app.db.queries import auth as q
from app.db.types import Connection, ConnectionSource
from app.realtime.events import ACCOUNT_DELETED, RealtimeEvent, publish


async def export_account(conn: Connection, registry: AccountParts, caller: CurrentUser) -> dict[str, Any]:
    """The export document: when, the user, then each registered section's fields (typed rows, never secrets)."""
    document: dict[str, Any] = {"exported_at": datetime.datetime.now(datetime.UTC), "user": caller.user}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for part in registry.parts:
            if part.export is not None:
                section = await part.export(conn, caller.id)
                document.update(msgspec.structs.asdict(section))
    return document


async def delete_account(
    connect: ConnectionSource,
    registry: AccountParts,
    owner_check: OwnerCheck,
    caller: CurrentUser,
    proof: DeleteAccountRequest,
) -> DeleteAccountResponse:
    """Check the caller's proof of ownership (its password, or a fresh Apple or Google token of a linked identity),
    run every close step (e.g. cancel live Stripe subscriptions; if one fails, nothing is erased), then erase the
    account in one transaction. No pooled connection waits on argon2 or a provider."""
    await owner_check(caller.id, proof)
    return await erase_account(connect, registry, caller.id)


async def erase_account(connect: ConnectionSource, registry: AccountParts, user_id: uuid.UUID) -> DeleteAccountResponse:
    """The deletion itself, once the caller has proved it is the account's owner (the API: the password or a fresh
    Apple or Google sign-in on an authenticated request; the web page /account/delete: a sign-in a few minutes
    earlier)."""
    still_to_do: list[str] = []
    for part in registry.parts:
        if part.close is not None:
            still_to_do += await part.close(connect, user_id)
    async with connect() as conn, conn.transaction():
        await publish(conn, user_id, RealtimeEvent(ACCOUNT_DELETED))
        for part in registry.parts:
            if part.erase is not None:
                await part.erase(conn, user_id)
        if await q.delete_user(conn, user_id=user_id) != 1:
            raise NotFound("USER_NOT_FOUND", "This account no longer exists.")
    return DeleteAccountResponse(
        message="Your account and all of its data have been deleted."
        + (" Store subscriptions must still be cancelled in the store." if still_to_do else ""),
        deleted_at=datetime.datetime.now(datetime.UTC),
        store_subscriptions_to_cancel=still_to_do,
    )
