"""POST /auth/google: Google ID tokens from the loopback fake (tests/fakes/google.py: Google's certs document, real
RS256 with keys generated in the test), the binding rules, the refusals (each a 401 with nothing written), the
certificates' cache and the rate limit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import jwt
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.server import create_app
from app.settings import GoogleSettings, OutboundSettings, RateLimitSettings
from tests.conftest import make_settings
from tests.fakes.google import FakeGoogle, fake_google
from tests.support import PASSWORD, bearer, new_email, sign_up, sign_up_verified

GOOGLE = "/api/v1/auth/google"
CLIENT_ID = "1234567890-android.apps.googleusercontent.com"
OTHER_CLIENT_ID = "1234567890-ios.apps.googleusercontent.com"
FAST_RETRIES = OutboundSettings(retry_attempts=2, retry_initial_seconds=0.01, retry_max_seconds=0.05)


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGoogle]:
    with fake_google() as fake:
        yield fake


def _settings(database_url: str, google: FakeGoogle, **overrides: object):
    google_settings = GoogleSettings(oidc_certs_url=google.certs_url, signin_client_ids=(CLIENT_ID, OTHER_CLIENT_ID))
    return make_settings(database_url, google=google_settings, outbound=FAST_RETRIES, **overrides)


@pytest.fixture
async def client(google: FakeGoogle, database_url: str) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(_settings(database_url, google))) as test_client:
        yield test_client


def _subject() -> str:
    return str(uuid.uuid4().int)[:21]


async def _written(db: asyncpg.Connection) -> tuple[int, int, int]:
    return (
        await db.fetchval("select count(*) from users"),
        await db.fetchval("select count(*) from user_identities"),
        await db.fetchval("select count(*) from sessions"),
    )


async def test_a_new_google_identity_creates_an_account_without_a_password(
    client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    email, subject = new_email(), _subject()
    token = google.signin_token(audience=CLIENT_ID, subject=subject, email=email, name="Grace Hopper")
    created = await client.post(GOOGLE, json={"id_token": token})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["user"]["email"] == email and body["user"]["name"] == "Grace Hopper"
    assert body["user"]["email_verified"] is True
    assert body["token_type"] == "Bearer" and body["refresh_token"]
    methods = (await client.get("/api/v1/auth/identities", headers=bearer(body))).json()
    assert methods["password"] is False
    assert [(i["provider"], i["email"]) for i in methods["identities"]] == [("google", email)]
    assert await db.fetchval("select subject from user_identities") == subject
    # The same identity again (from the other app's client id): the same account, 200.
    again = await client.post(
        GOOGLE, json={"id_token": google.signin_token(audience=OTHER_CLIENT_ID, subject=subject, email=email)}
    )
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == body["user"]["id"]
    assert await db.fetchval("select count(*) from users") == 1
    assert await db.fetchval("select last_sign_in_at is not null from user_identities")
    # No password exists to sign in with.
    refused = await client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})
    assert refused.status_code == 401


async def test_a_verified_email_links_to_the_verified_account_using_it(
    client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    email = new_email()
    account = await sign_up_verified(client, db, email)
    token = google.signin_token(audience=CLIENT_ID, subject=_subject(), email=email.upper())
    linked = await client.post(GOOGLE, json={"id_token": token})
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["id"] == account["user"]["id"]
    methods = (await client.get("/api/v1/auth/identities", headers=bearer(linked.json()))).json()
    assert methods["password"] is True and [i["provider"] for i in methods["identities"]] == ["google"]
    assert (await client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})).status_code == 200


async def test_an_account_whose_email_was_never_verified_is_not_taken_over(
    client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    email = new_email()
    await sign_up(client, email=email)  # email_verified stays false
    before = await _written(db)
    token = google.signin_token(audience=CLIENT_ID, subject=_subject(), email=email)
    refused = await client.post(GOOGLE, json={"id_token": token})
    assert (refused.status_code, refused.json()["code"]) == (409, "ACCOUNT_EMAIL_UNVERIFIED")
    assert await _written(db) == before


async def test_an_email_google_does_not_vouch_for_never_links(
    client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    email = new_email()
    await sign_up_verified(client, db, email)
    before = await _written(db)
    for verified in (False, "false"):
        token = google.signin_token(audience=CLIENT_ID, subject=_subject(), email=email, email_verified=verified)
        refused = await client.post(GOOGLE, json={"id_token": token})
        assert (refused.status_code, refused.json()["code"]) == (409, "EMAIL_TAKEN")
    assert await _written(db) == before


async def test_an_unverified_google_email_makes_an_unverified_account_and_sends_a_link(
    client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    email = new_email()
    token = google.signin_token(audience=CLIENT_ID, subject=_subject(), email=email, email_verified="false")
    created = await client.post(GOOGLE, json={"id_token": token})
    assert created.status_code == 201, created.text
    assert created.json()["user"]["email_verified"] is False
    assert await db.fetchval("select count(*) from email_outbox where kind = 'verify_email'") == 1
    # String "true" is a verified email.
    other = google.signin_token(audience=CLIENT_ID, subject=_subject(), email=new_email(), email_verified="true")
    assert (await client.post(GOOGLE, json={"id_token": other})).json()["user"]["email_verified"] is True


async def test_a_token_without_an_email_cannot_make_an_account(
    client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    refused = await client.post(GOOGLE, json={"id_token": google.signin_token(audience=CLIENT_ID, subject=_subject())})
    assert (refused.status_code, refused.json()["code"]) == (422, "PROVIDER_EMAIL_MISSING")
    assert await _written(db) == (0, 0, 0)


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tampered(token: str) -> str:
    header, payload, signature = _segments(token)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    return ".".join([header, _b64(claims), signature])


def _unsigned(google: FakeGoogle, claims_from: str) -> str:
    payload = _segments(claims_from)[1]
    return ".".join([_b64({"alg": "none", "kid": google.oidc_kid, "typ": "JWT"}), payload, ""])


def _hs256_with_the_certificate(google: FakeGoogle, email: str) -> str:
    """The classic confusion: the public certificate used as an HMAC secret."""
    certificate = google._oidc_certificate  # the published certificate, as anyone can fetch it
    claims = jwt.decode(
        google.signin_token(audience=CLIENT_ID, subject="x", email=email), options={"verify_signature": False}
    )
    header = _b64({"alg": "HS256", "kid": google.oidc_kid, "typ": "JWT"})
    body = _b64(claims)
    mac = hmac.new(certificate.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


async def test_bad_tokens_are_refused_with_401_and_nothing_is_written(
    client, google: FakeGoogle, db: asyncpg.Connection
) -> None:
    email = new_email()
    good = google.signin_token(audience=CLIENT_ID, subject=_subject(), email=email)
    cases = {
        "expired": (google.signin_token(audience=CLIENT_ID, subject="1", email=email, expires_in=-600), "EXPIRED"),
        "wrong audience": (google.signin_token(audience="someone-elses-app", subject="1", email=email), "INVALID"),
        "wrong issuer": (
            google.signin_token(audience=CLIENT_ID, subject="1", email=email, issuer="https://evil.example"),
            "INVALID",
        ),
        "forged key": (google.signin_token(audience=CLIENT_ID, subject="1", email=email, signer="stranger"), "INVALID"),
        "tampered payload": (_tampered(good), "INVALID"),
        "alg none": (_unsigned(google, good), "INVALID"),
        "HS256 with the certificate": (_hs256_with_the_certificate(google, email), "INVALID"),
        "not a JWT": ("not-a-jwt", "INVALID"),
        "three garbage parts": ("a.b.c", "INVALID"),
        "empty parts": ("..", "INVALID"),
    }
    for name, (token, reason) in cases.items():
        response = await client.post(GOOGLE, json={"id_token": token})
        assert (response.status_code, response.json()["code"]) == (401, f"GOOGLE_TOKEN_{reason}"), name
    assert await _written(db) == (0, 0, 0)


async def test_malformed_requests_get_the_error_envelope(client, db: asyncpg.Connection) -> None:
    huge = await client.post(GOOGLE, json={"id_token": "a" * 100_000})
    assert huge.status_code == 422 and huge.json()["code"] and huge.json()["request_id"]
    not_json = await client.post(GOOGLE, content=b"{not json", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["code"]
    wrong_type = await client.post(GOOGLE, json={"id_token": 12})
    assert wrong_type.status_code == 422
    unknown = await client.post(GOOGLE, json={"id_token": "x", "admin": True})
    assert unknown.status_code == 422
    assert await _written(db) == (0, 0, 0)


async def test_certificates_are_cached_and_refetched_for_an_unknown_kid(client, google: FakeGoogle) -> None:
    before = google.certs_fetches()
    for _ in range(3):
        token = google.signin_token(audience=CLIENT_ID, subject=_subject(), email=new_email())
        assert (await client.post(GOOGLE, json={"id_token": token})).status_code == 201
    assert google.certs_fetches() - before <= 1  # fetched once by this app at most (max-age 6 hours)
    fetched = google.certs_fetches()
    unknown = jwt.encode({"sub": "1"}, google._oidc_key, algorithm="RS256", headers={"kid": "rotated-kid"})
    assert (await client.post(GOOGLE, json={"id_token": unknown})).status_code == 401
    assert google.certs_fetches() == fetched + 1  # one refetch for the unknown key id
    assert (await client.post(GOOGLE, json={"id_token": unknown})).status_code == 401
    assert google.certs_fetches() == fetched + 1  # not again within the cooldown


async def test_google_sign_in_is_off_without_client_ids(google: FakeGoogle, database_url: str) -> None:
    settings = make_settings(database_url, google=GoogleSettings(oidc_certs_url=google.certs_url))
    async with AsyncTestClient(app=create_app(settings)) as client:
        token = google.signin_token(audience=CLIENT_ID, subject="1", email=new_email())
        response = await client.post(GOOGLE, json={"id_token": token})
    assert (response.status_code, response.json()["code"]) == (503, "GOOGLE_SIGNIN_UNCONFIGURED")


async def test_google_sign_in_is_rate_limited_per_address(google: FakeGoogle, database_url: str) -> None:
    limits = RateLimitSettings(per_account=1000, per_address=3, emails_per_account=1000)
    settings = msgspec.structs.replace(_settings(database_url, google), ratelimit=limits)
    async with AsyncTestClient(app=create_app(settings)) as client:
        statuses = [(await client.post(GOOGLE, json={"id_token": "bad"})).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


async def test_google_sign_in_is_rate_limited_per_google_account(google: FakeGoogle, database_url: str) -> None:
    limits = RateLimitSettings(per_account=2, per_address=1000, emails_per_account=1000)
    settings = msgspec.structs.replace(_settings(database_url, google), ratelimit=limits)
    subject, email = _subject(), new_email()
    async with AsyncTestClient(app=create_app(settings)) as client:
        statuses = [
            (
                await client.post(
                    GOOGLE, json={"id_token": google.signin_token(audience=CLIENT_ID, subject=subject, email=email)}
                )
            ).status_code
            for _ in range(3)
        ]
    assert statuses == [201, 200, 429]
