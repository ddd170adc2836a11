"""Sign-up applies the password policy: a common password is refused with PASSWORD_TOO_COMMON, a short one with
the schema's 422, and nothing is created either way."""

from __future__ import annotations

import asyncpg

from tests.support import new_email

SIGNUP = "/api/v1/auth/signup"


async def test_signup_refuses_a_common_password(client, db: asyncpg.Connection) -> None:
    email = new_email()
    response = await client.post(SIGNUP, json={"email": email, "password": "Password1", "name": "Ada"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "PASSWORD_TOO_COMMON"
    assert "common" in body["message"]
    assert await db.fetchval("select count(*) from users where email = $1", email) == 0


async def test_signup_refuses_a_short_password_by_the_same_rule(client) -> None:
    response = await client.post(SIGNUP, json={"email": new_email(), "password": "Ab3$xyz", "name": "Ada"})
    assert response.status_code == 422
    assert "password" in response.text
