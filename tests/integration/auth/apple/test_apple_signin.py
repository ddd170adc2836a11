"""POST /auth/apple: identity tokens from the loopback JWKS fake (tests/fakes/apple_id.py, keys generated in the
test, real RS256), the binding rules (private relay addresses never link), the nonce, the refusals (each a clear
401, nothing written), the JWKS cache and its refetch on an unknown kid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid

import asyncpg
import pytest

from tests.fakes.apple_id import FakeAppleId
from tests.integration.auth.apple.accounts import BUNDLE_ID, SERVICE_ID, written
from tests.support import PASSWORD, bearer, new_email, sign_up, sign_up_verified

APPLE = "/api/v1/auth/apple"


def _subject() -> str:
    return f"001234.{uuid.uuid4().hex}.0123"


async def test_first_sign_in_creates_an_account_named_by_the_app_then_signs_in(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    email, subject = new_email(), _subject()
    token = apple.identity_token(audience=BUNDLE_ID, subject=subject, email=email, email_verified="true")
    created = await client.post(APPLE, json={"identity_token": token, "name": "Ada Lovelace"})
    assert created.status_code == 201, created.text
    user = created.json()["user"]
    assert (user["email"], user["name"], user["email_verified"]) == (email, "Ada Lovelace", True)
    # Later sign-ins carry no email and no name (Apple sends them once): the same account, its name kept.
    later = apple.identity_token(audience=SERVICE_ID, subject=subject)
    again = await client.post(APPLE, json={"identity_token": later, "name": "Someone Else"})
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == user["id"] and again.json()["user"]["name"] == "Ada Lovelace"
    assert await db.fetchval("select email from user_identities") == email
    methods = (await client.get("/api/v1/auth/identities", headers=bearer(again.json()))).json()
    assert methods["password"] is False and [i["provider"] for i in methods["identities"]] == ["apple"]


async def test_boolean_and_string_claims_are_both_understood(client, apple: FakeAppleId) -> None:
    for verified, expected in ((True, True), ("true", True), (False, False), ("false", False)):
        token = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=new_email(), email_verified=verified)
        response = await client.post(APPLE, json={"identity_token": token})
        assert response.status_code == 201, response.text
        assert response.json()["user"]["email_verified"] is expected


async def test_a_verified_email_links_to_the_verified_account(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    email = new_email()
    account = await sign_up_verified(client, db, email)
    token = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=email, is_private_email="false")
    linked = await client.post(APPLE, json={"identity_token": token})
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["id"] == account["user"]["id"]
    assert await db.fetchval("select count(*) from user_identities") == 1


async def test_an_unverified_account_is_not_taken_over(client, apple: FakeAppleId, db: asyncpg.Connection) -> None:
    email = new_email()
    await sign_up(client, email=email)
    before = await written(db)
    token = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=email)
    refused = await client.post(APPLE, json={"identity_token": token})
    assert (refused.status_code, refused.json()["code"]) == (409, "ACCOUNT_EMAIL_UNVERIFIED")
    assert await written(db) == before


async def test_private_relay_addresses_never_link_by_email(client, apple: FakeAppleId, db: asyncpg.Connection) -> None:
    relay = f"{uuid.uuid4().hex[:10]}@privaterelay.appleid.com"
    await sign_up_verified(client, db, relay)
    before = await written(db)
    for private in ("true", True, None):  # flagged, or recognised by its domain alone
        token = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=relay, is_private_email=private)
        refused = await client.post(APPLE, json={"identity_token": token})
        assert (refused.status_code, refused.json()["code"]) == (409, "EMAIL_TAKEN")
    assert await written(db) == before
    # A new relay address makes a new account, named without the relay's random local part.
    fresh = f"{uuid.uuid4().hex[:10]}@privaterelay.appleid.com"
    token = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=fresh, is_private_email="true")
    created = await client.post(APPLE, json={"identity_token": token})
    assert created.status_code == 201, created.text
    assert created.json()["user"]["name"] == "CookCam cook"


async def test_the_nonce_must_match_when_the_app_sends_one(client, apple: FakeAppleId, db: asyncpg.Connection) -> None:
    nonce = "a-random-nonce-" + uuid.uuid4().hex
    hashed = hashlib.sha256(nonce.encode()).hexdigest()
    subject, email = _subject(), new_email()
    token = apple.identity_token(audience=BUNDLE_ID, subject=subject, email=email, nonce=hashed)
    for wrong in ("another-nonce", hashed):  # a different nonce, or the hash itself sent as the nonce
        refused = await client.post(APPLE, json={"identity_token": token, "nonce": wrong})
        assert (refused.status_code, refused.json()["code"]) == (401, "APPLE_NONCE_MISMATCH")
    no_nonce_in_token = apple.identity_token(audience=BUNDLE_ID, subject=subject, email=email)
    refused = await client.post(APPLE, json={"identity_token": no_nonce_in_token, "nonce": nonce})
    assert (refused.status_code, refused.json()["code"]) == (401, "APPLE_NONCE_MISMATCH")
    assert await written(db) == (0, 0, 0)
    accepted = await client.post(APPLE, json={"identity_token": token, "nonce": nonce})
    assert accepted.status_code == 201, accepted.text


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    claims: dict = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


async def test_bad_tokens_are_refused_with_401_and_nothing_is_written(
    client, apple: FakeAppleId, db: asyncpg.Connection
) -> None:
    email = new_email()
    good = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=email)
    header, _, signature = good.split(".")
    tampered = ".".join([header, _b64({**_claims(good), "email": "victim@example.com"}), signature])
    unsigned = ".".join([_b64({"alg": "none", "kid": apple.kid}), _b64(_claims(good)), ""])
    # HS256 keyed with the public key Apple publishes (the "algorithm confusion" forgery).
    hs_header = _b64({"alg": "HS256", "kid": apple.kid, "typ": "JWT"})
    hs_body = _b64(_claims(good))
    published = json.dumps(apple.jwks()["keys"][0]).encode()
    mac = hmac.new(published, f"{hs_header}.{hs_body}".encode(), hashlib.sha256).digest()
    hs256 = f"{hs_header}.{hs_body}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    cases = {
        "expired": (apple.identity_token(audience=BUNDLE_ID, subject="s", email=email, expires_in=-600), "EXPIRED"),
        "wrong audience": (apple.identity_token(audience="com.evil.app", subject="s", email=email), "INVALID"),
        "wrong issuer": (
            apple.identity_token(audience=BUNDLE_ID, subject="s", email=email, issuer="https://evil.example"),
            "INVALID",
        ),
        "forged key": (
            apple.identity_token(audience=BUNDLE_ID, subject="s", email=email, signer="stranger"),
            "INVALID",
        ),
        "unknown kid": (apple.identity_token(audience=BUNDLE_ID, subject="s", email=email, kid="NOPE1"), "INVALID"),
        "tampered payload": (tampered, "INVALID"),
        "alg none": (unsigned, "INVALID"),
        "HS256 confusion": (hs256, "INVALID"),
        "issued in the future": (
            apple.identity_token(audience=BUNDLE_ID, subject="s", email=email, iat=10**10, exp=10**10 + 600),
            "INVALID",
        ),
        "no subject": (apple.identity_token(audience=BUNDLE_ID, subject="", email=email), "INVALID"),
        "garbage": ("eyJhbGciOiJSUzI1NiJ9.garbage.garbage", "INVALID"),
        "not a JWT": ("hello", "INVALID"),
    }
    for name, (token, reason) in cases.items():
        response = await client.post(APPLE, json={"identity_token": token})
        body = response.json()
        assert (response.status_code, body["code"]) == (401, f"APPLE_TOKEN_{reason}"), name
        assert body["request_id"] and body["message"]
    assert await written(db) == (0, 0, 0)


async def test_malformed_requests_get_the_error_envelope(client, db: asyncpg.Connection) -> None:
    for body in ({"identity_token": "x" * 50_000}, {"identity_token": ""}, {"nonce": "n"}, {"identity_token": []}):
        response = await client.post(APPLE, json=body)
        assert response.status_code in (400, 422) and response.json()["code"], body
    not_json = await client.post(APPLE, content=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["code"]
    assert await written(db) == (0, 0, 0)


async def test_keys_are_cached_and_a_rotation_is_picked_up_at_once(client, apple: FakeAppleId) -> None:
    for _ in range(3):
        token = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=new_email())
        assert (await client.post(APPLE, json={"identity_token": token})).status_code == 201
    assert apple.keys_fetches == 1
    apple.rotate()  # Apple publishes a new key and signs with it
    token = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=new_email())
    assert (await client.post(APPLE, json={"identity_token": token})).status_code == 201
    assert apple.keys_fetches == 2
    # A made-up kid refetches at most once a minute.
    for _ in range(3):
        forged = apple.identity_token(audience=BUNDLE_ID, subject="s", email=new_email(), kid="MADEUP")
        assert (await client.post(APPLE, json={"identity_token": forged})).status_code == 401
    assert apple.keys_fetches == 2


async def test_unavailable_keys_are_a_503_not_a_401(client, apple: FakeAppleId, db: asyncpg.Connection) -> None:
    apple.fail_with = 500
    token = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=new_email())
    response = await client.post(APPLE, json={"identity_token": token})
    assert (response.status_code, response.json()["code"]) == (503, "APPLE_SIGNIN_UNAVAILABLE")
    assert response.headers.get("retry-after")
    apple.fail_with = None
    assert (await client.post(APPLE, json={"identity_token": token})).status_code == 201


async def test_linking_apple_to_a_password_account_keeps_the_password(client, apple: FakeAppleId, db) -> None:
    email = new_email()
    await sign_up_verified(client, db, email)
    token = apple.identity_token(audience=BUNDLE_ID, subject=_subject(), email=email)
    assert (await client.post(APPLE, json={"identity_token": token})).status_code == 200
    signin = await client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})
    assert signin.status_code == 200
    unlinked = await client.delete("/api/v1/auth/identities/apple", headers=bearer(signin.json()))
    assert unlinked.status_code == 200 and unlinked.json()["identities"] == []


async def test_no_token_email_or_subject_reaches_the_logs(
    client, apple: FakeAppleId, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email, subject = new_email(), _subject()
    good = apple.identity_token(audience=BUNDLE_ID, subject=subject, email=email)
    forged = apple.identity_token(audience=BUNDLE_ID, subject=subject, email=email, signer="stranger")
    assert (await client.post(APPLE, json={"identity_token": forged})).status_code == 401
    assert (await client.post(APPLE, json={"identity_token": good, "nonce": "n0nce"})).status_code == 401
    assert (await client.post(APPLE, json={"identity_token": good})).status_code == 201
    logged = caplog.text
    assert caplog.records  # the access lines at least
    for secret in (good, forged, good.split(".")[1], email, subject, "n0nce"):
        assert secret not in logged
