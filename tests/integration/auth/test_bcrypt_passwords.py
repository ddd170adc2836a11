"""Imported Supabase (bcrypt) password hashes: accepted at every password check, replaced by argon2id once."""

from __future__ import annotations

import asyncpg
import bcrypt
import pytest

from tests.support import PASSWORD, bearer, new_email, sign_up

AUTH = "/api/v1/auth"


def _bcrypt(password: str, prefix: str = "$2b$", rounds: int = 4) -> str:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    return prefix + hashed[4:]


async def _account_with_hash(client, db: asyncpg.Connection, password_hash: str) -> tuple[str, dict]:
    email = new_email()
    account = await sign_up(client, email=email)
    await db.execute("update users set password_hash = $1 where lower(email) = $2", password_hash, email)
    return email, account


async def _stored_hash(db: asyncpg.Connection, email: str) -> str:
    value: str = await db.fetchval("select password_hash from users where lower(email) = $1", email)
    return value


async def _signin(client, email: str, password: str) -> int:
    response = await client.post(AUTH + "/signin", json={"email": email, "password": password})
    return int(response.status_code)


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
async def test_bcrypt_hash_signs_in_and_is_replaced_by_argon2id_once(client, db: asyncpg.Connection, prefix) -> None:
    imported = _bcrypt(PASSWORD, prefix, rounds=10)  # Supabase Auth's cost
    email, _ = await _account_with_hash(client, db, imported)

    assert await _signin(client, email, "not the password") == 401
    assert await _stored_hash(db, email) == imported  # a failed attempt changes nothing

    assert await _signin(client, email, PASSWORD) == 200
    upgraded = await _stored_hash(db, email)
    assert upgraded.startswith("$argon2id$")

    assert await _signin(client, email, PASSWORD) == 200
    assert await _stored_hash(db, email) == upgraded  # already argon2id: not hashed again
    assert await _signin(client, email, "not the password") == 401


async def test_bcrypt_compares_only_the_first_72_bytes_like_the_old_backend(client, db: asyncpg.Connection) -> None:
    long_password = "k" * 72
    email, _ = await _account_with_hash(client, db, _bcrypt(long_password))
    assert await _signin(client, email, long_password[:71]) == 401
    assert await _signin(client, email, long_password + "extra") == 200


@pytest.mark.parametrize(
    "malformed",
    [
        "$2b$10$short",
        "$2b$99$" + "a" * 53,
        "$2b$10$" + "!" * 53,
        "$2b$",
        "$2y$10$ünïcödé" + "a" * 46,
    ],
)
async def test_malformed_bcrypt_hash_is_a_plain_401(client, db: asyncpg.Connection, malformed: str) -> None:
    email, _ = await _account_with_hash(client, db, malformed)
    response = await client.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_CREDENTIALS")
    assert await _stored_hash(db, email) == malformed


async def test_change_password_accepts_the_bcrypt_hash_as_current(client, db: asyncpg.Connection) -> None:
    email, account = await _account_with_hash(client, db, _bcrypt(PASSWORD))
    wrong = await client.post(
        AUTH + "/change-password",
        headers=bearer(account),
        json={"current_password": "not the password", "new_password": "a fresh kitchen passphrase"},
    )
    assert wrong.status_code == 401
    right = await client.post(
        AUTH + "/change-password",
        headers=bearer(account),
        json={"current_password": PASSWORD, "new_password": "a fresh kitchen passphrase"},
    )
    assert right.status_code == 204, right.text
    assert (await _stored_hash(db, email)).startswith("$argon2id$")
    assert await _signin(client, email, "a fresh kitchen passphrase") == 200


async def test_account_deletion_accepts_the_bcrypt_hash(client, db: asyncpg.Connection) -> None:
    email, account = await _account_with_hash(client, db, _bcrypt(PASSWORD))
    wrong = await client.request(
        "DELETE", AUTH + "/account", headers=bearer(account), json={"confirm_password": "not the password"}
    )
    assert wrong.status_code == 401
    right = await client.request(
        "DELETE", AUTH + "/account", headers=bearer(account), json={"confirm_password": PASSWORD}
    )
    assert right.status_code in (200, 204), right.text
    assert await db.fetchval("select count(*) from users where lower(email) = $1", email) == 0
