"""Restore and transfer of store purchases (docs/payments.md "Restore and transfer"): a purchase of a deleted account
is claimed by the account that restores it; one held by a live account follows BILLING_TRANSFER_POLICY; every
transfer is recorded with its cause. Against the loopback Google Play fake and StoreKit 2 transactions signed here."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.billing.entitlements import Cause, ProviderState, record_subscription_state
from app.creators.billing_hooks import billing_hooks
from app.db.queries import billing_support as support_q
from app.server import create_app
from tests.fakes.apple import AppleSigner
from tests.fakes.google import FakeGoogle
from tests.integration.billing.test_apple import _validate as _validate_apple
from tests.integration.billing.test_apple import apple, signer  # noqa: F401 (fixtures)
from tests.integration.billing.test_google_store import (  # noqa: F401 (fixtures)
    _tier,
    _validate,
    google,
    play,
    play_settings,
)
from tests.support import PASSWORD, bearer, sign_up

CREATOR_YEARLY = "com.cookcam.creator.yearly"


def _bound_to(auth: dict) -> str:
    """Google's obfuscated account id as the app sets it: the sha256 of the account's id."""
    return hashlib.sha256(auth["user"]["id"].encode()).hexdigest()


async def _delete(client: AsyncTestClient, auth: dict) -> None:
    response = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )
    assert response.status_code == 200, response.text


async def _is_creator(client: AsyncTestClient, auth: dict) -> bool:
    return bool((await client.get("/api/v1/auth/me", headers=bearer(auth))).json()["is_creator"])


@pytest.fixture
async def transferring(
    play: AsyncTestClient,  # noqa: F811 (the fixture imported above; asked first, so it resets the fake)
    google: FakeGoogle,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[AsyncTestClient]:
    """The same app with BILLING_TRANSFER_POLICY=transfer."""
    settings = play_settings(google, database_url, tmp_path)
    billing = msgspec.structs.replace(settings.billing, transfer_policy="transfer")
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, billing=billing))) as client:
        yield client


async def test_a_deleted_accounts_google_purchase_is_claimed_by_the_account_restoring_it(
    play: AsyncTestClient,  # noqa: F811
    google: FakeGoogle,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    first = await sign_up(play)
    google.add_subscription("tok-kept", product_id=CREATOR_YEARLY, obfuscated_account_id=_bound_to(first))
    assert (await _validate(play, first, "tok-kept")).status_code == 200
    await _delete(play, first)
    assert await db.fetchval("select count(*) from subscriptions") == 0  # gone with the account

    second = await sign_up(play)
    restored = await _validate(play, second, "tok-kept")
    assert restored.status_code == 200, restored.text
    assert (await _tier(play, second)) == "creator"
    transfer = await db.fetchrow("select from_user_id, to_user_id::text, cause, cause_ref from subscription_transfers")
    assert (transfer["from_user_id"], transfer["to_user_id"], transfer["cause"]) == (
        None,
        second["user"]["id"],
        "deleted_account",
    )
    assert transfer["cause_ref"] == restored.headers["x-request-id"]
    export = (await play.get("/api/v1/auth/export", headers=bearer(second))).json()
    assert [(t["direction"], t["cause"]) for t in export["subscription_transfers"]] == [("in", "deleted_account")]
    assert first["user"]["id"] not in (await play.get("/api/v1/auth/export", headers=bearer(second))).text


async def test_a_live_accounts_purchase_is_kept_by_default_with_how_to_restore_it(
    play: AsyncTestClient,  # noqa: F811
    google: FakeGoogle,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    owner, other = await sign_up(play), await sign_up(play)
    google.add_subscription("tok-live", product_id=CREATOR_YEARLY, obfuscated_account_id=_bound_to(owner))
    assert (await _validate(play, owner, "tok-live")).status_code == 200
    refused = await _validate(play, other, "tok-live")
    assert (refused.status_code, refused.json()["code"]) == (409, "SUBSCRIPTION_OWNED_ELSEWHERE")
    assert "Sign in to the account that made it and restore purchases there" in refused.json()["message"]
    assert (await _tier(play, owner), await _tier(play, other)) == ("creator", "free")
    assert await db.fetchval("select count(*) from subscription_transfers") == 0


async def test_the_transfer_policy_moves_a_live_accounts_purchase(
    play: AsyncTestClient,  # noqa: F811
    transferring: AsyncTestClient,
    google: FakeGoogle,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    owner, other = await sign_up(play), await sign_up(play)
    google.add_subscription(
        "tok-moved", product_id="com.cookcam.creator.yearly", obfuscated_account_id=_bound_to(owner)
    )
    assert (await _validate(play, owner, "tok-moved")).status_code == 200
    assert await _is_creator(play, owner)

    moved = await _validate(transferring, other, "tok-moved")
    assert moved.status_code == 200, moved.text
    assert (await _tier(play, owner), await _tier(play, other)) == ("free", "creator")
    # The derived creator state follows the purchase (migration 0041's move trigger).
    assert (await _is_creator(play, owner), await _is_creator(play, other)) == (False, True)
    transfer = await db.fetchrow("select from_user_id::text, to_user_id::text, cause from subscription_transfers")
    assert tuple(transfer) == (owner["user"]["id"], other["user"]["id"], "transfer_policy")
    export = (await play.get("/api/v1/auth/export", headers=bearer(owner))).json()
    assert [(t["direction"], t["cause"]) for t in export["subscription_transfers"]] == [("out", "transfer_policy")]


async def test_a_deleted_accounts_app_store_purchase_is_claimed_too(
    apple: tuple[AsyncTestClient, object],  # noqa: F811
    signer: AppleSigner,  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    client, _ = apple
    first = await sign_up(client)
    transaction = signer.transaction(appAccountToken=first["user"]["id"], productId="com.cookcam.creator.monthly")
    signed = signer.sign(transaction)
    assert (await _validate_apple(client, first, signed_transaction=signed)).status_code == 200
    await _delete(client, first)
    second = await sign_up(client)
    restored = await _validate_apple(client, second, signed_transaction=signed)
    assert restored.status_code == 200, restored.text
    assert restored.json()["tier"] == "creator"
    assert await db.fetchval("select cause from subscription_transfers") == "deleted_account"
    # A token naming an account that is neither deleted nor this one is still refused.
    stranger = signer.sign(signer.transaction(appAccountToken="6f0c6f8e-0000-4000-8000-000000000000"))
    refused = await _validate_apple(client, second, signed_transaction=stranger)
    assert (refused.status_code, refused.json()["code"]) == (409, "PURCHASE_ACCOUNT_MISMATCH")


async def test_a_moved_subscription_moves_its_referral_count(db: asyncpg.Connection) -> None:
    """The move trigger: a live production subscription counted for the link that referred its account is counted
    for the link that referred the account it moves to (as a delete and an insert would be)."""
    creator, owner, other = [
        await db.fetchval(
            "insert into users (email, password_hash, name) values ($1, 'x', 'C') returning id", f"{name}@move.test"
        )
        for name in ("creator", "owner", "other")
    ]
    links = []
    for code, account in (("abcdefghjkmn", owner), ("bcdefghjkmnp", other)):
        link = await db.fetchval(
            "insert into affiliate_links (creator_id, code) values ($1, $2) returning id", creator, code
        )
        await db.execute(
            "insert into referral_attributions (user_id, referral_code, link_id) values ($1, $2, $3)",
            account,
            code,
            link,
        )
        links.append(link)
    now = datetime.datetime.now(datetime.UTC)
    state = ProviderState(
        user_id=owner,
        provider="google",
        provider_subscription_id="tok-referred",
        tier_slug="creator",
        status="active",
        billing_period="monthly",
        current_period_start=now,
        current_period_end=now + datetime.timedelta(days=30),
        provider_updated_at=now,
    )
    await record_subscription_state(db, state, Cause("test", "setup"), billing_hooks())
    counts = "select active_referrals from affiliate_links where id = any($1::uuid[]) order by code"
    assert [r["active_referrals"] for r in await db.fetch(counts, links)] == [1, 0]
    moved = await support_q.move_subscription(
        db, to_user_id=other, provider="google", provider_subscription_id="tok-referred"
    )
    assert moved == 1
    assert [r["active_referrals"] for r in await db.fetch(counts, links)] == [0, 1]
    creator_until = "select id, creator_until from users where id = any($1::uuid[])"
    until = {r["id"]: r["creator_until"] for r in await db.fetch(creator_until, [owner, other])}
    assert until[owner] is None
    assert until[other] is not None  # 'infinity' while active
