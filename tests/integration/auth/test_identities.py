"""Password-less accounts (made through Apple or Google) and the sign-in methods of an account: every password
check handles a missing hash (no crash, no way in), GET /auth/identities lists the methods, DELETE
/auth/identities/{provider} unlinks one while another remains, the export lists identities and deletion takes them.

The accounts' identities are written here with SQL, as the Apple and Google sign-in routes bind them."""

from __future__ import annotations

import asyncpg

from tests.support import PASSWORD, bearer, deliver_mail, link_in, new_email, sign_up, token_of

AUTH = "/api/v1/auth"
NEW_PASSWORD = "a first kitchen passphrase"


async def _link(db: asyncpg.Connection, user_id: str, provider: str, subject: str = "") -> None:
    await db.execute(
        "insert into user_identities (user_id, provider, subject, email, email_verified)"
        " values ($1::uuid, $2, $3, 'x@example.com', true)",
        user_id,
        provider,
        subject or f"{provider}-{user_id}",
    )


async def _passwordless(client, db: asyncpg.Connection, *providers: str) -> tuple[dict, str]:
    email = new_email()
    auth = await sign_up(client, email=email)
    user_id = auth["user"]["id"]
    await db.execute("update users set password_hash = null where id = $1::uuid", user_id)
    for provider in providers:
        await _link(db, user_id, provider)
    return auth, email


async def _hash(db: asyncpg.Connection, user_id: str) -> str | None:
    value: str | None = await db.fetchval("select password_hash from users where id = $1::uuid", user_id)
    return value


async def test_identities_list_the_password_and_each_identity(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client)
    listed = await client.get(AUTH + "/identities", headers=bearer(auth))
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"password": True, "identities": []}
    await _link(db, auth["user"]["id"], "google")
    body = (await client.get(AUTH + "/identities", headers=bearer(auth))).json()
    [identity] = body["identities"]
    assert identity["provider"] == "google"
    assert identity["email"] == "x@example.com"
    assert identity["created_at"] and identity["last_sign_in_at"] is None
    assert "subject" not in identity
    assert (await client.get(AUTH + "/identities")).status_code == 401


async def test_unlinking_keeps_a_way_to_sign_in(client, db: asyncpg.Connection) -> None:
    auth, _ = await _passwordless(client, db, "apple", "google")
    user_id = auth["user"]["id"]
    unlinked = await client.delete(AUTH + "/identities/apple", headers=bearer(auth))
    assert unlinked.status_code == 200, unlinked.text
    assert unlinked.json()["password"] is False
    assert [i["provider"] for i in unlinked.json()["identities"]] == ["google"]
    last = await client.delete(AUTH + "/identities/google", headers=bearer(auth))
    assert (last.status_code, last.json()["code"]) == (409, "LAST_SIGN_IN_METHOD")
    assert await db.fetchval("select count(*) from user_identities where user_id = $1::uuid", user_id) == 1
    gone = await client.delete(AUTH + "/identities/apple", headers=bearer(auth))
    assert (gone.status_code, gone.json()["code"]) == (404, "IDENTITY_NOT_FOUND")
    unknown = await client.delete(AUTH + "/identities/facebook", headers=bearer(auth))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "IDENTITY_NOT_FOUND")


async def test_an_account_with_a_password_can_unlink_its_only_identity(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client)
    await _link(db, auth["user"]["id"], "apple")
    unlinked = await client.delete(AUTH + "/identities/apple", headers=bearer(auth))
    assert unlinked.status_code == 200, unlinked.text
    assert unlinked.json() == {"password": True, "identities": []}


async def test_unlinking_another_accounts_identity_is_not_possible(client, db: asyncpg.Connection) -> None:
    owner = await sign_up(client)
    await _link(db, owner["user"]["id"], "google")
    stranger = await sign_up(client)
    refused = await client.delete(AUTH + "/identities/google", headers=bearer(stranger))
    assert (refused.status_code, refused.json()["code"]) == (404, "IDENTITY_NOT_FOUND")
    assert await db.fetchval("select count(*) from user_identities") == 1


async def test_no_password_means_no_password_sign_in(client, db: asyncpg.Connection) -> None:
    _, email = await _passwordless(client, db, "apple")
    for password in (PASSWORD, "", "null", "None"):
        response = await client.post(AUTH + "/signin", json={"email": email, "password": password or "x"})
        assert (response.status_code, response.json()["code"]) == (401, "INVALID_CREDENTIALS")


async def test_password_checks_answer_password_not_set(client, db: asyncpg.Connection) -> None:
    auth, _ = await _passwordless(client, db, "google")
    user_id = auth["user"]["id"]
    changed = await client.post(
        AUTH + "/change-password",
        headers=bearer(auth),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert (changed.status_code, changed.json()["code"]) == (409, "PASSWORD_NOT_SET")
    assert await _hash(db, user_id) is None
    moved = await client.post(
        AUTH + "/change-email", headers=bearer(auth), json={"new_email": new_email(), "password": PASSWORD}
    )
    assert (moved.status_code, moved.json()["code"]) == (409, "PASSWORD_NOT_SET")
    deleted = await client.request(
        "DELETE", AUTH + "/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )
    assert (deleted.status_code, deleted.json()["code"]) == (409, "PASSWORD_NOT_SET")
    assert await db.fetchval("select count(*) from users where id = $1::uuid", user_id) == 1


async def test_a_reset_link_sets_a_first_password(client, db: asyncpg.Connection) -> None:
    _, email = await _passwordless(client, db, "apple")
    assert (await client.post(AUTH + "/forgot-password", json={"email": email})).status_code == 202
    received = await deliver_mail(client.app.state.services.settings.database.url)
    [message] = [m for m in received if m["To"] == email and m["Subject"] == "Reset your CookCam password"]
    token = token_of(link_in(message, "reset-password"))
    reset = await client.post(AUTH + "/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text
    signed_in = await client.post(AUTH + "/signin", json={"email": email, "password": NEW_PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    assert (await client.get(AUTH + "/identities", headers=bearer(signed_in.json()))).json()["password"] is True


async def test_the_export_lists_identities_and_deletion_takes_them(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client)
    await _link(db, auth["user"]["id"], "apple")
    exported = (await client.get(AUTH + "/export", headers=bearer(auth))).json()
    [identity] = exported["identities"]
    assert identity["provider"] == "apple" and "subject" not in identity
    deleted = await client.request(
        "DELETE", AUTH + "/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )
    assert deleted.status_code == 200, deleted.text
    assert await db.fetchval("select count(*) from user_identities") == 0
