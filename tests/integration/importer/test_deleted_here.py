"""`cookcam import supabase` run again after the switch: an account deleted here since the first run stays deleted,
whichever path deleted it (the tombstone of migration 0045), with nothing of it brought back (identities, refresh
tokens, subscription bindings, XP); the dry run and the summary say so; the other accounts are as idempotent as
before; a deletion that commits while a run is writing rolls the run back. The Apple account-delete notification's
case is in tests/integration/auth/apple/test_apple_notifications.py (its loopback JWKS fake)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.importer.supabase import EXIT_DELETED_MEANWHILE, EXIT_OK, ExportFiles, ImportSummary, import_supabase
from tests.integration.importer.exports import (
    PASSWORD,
    REFRESH_TOKEN_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    OldAccount,
    identity_row,
    write_csv,
    write_exports,
)
from tests.integration.pages.forms import assert_page
from tests.integration.pages.test_account_delete import CONFIRM, sign_in
from tests.support import PASSWORD as SIGN_UP_PASSWORD
from tests.support import bearer, sign_up

Deletion = Callable[[AsyncTestClient[Litestar], asyncpg.Connection, OldAccount], Awaitable[None]]


async def _signed_in(client: AsyncTestClient[Litestar], account: OldAccount) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/signin", json={"email": account.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _through_the_api(client: AsyncTestClient[Litestar], _db: asyncpg.Connection, account: OldAccount) -> None:
    auth = await _signed_in(client, account)
    response = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )
    assert response.status_code == 200, response.text


async def _through_the_page(client: AsyncTestClient[Litestar], _db: asyncpg.Connection, account: OldAccount) -> None:
    csrf, confirmation = await sign_in(client, account.email, PASSWORD)
    done = await client.post(CONFIRM, data={"csrf_token": csrf, "confirmation": confirmation})
    assert "Your account and all of its data have been deleted." in assert_page(done, 200)


async def _by_an_operator(_client: AsyncTestClient[Litestar], db: asyncpg.Connection, account: OldAccount) -> None:
    # An erasure done by hand in psql (no API involved): the database records it all the same.
    assert await db.execute("delete from users where id = $1", uuid.UUID(account.id)) == "DELETE 1"


def _files(tmp_path: Path, ada: OldAccount, bob: OldAccount) -> ExportFiles:
    exports = write_exports(
        tmp_path, [ada, bob], [identity_row(ada.id, "apple", "ada.apple"), identity_row(bob.id, "google", "bob-g")]
    )
    tokens = [
        {"token": f"rt-{account.id}", "user_id": account.id, "revoked": "f", "created_at": "2024-02-01 09:00:00+00"}
        for account in (ada, bob)
    ]
    subscriptions = [
        dict.fromkeys(SUBSCRIPTION_COLUMNS, "")
        | {
            "user_id": account.id,
            "provider": "stripe",
            "stripe_customer_id": f"cus_{account.id[:8]}",
            "stripe_subscription_id": f"sub_{account.id[:8]}",
            "environment": "production",
        }
        for account in (ada, bob)
    ]
    return ExportFiles(
        exports.auth_users,
        exports.profiles,
        exports.identities,
        write_csv(tmp_path / "refresh_tokens.csv", REFRESH_TOKEN_COLUMNS, tokens),
        write_csv(tmp_path / "subscriptions.csv", SUBSCRIPTION_COLUMNS, subscriptions),
    )


async def _rows_of(db: asyncpg.Connection, account: OldAccount) -> tuple[list[tuple[Any, ...]], ...]:
    """Everything the import writes for one account."""
    user_id = uuid.UUID(account.id)
    queries = (
        "select id, email, password_hash, name, updated_at from users where id = $1",
        "select provider, subject from user_identities where user_id = $1",
        "select action, amount from xp_ledger where user_id = $1",
        "select total_xp from xp_totals where user_id = $1",
        "select token_hash, exchanged_at from imported_refresh_tokens where user_id = $1",
        "select provider, provider_subscription_id from imported_billing_bindings where user_id = $1",
        "select customer_id from stripe_customers where user_id = $1",
    )
    return tuple([[tuple(r) for r in await db.fetch(query, user_id)] for query in queries])


def _says_ada_was_deleted_here(summary: ImportSummary) -> None:
    assert (summary.accounts_read, summary.imported, summary.already_imported) == (2, 0, 1)
    assert dict(+summary.skipped) == {"deleted here": 1}
    assert (summary.identities_imported, summary.identities_already) == (0, 1)
    assert dict(+summary.identities_skipped) == {"account deleted here": 1}
    assert summary.xp_balances_opened == 0
    assert (summary.refresh_tokens_imported, summary.refresh_tokens_already) == (0, 1)
    assert dict(+summary.refresh_tokens_skipped) == {"account deleted here": 1}
    assert (summary.bindings_imported, summary.bindings_already, summary.stripe_customers_bound) == (0, 1, 0)
    assert dict(+summary.bindings_skipped) == {"account deleted here": 1}
    assert (summary.conflicts, summary.exit_code) == ([], EXIT_OK)
    lines = summary.lines()
    assert "  skipped (deleted here): 1" in lines
    assert "  identities skipped (account deleted here): 1" in lines
    assert "  refresh tokens skipped (account deleted here): 1" in lines
    assert "  subscription bindings skipped (account deleted here): 1" in lines


@pytest.mark.parametrize("delete", [_through_the_api, _through_the_page, _by_an_operator])
async def test_an_account_deleted_here_is_never_imported_again(
    tmp_path: Path, db: asyncpg.Connection, client: AsyncTestClient[Litestar], delete: Deletion
) -> None:
    ada, bob = OldAccount(total_xp=300), OldAccount(total_xp=40)
    files = _files(tmp_path, ada, bob)
    first = await import_supabase(db, files)
    assert (first.imported, first.identities_imported, first.xp_balances_opened) == (2, 2, 2)
    assert (first.refresh_tokens_imported, first.bindings_imported) == (2, 2)
    bob_before = await _rows_of(db, bob)

    await delete(client, db, ada)
    gone = await _rows_of(db, ada)
    assert gone == ([], [], [], [], [], [], [])

    dry = await import_supabase(db, files, dry_run=True)
    _says_ada_was_deleted_here(dry)
    assert dry.lines()[0].startswith("Dry run")
    again = await import_supabase(db, files)
    _says_ada_was_deleted_here(again)
    assert await _rows_of(db, ada) == gone
    assert await db.fetchval("select count(*) from users where lower(email) = $1", ada.email.lower()) == 0
    assert await _rows_of(db, bob) == bob_before  # the account not deleted: there, unchanged
    old_password = await client.post("/api/v1/auth/signin", json={"email": ada.email, "password": PASSWORD})
    assert old_password.status_code == 401


async def test_the_tombstone_keeps_only_the_sha256_of_the_id(
    db: asyncpg.Connection, client: AsyncTestClient[Litestar]
) -> None:
    auth = await sign_up(client)
    user_id = auth["user"]["id"]
    response = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(auth), json={"confirm_password": SIGN_UP_PASSWORD}
    )
    assert response.status_code == 200, response.text
    rows = [dict(r) for r in await db.fetch("select * from deleted_accounts")]
    assert [set(row) for row in rows] == [{"id_sha256", "deleted_at"}]
    assert rows[0]["id_sha256"] == hashlib.sha256(user_id.encode()).hexdigest()
    # Billing's own tombstone is still written as before (restore of a deleted account's store purchases).
    assert await db.fetchval("select token_sha256 from deleted_account_tokens") == rows[0]["id_sha256"]


def _delete_from_another_connection(database_url: str, user_id: uuid.UUID) -> None:
    """A deletion committed by another session while the import's transaction is open (its own thread and loop)."""

    async def delete() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("delete from users where id = $1", user_id)
        finally:
            await conn.close()

    thread = threading.Thread(target=asyncio.run, args=(delete(),))
    thread.start()
    thread.join()


