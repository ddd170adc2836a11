"""POST /auth/change-password (the other sessions end, a notice is queued) and POST /auth/signout-all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.server import create_app
from tests.conftest import make_settings
from tests.support import PASSWORD, bearer, new_email, sign_up

AUTH = "/api/v1/auth"
NEW_PASSWORD = "a new kitchen passphrase"


class Events:
    """The real-time events published through pg_notify, as a LISTENing worker would receive them."""

    def __init__(self) -> None:
        self.received: list[dict] = []

    def __call__(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.received.append(json.loads(payload))

    async def revoked_sessions(self, count: int) -> set[str]:
        for _ in range(50):
            found = {e["event"]["data"]["session_id"] for e in self.received if e["event"]["type"] == "session.revoked"}
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        return found


@pytest.fixture
async def events(database_url: str) -> AsyncIterator[Events]:
    conn = await asyncpg.connect(database_url)
    listener = Events()
    await conn.add_listener("cookcam_events", listener)
    try:
        yield listener
    finally:
        await conn.close()


async def _second_session(client, email: str, password: str = PASSWORD) -> dict:
    response = await client.post(AUTH + "/signin", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


async def _session_ids(db: asyncpg.Connection, user_id: str) -> dict[str, str | None]:
    rows = await db.fetch("select id, revoked_reason from sessions where user_id = $1::uuid", user_id)
    return {str(row["id"]): row["revoked_reason"] for row in rows}


async def test_change_password_keeps_this_session_ends_the_others_and_queues_a_notice(
    client, db: asyncpg.Connection, events: Events
) -> None:
    email = new_email()
    first = await sign_up(client, email=email, name="Ada")
    second = await _second_session(client, email)
    third = await _second_session(client, email)
    response = await client.post(
        AUTH + "/change-password",
        headers=bearer(first),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204, response.text
    assert (await client.get(AUTH + "/me", headers=bearer(first))).status_code == 200
    for other in (second, third):
        gone = await client.get(AUTH + "/me", headers=bearer(other))
        assert (gone.status_code, gone.json()["code"]) == (401, "SESSION_REVOKED")
        refreshed = await client.post(AUTH + "/refresh", json={"refresh_token": other["refresh_token"]})
        assert refreshed.status_code == 401
    sessions = await _session_ids(db, first["user"]["id"])
    assert sorted(sessions.values(), key=str) == sorted([None, "password_change", "password_change"], key=str)
    ended = {sid for sid, reason in sessions.items() if reason}
    assert await events.revoked_sessions(2) == ended
    old = await client.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    assert (await client.post(AUTH + "/signin", json={"email": email, "password": NEW_PASSWORD})).status_code == 200
    notice = await db.fetchrow(
        "select kind, recipient, subject, text_body, user_id from email_outbox where kind <> 'verify_email'"
    )
    assert notice["kind"] == "password_changed"
    assert notice["recipient"] == email
    assert str(notice["user_id"]) == first["user"]["id"]
    assert notice["subject"] == "Your CookCam password was changed"
    assert "Hello Ada," in notice["text_body"]
    assert NEW_PASSWORD not in notice["text_body"]


async def test_a_wrong_current_password_changes_nothing(client, db: asyncpg.Connection) -> None:
    email = new_email()
    auth = await sign_up(client, email=email)
    other = await _second_session(client, email)
    response = await client.post(
        AUTH + "/change-password",
        headers=bearer(auth),
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_PASSWORD"
    assert (await client.get(AUTH + "/me", headers=bearer(other))).status_code == 200
    assert (await client.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})).status_code == 200
    assert await db.fetchval("select count(*) from email_outbox where kind <> 'verify_email'") == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"current_password": PASSWORD, "new_password": "password123"}, "PASSWORD_TOO_COMMON"),
        ({"current_password": PASSWORD, "new_password": "short"}, "VALIDATION_ERROR"),
        ({"current_password": PASSWORD, "new_password": "x" * 129}, "VALIDATION_ERROR"),
        ({"current_password": PASSWORD}, "VALIDATION_ERROR"),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "admin": True}, "VALIDATION_ERROR"),
    ],
)
async def test_bad_new_passwords_and_bodies_are_refused(client, db: asyncpg.Connection, body: dict, code: str) -> None:
    auth = await sign_up(client)
    response = await client.post(AUTH + "/change-password", headers=bearer(auth), json=body)
    assert response.status_code in (400, 422), response.text
    assert response.json()["code"] == code
    assert await db.fetchval("select count(*) from email_outbox where kind <> 'verify_email'") == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/change-password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ("/signout-all", None),
        ("/resend-verification", None),
        ("/change-email", {"new_email": "someone@example.com", "password": PASSWORD}),
    ],
)
async def test_the_account_routes_need_a_caller(client, path: str, body: dict | None) -> None:
    response = await client.post(AUTH + path, json=body)
    assert (response.status_code, response.json()["code"]) == (401, "UNAUTHENTICATED")
    forged = await client.post(AUTH + path, json=body, headers={"Authorization": "Bearer not.a.token"})
    assert (forged.status_code, forged.json()["code"]) == (401, "TOKEN_INVALID")


async def test_change_password_is_limited_per_account(database_url: str) -> None:
    settings = make_settings(database_url)
    limited = msgspec.structs.replace(settings, ratelimit=msgspec.structs.replace(settings.ratelimit, per_account=2))
    async with AsyncTestClient(app=create_app(limited)) as client:
        auth = await sign_up(client)
        wrong = {"current_password": "guess one", "new_password": NEW_PASSWORD}
        codes = [(await client.post(AUTH + "/change-password", headers=bearer(auth), json=wrong)).status_code]
        codes.append((await client.post(AUTH + "/change-password", headers=bearer(auth), json=wrong)).status_code)
        right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        blocked = await client.post(AUTH + "/change-password", headers=bearer(auth), json=right)
    assert codes == [401, 401]
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "RATE_LIMITED"
    assert int(blocked.headers["retry-after"]) > 0


async def test_signout_all_ends_every_session_including_this_one(client, db: asyncpg.Connection, events) -> None:
    email = new_email()
    first = await sign_up(client, email=email)
    second = await _second_session(client, email)
    someone_else = await sign_up(client)
    response = await client.post(AUTH + "/signout-all", headers=bearer(first))
    assert response.status_code == 204
    for auth in (first, second):
        gone = await client.get(AUTH + "/me", headers=bearer(auth))
        assert (gone.status_code, gone.json()["code"]) == (401, "SESSION_REVOKED")
        assert (await client.post(AUTH + "/refresh", json={"refresh_token": auth["refresh_token"]})).status_code == 401
    sessions = await _session_ids(db, first["user"]["id"])
    assert set(sessions.values()) == {"signout_all"}
    assert await events.revoked_sessions(2) == set(sessions)
    assert (await client.get(AUTH + "/me", headers=bearer(someone_else))).status_code == 200
    # Signed out: the same token cannot do it again.
    again = await client.post(AUTH + "/signout-all", headers=bearer(first))
    assert again.status_code == 401
