"""Sign-up, sign-in, me, profile, referral placeholder, deletion and export through the HTTP API."""

from __future__ import annotations

import uuid

import asyncpg

from tests.support import PASSWORD, bearer, new_email, sign_up

AUTH = "/api/v1/auth"


async def test_signup_returns_tokens_and_user(client) -> None:
    email = new_email()
    body = await sign_up(client, email=email.upper(), name="  Ada  ")
    assert body["user"]["email"] == email  # stored lower-case
    assert body["user"]["name"] == "Ada"
    assert body["user"]["is_creator"] is False
    assert body["expires_in"] == 900
    assert body["access_token"].count(".") == 2
    assert len(body["refresh_token"]) >= 40


async def test_password_is_stored_as_argon2id(client, db: asyncpg.Connection) -> None:
    body = await sign_up(client)
    stored = await db.fetchval("select password_hash from users where id = $1::uuid", body["user"]["id"])
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_duplicate_email_is_409_case_insensitively(client) -> None:
    email = new_email()
    await sign_up(client, email=email)
    response = await client.post(AUTH + "/signup", json={"email": email.upper(), "password": PASSWORD, "name": "B"})
    assert response.status_code == 409
    assert response.json()["code"] == "EMAIL_TAKEN"


async def test_signin_with_right_and_wrong_password(client) -> None:
    email = new_email()
    await sign_up(client, email=email)
    ok = await client.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json()["user"]["email"] == email
    wrong = await client.post(AUTH + "/signin", json={"email": email, "password": "not the password"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "INVALID_CREDENTIALS"
    unknown = await client.post(AUTH + "/signin", json={"email": new_email(), "password": PASSWORD})
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "INVALID_CREDENTIALS"


async def test_me_requires_a_valid_token(client) -> None:
    auth = await sign_up(client)
    me = await client.get(AUTH + "/me", headers=bearer(auth))
    assert me.status_code == 200
    assert me.json()["id"] == auth["user"]["id"]
    missing = await client.get(AUTH + "/me")
    assert missing.status_code == 401
    assert missing.json()["code"] == "UNAUTHENTICATED"
    tampered = auth["access_token"][:-2] + ("AA" if not auth["access_token"].endswith("AA") else "BB")
    bad = await client.get(AUTH + "/me", headers={"Authorization": f"Bearer {tampered}"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "TOKEN_INVALID"
    garbage = await client.get(AUTH + "/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert garbage.json()["code"] == "TOKEN_INVALID"


async def test_profile_update_changes_only_sent_fields(client) -> None:
    auth = await sign_up(client, name="Before")
    response = await client.put(
        AUTH + "/profile",
        headers=bearer(auth),
        json={"cuisine_preferences": ["thai", "italian"], "default_serving_size": 4, "cooking_skill_level": "advanced"},
    )
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["name"] == "Before"
    assert user["cuisine_preferences"] == ["thai", "italian"]
    assert user["default_serving_size"] == 4
    me = (await client.get(AUTH + "/me", headers=bearer(auth))).json()
    assert me["cooking_skill_level"] == "advanced"


async def test_profile_cannot_make_a_creator(client) -> None:
    auth = await sign_up(client)
    response = await client.put(AUTH + "/profile", headers=bearer(auth), json={"is_creator": True})
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"
    me = (await client.get(AUTH + "/me", headers=bearer(auth))).json()
    assert me["is_creator"] is False


async def test_profile_rejects_out_of_range_values_with_field_path(client) -> None:
    auth = await sign_up(client)
    response = await client.put(AUTH + "/profile", headers=bearer(auth), json={"default_serving_size": 500})
    assert response.status_code == 422
    body = response.json()
    assert body["details"][0]["field"] == "default_serving_size"


async def test_delete_account_needs_password_and_erases_everything(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client)
    user_id = auth["user"]["id"]
    await client.post(AUTH + "/link-referral", headers=bearer(auth), json={"referral_code": "CHEF42"})
    wrong = await client.request(
        "DELETE", AUTH + "/account", headers=bearer(auth), json={"confirm_password": "wrong password"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "INVALID_PASSWORD"
    assert await db.fetchval("select count(*) from users where id = $1::uuid", user_id) == 1

    deleted = await client.request(
        "DELETE", AUTH + "/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )
    assert deleted.status_code == 200
    assert "deleted_at" in deleted.json()
    for table in ("users", "sessions", "refresh_tokens", "referral_attributions"):
        column = "id" if table == "users" else "user_id"
        assert await db.fetchval(f"select count(*) from {table} where {column} = $1::uuid", user_id) == 0, table
    after = await client.get(AUTH + "/me", headers=bearer(auth))
    assert after.status_code == 401


async def test_every_user_owned_table_cascades_from_users(db: asyncpg.Connection) -> None:
    """A new table with a user_id column must reference users ON DELETE CASCADE, or deletion would leave data.
    (Views, such as the fraud view, hold no rows of their own.)"""
    rows = await db.fetch(
        """
        select c.table_name
        from information_schema.columns c
        join information_schema.tables tb on (tb.table_schema, tb.table_name) = (c.table_schema, c.table_name)
        where c.table_schema = 'public' and c.column_name = 'user_id' and tb.table_type = 'BASE TABLE'
          and not exists (
            select 1 from pg_constraint k
            join pg_class t on t.oid = k.conrelid
            where t.relname = c.table_name and k.contype = 'f' and k.confdeltype = 'c'
              and k.confrelid = 'users'::regclass)
        """
    )
    assert [r["table_name"] for r in rows] == []


async def test_export_contains_own_data_and_no_secrets(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client)
    other = await sign_up(client)
    # The referring creator's link (attribution rules: tests/integration/creators).
    link = "insert into affiliate_links (creator_id, code, custom_slug) values ($1, 'abcdefghjkmn', 'chef42')"
    await db.execute(link, uuid.UUID(other["user"]["id"]))
    await client.post(AUTH + "/link-referral", headers=bearer(auth), json={"referral_code": "CHEF42"})
    response = await client.get(AUTH + "/export", headers=bearer(auth))
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == auth["user"]["id"]
    assert body["referral"]["referral_code"] == "CHEF42"
    assert len(body["sessions"]) == 1
    text = response.text
    assert "argon2" not in text
    assert auth["refresh_token"] not in text
    assert other["user"]["id"] not in text
    assert other["user"]["email"] not in text