async def test_a_deletion_while_the_import_runs_rolls_the_run_back(
    tmp_path: Path, db: asyncpg.Connection, database_url: str
) -> None:
    ada, bob = OldAccount(), OldAccount()
    files = _files(tmp_path, ada, bob)
    assert (await import_supabase(db, files)).imported == 2
    bob_before = await _rows_of(db, bob)
    deleted: list[str] = []

    def delete_ada_once_staged(phase: str, _done: int, _total: int) -> None:
        # After the run has read the tombstones (before it writes users): ada is deleted by someone else meanwhile.
        if phase == "accounts staged" and not deleted:
            deleted.append(ada.id)
            _delete_from_another_connection(database_url, uuid.UUID(ada.id))

    raced = await import_supabase(db, files, progress=delete_ada_once_staged)

    assert (raced.deleted_meanwhile, raced.exit_code) == (1, EXIT_DELETED_MEANWHILE)
    assert raced.lines() == [
        "Nothing imported: 1 account(s) of the export were deleted here while the import ran; run it again "
        "(it skips them)."
    ]
    assert await _rows_of(db, ada) == ([], [], [], [], [], [], [])
    assert await _rows_of(db, bob) == bob_before
    again = await import_supabase(db, files)
    assert (again.deleted_meanwhile, again.skipped["deleted here"], again.already_imported) == (0, 1, 1)
    assert await _rows_of(db, ada) == ([], [], [], [], [], [], [])
