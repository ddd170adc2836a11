"""DELETE /auth/account proved with a fresh Apple or Google sign-in instead of a password (accounts made through
Apple or Google have none): tokens from the loopback fakes (tests/fakes/apple_id.py, tests/fakes/google.py: real
RS256, keys made in the test), verified as at sign-in, recent, of an identity linked to the caller's account. Every
refusal leaves the account whole."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.auth.apple_signin import nonce_digest
from app.server import create_app
from app.settings import AppleSettings, GoogleSettings, OutboundSettings, RateLimitSettings, Settings
from tests.conftest import make_settings
from tests.fakes.apple_id import FakeAppleId, fake_apple_id
from tests.fakes.google import FakeGoogle, fake_google
from tests.support import PASSWORD, bearer, new_email, sign_up_verified

Client = AsyncTestClient[Litestar]
AUTH = "/api/v1/auth"
BUNDLE_ID = "app.cookcam.ios"
GOOGLE_CLIENT_ID = "1234567890-android.apps.googleusercontent.com"
FAST_RETRIES = OutboundSettings(retry_attempts=2, retry_initial_seconds=0.01, retry_max_seconds=0.05)


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGoogle]:
    with fake_google() as fake:
        yield fake


@pytest.fixture(scope="module")
def apple() -> Iterator[FakeAppleId]:
    with fake_apple_id() as fake:
        yield fake


def _settings(database_url: str, apple: FakeAppleId, google: FakeGoogle, **overrides: object) -> Settings:
    return make_settings(
        database_url,
        apple=AppleSettings(bundle_id=BUNDLE_ID, signin_keys_url=apple.keys_url),
        google=GoogleSettings(oidc_certs_url=google.certs_url, signin_client_ids=(GOOGLE_CLIENT_ID,)),
        outbound=FAST_RETRIES,
        **overrides,
    )


@pytest.fixture
async def client(apple: FakeAppleId, google: FakeGoogle, database_url: str) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(_settings(database_url, apple, google))) as test_client:
        yield test_client


def _subject() -> str:
    return str(uuid.uuid4().int)[:21]


async def _google_account(client: Client, google: FakeGoogle) -> tuple[dict[str, Any], str]:
    """A new account made by signing in with Google (no password), and its Google subject."""
    subject = _subject()
    token = google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject, email=new_email())
    created = await client.post(AUTH + "/google", json={"id_token": token})
    assert created.status_code == 201, created.text
    return created.json(), subject


async def _apple_account(client: Client, apple: FakeAppleId) -> tuple[dict[str, Any], str]:
    subject = f"000123.{uuid.uuid4().hex}.0042"
    token = apple.identity_token(audience=BUNDLE_ID, subject=subject, email=new_email())
    created = await client.post(AUTH + "/apple", json={"identity_token": token})
    assert created.status_code == 201, created.text
    return created.json(), subject


async def _delete(client: Client, auth: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return await client.request("DELETE", AUTH + "/account", headers=bearer(auth), json=body)


async def _exists(db: asyncpg.Connection, auth: dict[str, Any]) -> bool:
    return bool(await db.fetchval("select exists (select from users where id = $1::uuid)", auth["user"]["id"]))


async def _owned(db: asyncpg.Connection, auth: dict[str, Any]) -> tuple[int, int]:
    user_id = auth["user"]["id"]
    return (
        await db.fetchval("select count(*) from user_identities where user_id = $1::uuid", user_id),
        await db.fetchval("select count(*) from sessions where user_id = $1::uuid", user_id),
    )


async def test_a_fresh_google_token_of_the_account_deletes_it(
    client: Client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    auth, subject = await _google_account(client, google)
    token = google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject)
    deleted = await _delete(client, auth, {"id_token": token})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted_at"]
    assert not await _exists(db, auth)
    assert await _owned(db, auth) == (0, 0)


async def test_a_fresh_apple_token_with_its_nonce_deletes_the_account(
    client: Client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    auth, subject = await _apple_account(client, apple)
    token = apple.identity_token(audience=BUNDLE_ID, subject=subject, nonce=nonce_digest("deletion nonce"))
    wrong_nonce = await _delete(client, auth, {"identity_token": token, "nonce": "another nonce"})
    assert (wrong_nonce.status_code, wrong_nonce.json()["code"]) == (401, "APPLE_NONCE_MISMATCH")
    assert await _exists(db, auth)
    deleted = await _delete(client, auth, {"identity_token": token, "nonce": "deletion nonce"})
    assert deleted.status_code == 200, deleted.text
    assert not await _exists(db, auth)


async def test_another_accounts_token_deletes_nothing(
    client: Client, apple: FakeAppleId, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    victim, _ = await _google_account(client, google)
    _, other_google = await _google_account(client, google)
    _, other_apple = await _apple_account(client, apple)
    before = await _owned(db, victim)
    for body in (
        {"id_token": google.signin_token(audience=GOOGLE_CLIENT_ID, subject=other_google)},
        {"identity_token": apple.identity_token(audience=BUNDLE_ID, subject=other_apple)},
        {"id_token": google.signin_token(audience=GOOGLE_CLIENT_ID, subject=_subject())},  # linked to nobody
    ):
        refused = await _delete(client, victim, body)
        assert (refused.status_code, refused.json()["code"]) == (403, "IDENTITY_NOT_LINKED"), refused.text
    assert await _exists(db, victim) and await _owned(db, victim) == before
    assert await db.fetchval("select count(*) from users") == 3


async def test_expired_tampered_stale_and_foreign_tokens_are_refused(
    client: Client, apple: FakeAppleId, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    auth, subject = await _google_account(client, google)
    now = int(time.time())
    cases = [
        (google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject, expires_in=-600), "GOOGLE_TOKEN_EXPIRED"),
        (google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject, signer="stranger"), "GOOGLE_TOKEN_INVALID"),
        (
            google.signin_token(audience="someone-else.apps.googleusercontent.com", subject=subject),
            "GOOGLE_TOKEN_INVALID",
        ),
        (
            google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject, issuer="https://evil.example"),
            "GOOGLE_TOKEN_INVALID",
        ),
        # Valid and unexpired, but signed in twenty minutes ago: not a fresh sign-in.
        (google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject, iat=now - 1200), "REAUTHENTICATION_TOO_OLD"),
    ]
    genuine = google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject)
    head, payload, signature = genuine.split(".")
    cases.append((f"{head}.{payload}.{signature[:-4]}AAAA", "GOOGLE_TOKEN_INVALID"))
    for token, code in cases:
        refused = await _delete(client, auth, {"id_token": token})
        assert (refused.status_code, refused.json()["code"]) == (401, code), refused.text
    assert await _exists(db, auth)

    apple_auth, apple_subject = await _apple_account(client, apple)
    for token, code in (
        (apple.identity_token(audience=BUNDLE_ID, subject=apple_subject, expires_in=-120), "APPLE_TOKEN_EXPIRED"),
        (apple.identity_token(audience="app.someone.else", subject=apple_subject), "APPLE_TOKEN_INVALID"),
        (apple.identity_token(audience=BUNDLE_ID, subject=apple_subject, signer="stranger"), "APPLE_TOKEN_INVALID"),
        (apple.identity_token(audience=BUNDLE_ID, subject=apple_subject, iat=now - 480), "REAUTHENTICATION_TOO_OLD"),
    ):
        refused = await _delete(client, apple_auth, {"identity_token": token})
        assert (refused.status_code, refused.json()["code"]) == (401, code), refused.text
    assert await _exists(db, apple_auth)


async def test_a_provider_token_is_not_a_password_and_a_password_is_not_a_token(
    client: Client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    auth, subject = await _google_account(client, google)
    no_password = await _delete(client, auth, {"confirm_password": PASSWORD})
    assert (no_password.status_code, no_password.json()["code"]) == (409, "PASSWORD_NOT_SET")
    assert "identity_token" in no_password.json()["message"]
    token = google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject)
    for body in (
        {},
        {"confirm_password": PASSWORD, "id_token": token},
        {"identity_token": token, "id_token": token},
        {"id_token": token, "nonce": "a nonce only Apple's token can carry"},
    ):
        refused = await _delete(client, auth, body)
        assert (refused.status_code, refused.json()["code"]) == (422, "PROOF_REQUIRED"), body
    unknown = await _delete(client, auth, {"id_token": token, "password": PASSWORD})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "VALIDATION_ERROR")
    assert await _exists(db, auth)


async def test_an_account_with_a_password_may_use_its_linked_identity(
    client: Client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    """A linked identity signs the account in as its password does, so either proves ownership; a password
    account keeps deleting with its password, and a token of an identity it never linked proves nothing."""
    email = new_email()
    auth = await sign_up_verified(client, db, email)
    unlinked = google.signin_token(audience=GOOGLE_CLIENT_ID, subject=_subject(), email=email)
    refused = await _delete(client, auth, {"id_token": unlinked})
    assert (refused.status_code, refused.json()["code"]) == (403, "IDENTITY_NOT_LINKED")
    subject = _subject()
    linked = await client.post(
        AUTH + "/google",
        json={"id_token": google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject, email=email)},
    )
    assert linked.status_code == 200 and linked.json()["user"]["id"] == auth["user"]["id"]
    wrong = await _delete(client, auth, {"confirm_password": "not the password"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "INVALID_PASSWORD")
    deleted = await _delete(client, auth, {"id_token": google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject)})
    assert deleted.status_code == 200, deleted.text
    assert not await _exists(db, auth)


async def test_deletion_proofs_are_limited_per_account(
    apple: FakeAppleId, google: FakeGoogle, database_url: str, db: asyncpg.Connection
) -> None:
    limits = RateLimitSettings(per_account=3, per_address=1000, emails_per_account=1000)
    async with AsyncTestClient(app=create_app(_settings(database_url, apple, google, ratelimit=limits))) as client:
        auth, subject = await _google_account(client, google)
        stale = google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject, expires_in=-600)
        for _ in range(3):
            assert (await _delete(client, auth, {"id_token": stale})).status_code == 401
        wrong_password = await _delete(client, auth, {"confirm_password": "guess"})
        assert (wrong_password.status_code, wrong_password.json()["code"]) == (429, "RATE_LIMITED")
        fresh = await _delete(
            client, auth, {"id_token": google.signin_token(audience=GOOGLE_CLIENT_ID, subject=subject)}
        )
        assert fresh.status_code == 429
        assert await _exists(db, auth)
