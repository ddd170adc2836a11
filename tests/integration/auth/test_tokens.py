"""Refresh rotation, reuse detection, sign-out and signing-key rotation."""

from __future__ import annotations

import asyncio
import time

import msgspec
from litestar.testing import AsyncTestClient

from app.core.tokens import AccessTokenValidator
from app.server import create_app
from app.settings import JwtSettings
from tests.conftest import make_settings
from tests.support import bearer, sign_up

AUTH = "/api/v1/auth"


async def test_refresh_rotates_and_spends_the_old_token(client) -> None:
    auth = await sign_up(client)
    rotated = await client.post(AUTH + "/refresh", json={"refresh_token": auth["refresh_token"]})
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != auth["refresh_token"]
    assert (await client.get(AUTH + "/me", headers=bearer(new))).status_code == 200


async def test_reusing_a_spent_refresh_token_after_the_grace_revokes_the_whole_family(database_url) -> None:
    settings = make_settings(database_url)
    jwt = msgspec.structs.replace(settings.jwt, refresh_reuse_grace_seconds=1)
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, jwt=jwt))) as client:
        auth = await sign_up(client)
        second = (await client.post(AUTH + "/refresh", json={"refresh_token": auth["refresh_token"]})).json()
        await asyncio.sleep(1.1)  # past the reuse grace
        reuse = await client.post(AUTH + "/refresh", json={"refresh_token": auth["refresh_token"]})
        assert reuse.status_code == 401
        assert reuse.json()["code"] == "REFRESH_TOKEN_REUSED"
        # The legitimate-looking descendant is dead too, and so is the access token of that session.
        descendant = await client.post(AUTH + "/refresh", json={"refresh_token": second["refresh_token"]})
        assert descendant.status_code == 401
        assert descendant.json()["code"] == "SESSION_REVOKED"
        me = await client.get(AUTH + "/me", headers=bearer(second))
        assert me.json()["code"] == "SESSION_REVOKED"


async def test_unknown_refresh_token(client) -> None:
    response = await client.post(AUTH + "/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401
    assert response.json()["code"] == "REFRESH_TOKEN_INVALID"


async def test_expired_refresh_token(client, db) -> None:
    auth = await sign_up(client)
    await db.execute("update refresh_tokens set expires_at = now() - interval '1 second'")
    response = await client.post(AUTH + "/refresh", json={"refresh_token": auth["refresh_token"]})
    assert response.json()["code"] == "REFRESH_TOKEN_EXPIRED"


async def test_signout_ends_the_session_at_once(client) -> None:
    auth = await sign_up(client)
    out = await client.post(AUTH + "/signout", headers=bearer(auth))
    assert out.status_code == 204
    assert (await client.get(AUTH + "/me", headers=bearer(auth))).json()["code"] == "SESSION_REVOKED"
    refresh = await client.post(AUTH + "/refresh", json={"refresh_token": auth["refresh_token"]})
    assert refresh.status_code == 401


async def test_signout_with_another_own_refresh_token_ends_that_session_too(client) -> None:
    email_auth = await sign_up(client)
    email = email_auth["user"]["email"]
    other = (
        await client.post(AUTH + "/signin", json={"email": email, "password": "correct horse battery staple"})
    ).json()
    out = await client.post(
        AUTH + "/signout", headers=bearer(email_auth), json={"refresh_token": other["refresh_token"]}
    )
    assert out.status_code == 204
    assert (await client.get(AUTH + "/me", headers=bearer(other))).status_code == 401


async def test_signout_cannot_end_someone_elses_session(client) -> None:
    mine = await sign_up(client)
    theirs = await sign_up(client)
    await client.post(AUTH + "/signout", headers=bearer(mine), json={"refresh_token": theirs["refresh_token"]})
    assert (await client.get(AUTH + "/me", headers=bearer(theirs))).status_code == 200


async def test_expired_access_token_is_token_expired(client, settings) -> None:
    auth = await sign_up(client)
    validator = AccessTokenValidator(settings.jwt)
    claims = validator.validate(auth["access_token"])
    old = validator.issue(claims.user_id, claims.session_id, now=time.time() - 3600)
    response = await client.get(AUTH + "/me", headers={"Authorization": f"Bearer {old}"})
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_EXPIRED"


async def test_tokens_signed_by_the_previous_key_stay_valid_after_rotation(database_url, client) -> None:
    auth = await sign_up(client)
    old_key = JwtSettings(secret="a" * 40, key_id="old")
    rotated = JwtSettings(secret="b" * 40, key_id="new", previous_secret="a" * 40, previous_key_id="old")
    claims = AccessTokenValidator(make_settings(database_url).jwt).validate(auth["access_token"])
    token_from_old_key = AccessTokenValidator(old_key).issue(claims.user_id, claims.session_id)
    rotated_app = create_app(msgspec.structs.replace(make_settings(database_url), jwt=rotated))
    async with AsyncTestClient(app=rotated_app) as rotated_client:
        ok = await rotated_client.get(AUTH + "/me", headers={"Authorization": f"Bearer {token_from_old_key}"})
        assert ok.status_code == 200
        # The original dev key is unknown to the rotated app.
        unknown = await rotated_client.get(AUTH + "/me", headers=bearer(auth))
        assert unknown.json()["code"] == "TOKEN_INVALID"
