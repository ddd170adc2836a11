"""Supabase access tokens during the move (SUPABASE_TOKEN_ACCEPT_UNTIL): minted here with the fake project's keys
(tests/fakes/supabase.py: ES256 and RS256 published in a loopback JWKS, and the legacy HS256 secret), accepted on
authenticated routes as the account whose id is their sub, each Supabase session given one session of ours; refused
when forged, altered, expired, for another audience, role or issuer, for an unknown account, after the window, and
after the account signed out everywhere, changed its password or was deleted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.server import create_app
from app.settings import OutboundSettings, Settings, SupabaseSettings
from tests.conftest import make_settings
from tests.fakes.supabase import HS256_SECRET, FakeSupabase, fake_supabase
from tests.support import PASSWORD, bearer, deliver_mail, link_in, new_email, sign_up, token_of

ME = "/api/v1/auth/me"
IDENTITIES = "/api/v1/auth/identities"
FAST_RETRIES = OutboundSettings(retry_attempts=2, retry_initial_seconds=0.01, retry_max_seconds=0.05)


@pytest.fixture(scope="module")
def supabase() -> Iterator[FakeSupabase]:
    with fake_supabase() as fake:
        yield fake


def supabase_settings(
    database_url: str, supabase: FakeSupabase, *, until: datetime | None = None, jwks_url: str | None = None
) -> Settings:
    window = SupabaseSettings(
        token_accept_until=until or datetime.now(UTC) + timedelta(days=30),
        jwt_secret=HS256_SECRET,
        jwks_url=jwks_url or supabase.jwks_url,
        issuer=supabase.issuer,
    )
    return make_settings(database_url, supabase=window)


@pytest.fixture
async def client(supabase: FakeSupabase, database_url: str) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(supabase_settings(database_url, supabase))) as test_client:
        yield test_client


async def _account(client: AsyncTestClient, email: str | None = None) -> tuple[dict, uuid.UUID]:
    """An account as the import leaves it: the same id as in Supabase (here: whatever ours is)."""
    auth = await sign_up(client, email=email)
    return auth, uuid.UUID(auth["user"]["id"])


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _payload(token: str) -> dict:
    part = token.split(".")[1]
    claims: dict = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


async def _refused(client: AsyncTestClient, token: str) -> str:
    response = await client.get(ME, headers=_as(token))
    assert response.status_code == 401, response.text
    code: str = response.json()["code"]
    return code


async def test_supabase_tokens_are_accepted_on_authenticated_routes(
    client, supabase: FakeSupabase, db: asyncpg.Connection
) -> None:
    auth, user_id = await _account(client)
    fetches = supabase.fetches
    for signer in ("es256", "rs256", "hs256"):
        token = supabase.access_token(user_id, signer=signer)  # type: ignore[arg-type]
        me = await client.get(ME, headers=_as(token))
        assert me.status_code == 200, (signer, me.text)
        assert me.json()["id"] == str(user_id)
        assert (await client.get(IDENTITIES, headers=_as(token))).status_code == 200
    # One session of ours per Supabase session, whatever the number of its tokens.
    session_id = uuid.uuid4()
    for _ in range(3):
        token = supabase.access_token(user_id, session_id=session_id, issued_at=time.time() - 5)
        assert (await client.get(ME, headers=_as(token))).status_code == 200
    assert await db.fetchval("select count(*) from supabase_sessions where user_id = $1", user_id) == 4
    assert await db.fetchval("select count(*) from sessions where user_id = $1", user_id) == 5  # and the sign-up's
    # A route that authenticates on a connection returned at once (provide_caller_briefly).
    changed = await client.post(
        "/api/v1/auth/change-password",
        headers=_as(supabase.access_token(user_id)),
        json={"current_password": "not-it-at-all", "new_password": "a-new-long-passphrase-42"},
    )
    assert changed.status_code == 401 and changed.json()["code"] == "INVALID_PASSWORD"
    # The published keys were fetched once and cached.
    assert supabase.fetches - fetches == 1
    assert (await client.get(ME, headers=bearer(auth))).status_code == 200


def _tampered(token: str) -> str:
    header, _, signature = token.split(".")
    claims = _payload(token)
    claims["sub"] = str(uuid.uuid4())
    return ".".join([header, _b64(claims), signature])


def _unsigned(token: str) -> str:
    return ".".join([_b64({"alg": "none", "typ": "JWT"}), token.split(".")[1], ""])


def _hs256_with(key: bytes, claims: dict, kid: str | None) -> str:
    """The classic confusion: a published public key used as an HMAC secret."""
    header = _b64({"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})})
    body = _b64(claims)
    mac = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"


async def test_bad_supabase_tokens_are_refused_and_open_no_session(
    client, supabase: FakeSupabase, db: asyncpg.Connection
) -> None:
    _, user_id = await _account(client)
    good = supabase.access_token(user_id)
    claims = supabase.claims(user_id)
    cases = {
        "expired": (supabase.access_token(user_id, expires_in=-600), "TOKEN_EXPIRED"),
        "wrong audience": (supabase.access_token(user_id, aud="anon"), "TOKEN_INVALID"),
        "no audience": (supabase.access_token(user_id, aud=None), "TOKEN_INVALID"),
        "wrong role": (supabase.access_token(user_id, role="service_role"), "TOKEN_INVALID"),
        "anon role": (supabase.access_token(user_id, role="anon"), "TOKEN_INVALID"),
        "wrong issuer": (supabase.access_token(user_id, iss="https://evil.supabase.co/auth/v1"), "TOKEN_INVALID"),
        "no session id": (
            supabase.access_token(user_id, session_id=None)
            and supabase.sign({k: v for k, v in claims.items() if k != "session_id"}),
            "TOKEN_INVALID",
        ),
        "sub not a uuid": (supabase.access_token("not-a-uuid"), "TOKEN_INVALID"),
        "forged key": (supabase.access_token(user_id, signer="stranger"), "TOKEN_INVALID"),
        "tampered": (_tampered(good), "TOKEN_INVALID"),
        "alg none": (_unsigned(good), "TOKEN_INVALID"),
        "HS256 with the RSA public key": (_hs256_with(supabase.public_rsa_pem(), claims, None), "TOKEN_INVALID"),
        "HS256 with the public key, its kid": (
            _hs256_with(supabase.public_rsa_pem(), claims, supabase.rs256_kid),
            "TOKEN_INVALID",
        ),
        "ES256 header, RSA key": (
            jwt.encode(claims, supabase._rsa, algorithm="RS256", headers={"kid": supabase.es256_kid}),
            "TOKEN_INVALID",
        ),
        "unknown kid": (
            jwt.encode(claims, supabase._ec, algorithm="ES256", headers={"kid": "nobody"}),
            "TOKEN_INVALID",
        ),
        "HS256 with another secret": (jwt.encode(claims, "x" * 48, algorithm="HS256"), "TOKEN_INVALID"),
        "unknown account": (supabase.access_token(uuid.uuid4()), "SESSION_REVOKED"),
        "exp not a number": (supabase.access_token(user_id, exp="soon"), "TOKEN_INVALID"),
    }
    for name, (token, code) in cases.items():
        assert (name, await _refused(client, token)) == (name, code)
    assert await db.fetchval("select count(*) from supabase_sessions") == 0
    assert await db.fetchval("select count(*) from sessions where user_id = $1", user_id) == 1


async def test_our_tokens_and_supabase_tokens_are_never_taken_for_each_other(
    client, supabase: FakeSupabase, settings: Settings
) -> None:
    auth, user_id = await _account(client)
    ours = _payload(auth["access_token"])
    our_secret = settings.jwt.secret
    cases = {
        # Our claims, signed with Supabase's keys.
        "ours with the Supabase secret": jwt.encode(ours, HS256_SECRET, algorithm="HS256", headers={"kid": "k1"}),
        "ours with Supabase's EC key": jwt.encode(ours, supabase._ec, algorithm="ES256", headers={"kid": "k1"}),
        # Supabase's claims, signed with our secret, with and without our kid.
        "theirs with our secret": jwt.encode(supabase.claims(user_id), our_secret, algorithm="HS256"),
        "theirs with our secret and kid": jwt.encode(
            supabase.claims(user_id), our_secret, algorithm="HS256", headers={"kid": settings.jwt.key_id}
        ),
        # A genuine Supabase token that names our key id.
        "theirs naming our kid": jwt.encode(
            supabase.claims(user_id), supabase._ec, algorithm="ES256", headers={"kid": settings.jwt.key_id}
        ),
    }
    for name, token in cases.items():
        assert (name, await _refused(client, token)) == (name, "TOKEN_INVALID")


async def test_after_the_window_supabase_tokens_get_a_clear_code(supabase: FakeSupabase, database_url: str) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    async with AsyncTestClient(app=create_app(supabase_settings(database_url, supabase, until=past))) as client:
        auth, user_id = await _account(client)
        for signer in ("es256", "hs256"):
            token = supabase.access_token(user_id, signer=signer)  # type: ignore[arg-type]
            assert await _refused(client, token) == "LEGACY_TOKEN_EXPIRED"
        assert (await client.get(ME, headers=bearer(auth))).status_code == 200
        assert await _refused(client, "not.a.token") == "TOKEN_INVALID"
    # No window configured: a Supabase token is just not ours.
    async with AsyncTestClient(app=create_app(make_settings(database_url))) as client:
        _, user_id = await _account(client)
        assert await _refused(client, supabase.access_token(user_id)) == "TOKEN_INVALID"


async def test_signing_out_ends_that_supabase_session(client, supabase: FakeSupabase) -> None:
    _, user_id = await _account(client)
    session_id = uuid.uuid4()
    token = supabase.access_token(user_id, session_id=session_id)
    assert (await client.post("/api/v1/auth/signout", headers=_as(token))).status_code == 204
    assert await _refused(client, token) == "SESSION_REVOKED"
    assert await _refused(client, supabase.access_token(user_id, session_id=session_id)) == "SESSION_REVOKED"
    # Another Supabase session of the account is not signed out.
    assert (await client.get(ME, headers=_as(supabase.access_token(user_id)))).status_code == 200


async def test_signing_out_everywhere_ends_supabase_tokens_used_or_not(client, supabase: FakeSupabase) -> None:
    auth, user_id = await _account(client)
    used = supabase.access_token(user_id, issued_at=time.time() - 60)
    unused = supabase.access_token(user_id, issued_at=time.time() - 60)
    assert (await client.get(ME, headers=_as(used))).status_code == 200
    assert (await client.post("/api/v1/auth/signout-all", headers=bearer(auth))).status_code == 204
    assert await _refused(client, used) == "SESSION_REVOKED"
    assert await _refused(client, unused) == "SESSION_REVOKED"
    # Issued after the revocation (the person signed in to the old service again): a session of its own.
    later = supabase.access_token(user_id, issued_at=time.time() + 2)
    assert (await client.get(ME, headers=_as(later))).status_code == 200


async def test_a_password_change_ends_supabase_tokens(client, supabase: FakeSupabase) -> None:
    auth, user_id = await _account(client)
    used = supabase.access_token(user_id, issued_at=time.time() - 60)
    unused = supabase.access_token(user_id, issued_at=time.time() - 60)
    assert (await client.get(ME, headers=_as(used))).status_code == 200
    changed = await client.post(
        "/api/v1/auth/change-password",
        headers=bearer(auth),
        json={"current_password": PASSWORD, "new_password": "a-new-long-passphrase-42"},
    )
    assert changed.status_code == 204, changed.text
    assert await _refused(client, used) == "SESSION_REVOKED"
    assert await _refused(client, unused) == "SESSION_REVOKED"
    assert (await client.get(ME, headers=bearer(auth))).status_code == 200


async def test_a_password_reset_ends_supabase_tokens(client, supabase: FakeSupabase) -> None:
    email = new_email()
    _, user_id = await _account(client, email)
    used = supabase.access_token(user_id, issued_at=time.time() - 60)
    unused = supabase.access_token(user_id, issued_at=time.time() - 60)
    assert (await client.get(ME, headers=_as(used))).status_code == 200
    assert (await client.post("/api/v1/auth/forgot-password", json={"email": email})).status_code == 202
    received = await deliver_mail(client.app.state.services.settings.database.url)
    [message] = [m for m in received if m["To"] == email and "Reset" in m["Subject"]]
    reset = await client.post(
        "/api/v1/auth/reset-password",
        json={"token": token_of(link_in(message, "reset-password")), "new_password": "a-new-long-passphrase-42"},
    )
    assert reset.status_code == 204, reset.text
    assert await _refused(client, used) == "SESSION_REVOKED"
    assert await _refused(client, unused) == "SESSION_REVOKED"


async def test_unreachable_supabase_keys_answer_503_not_500(supabase: FakeSupabase, database_url: str) -> None:
    settings = supabase_settings(database_url, supabase, jwks_url=supabase.base_url + "/nothing-here")
    settings = msgspec.structs.replace(settings, outbound=FAST_RETRIES)
    async with AsyncTestClient(app=create_app(settings)) as client:
        auth, user_id = await _account(client)
        response = await client.get(ME, headers=_as(supabase.access_token(user_id)))
        assert response.status_code == 503 and response.json()["code"] == "SUPABASE_UNAVAILABLE"
        # HS256 tokens need no keys, and ours nothing of Supabase.
        assert (await client.get(ME, headers=_as(supabase.access_token(user_id, signer="hs256")))).status_code == 200
        assert (await client.get(ME, headers=bearer(auth))).status_code == 200


async def test_a_deleted_account_s_supabase_tokens_are_refused(
    client, supabase: FakeSupabase, db: asyncpg.Connection
) -> None:
    _, user_id = await _account(client)
    token = supabase.access_token(user_id)
    deleted = await client.request(
        "DELETE", "/api/v1/auth/account", headers=_as(token), json={"confirm_password": PASSWORD}
    )
    assert deleted.status_code == 200, deleted.text
    assert await _refused(client, token) == "SESSION_REVOKED"
    assert await _refused(client, supabase.access_token(user_id)) == "SESSION_REVOKED"
    assert await db.fetchval("select count(*) from supabase_sessions") == 0


async def test_nothing_about_a_supabase_token_is_logged(
    client, supabase: FakeSupabase, caplog: pytest.LogCaptureFixture
) -> None:
    _, user_id = await _account(client)
    session_id = uuid.uuid4()
    good = supabase.access_token(user_id, session_id=session_id)
    caplog.set_level(logging.DEBUG)
    assert (await client.get(ME, headers=_as(good))).status_code == 200
    await _refused(client, _tampered(good))
    await _refused(client, supabase.access_token(user_id, session_id=session_id, expires_in=-600))
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    for secret in (good, good.split(".")[2], str(session_id), HS256_SECRET):
        assert secret not in logged
