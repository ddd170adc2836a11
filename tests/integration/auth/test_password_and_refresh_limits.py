"""Issue 15, items 3, 5, 12 and 12b: one password-guess budget per account and address across every route that
checks a password, a stranger's guesses never locking the owner out, a short grace for a just-spent refresh token,
and refresh limited per session with its own per-address limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.server import create_app
from tests.conftest import make_settings
from tests.support import PASSWORD, bearer, new_email, sign_up

AUTH = "/api/v1/auth"


def _app(database_url: str, *, grace: int | None = None, **ratelimit: object) -> Litestar:
    settings = make_settings(database_url)
    settings = msgspec.structs.replace(settings, ratelimit=msgspec.structs.replace(settings.ratelimit, **ratelimit))
    if grace is not None:
        jwt = msgspec.structs.replace(settings.jwt, refresh_reuse_grace_seconds=grace)
        settings = msgspec.structs.replace(settings, jwt=jwt)
    return create_app(settings)


@asynccontextmanager
async def _from(app: Litestar, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """Requests to the app from one client address, in the test's own event loop (inside `app.lifespan()`), so
    that requests sent together run concurrently, unlike the test client's."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_every_password_check_spends_one_budget(database_url) -> None:
    app = _app(database_url, per_account=2, per_address=1000)
    async with AsyncTestClient(app=app) as client:
        auth = await sign_up(client)
        email = (await client.get(AUTH + "/me", headers=bearer(auth))).json()["email"]
        wrong_signin = await client.post(AUTH + "/signin", json={"email": email, "password": "wrong password"})
        assert wrong_signin.status_code == 401
        wrong_change = await client.post(
            AUTH + "/change-password",
            headers=bearer(auth),
            json={"current_password": "wrong password", "new_password": "a brand new passphrase"},
        )
        assert wrong_change.status_code == 401
        # The budget is spent: every other route that checks this account's password refuses before hashing.
        delete = await client.request(
            "DELETE", AUTH + "/account", headers=bearer(auth), json={"confirm_password": "wrong password"}
        )
        change_email = await client.post(
            AUTH + "/change-email", headers=bearer(auth), json={"new_email": new_email(), "password": "wrong"}
        )
        signin = await client.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})
        assert [r.status_code for r in (delete, change_email, signin)] == [429, 429, 429]
        assert {r.json()["code"] for r in (delete, change_email, signin)} == {"RATE_LIMITED"}


async def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out(database_url) -> None:
    app = _app(database_url, per_account=2, per_address=1000)
    async with app.lifespan(), _from(app, "203.0.113.9") as stranger, _from(app, "198.51.100.7") as owner:
        email = new_email()
        await sign_up(owner, email=email)
        guesses = [
            (await stranger.post(AUTH + "/signin", json={"email": email, "password": "guess"})).status_code
            for _ in range(3)
        ]
        assert guesses == [401, 401, 429]
        signed_in = await owner.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text


async def test_concurrent_refreshes_of_one_token_both_get_its_successor(database_url) -> None:
    app = _app(database_url)
    async with app.lifespan(), _from(app, "192.0.2.10") as http:
        auth = await sign_up(http)
        token = {"refresh_token": auth["refresh_token"]}
        first, second = await asyncio.gather(*(http.post(AUTH + "/refresh", json=token) for _ in range(2)))
        assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
        successor = first.json()["refresh_token"]
        assert second.json()["refresh_token"] == successor != auth["refresh_token"]
        # A response lost on the way: the spent token, sent again within the grace, still answers the same successor.
        again = await http.post(AUTH + "/refresh", json=token)
        assert again.status_code == 200
        assert again.json()["refresh_token"] == successor
        for answer in (first, second, again):
            assert (await http.get(AUTH + "/me", headers=bearer(answer.json()))).status_code == 200
        # The session lives on: the successor rotates as usual, once.
        rotated = await http.post(AUTH + "/refresh", json={"refresh_token": successor})
        assert rotated.status_code == 200
        assert rotated.json()["refresh_token"] not in (successor, auth["refresh_token"])


async def test_a_spent_token_whose_successor_was_spent_too_revokes_the_session(database_url) -> None:
    app = _app(database_url)
    async with AsyncTestClient(app=app) as client:
        auth = await sign_up(client)
        second = (await client.post(AUTH + "/refresh", json={"refresh_token": auth["refresh_token"]})).json()
        third = (await client.post(AUTH + "/refresh", json={"refresh_token": second["refresh_token"]})).json()
        # Within the grace, but the successor has moved on: this is a copy, not a lost response.
        reuse = await client.post(AUTH + "/refresh", json={"refresh_token": auth["refresh_token"]})
        assert reuse.status_code == 401
        assert reuse.json()["code"] == "REFRESH_TOKEN_REUSED"
        assert (await client.get(AUTH + "/me", headers=bearer(third))).json()["code"] == "SESSION_REVOKED"


async def test_refresh_has_its_own_per_address_limit(database_url) -> None:
    """Everyone behind one carrier NAT refreshes from one address: sign-in's per-address limit is not theirs."""
    app = _app(database_url, per_address=2, refresh_per_address=1000)
    async with AsyncTestClient(app=app) as client:
        email = new_email()
        sessions = [await sign_up(client, email=email)]
        for _ in range(2):
            signed_in = await client.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})
            sessions.append(signed_in.json())
        codes = [
            (await client.post(AUTH + "/refresh", json={"refresh_token": s["refresh_token"]})).status_code
            for s in sessions
        ]
        assert codes == [200, 200, 200]


async def test_refresh_is_limited_per_session(database_url) -> None:
    app = _app(database_url, refresh_per_session=2, refresh_per_address=1000)
    async with AsyncTestClient(app=app) as client:
        token = (await sign_up(client))["refresh_token"]
        for _ in range(2):
            rotated = await client.post(AUTH + "/refresh", json={"refresh_token": token})
            assert rotated.status_code == 200
            token = rotated.json()["refresh_token"]
        limited = await client.post(AUTH + "/refresh", json={"refresh_token": token})
        assert limited.status_code == 429
        assert limited.json()["code"] == "RATE_LIMITED"
        # Another session from the same address is unaffected, and the limited token was not spent.
        other = await sign_up(client)
        assert (await client.post(AUTH + "/refresh", json={"refresh_token": other["refresh_token"]})).status_code == 200
        still = await client.get(AUTH + "/me", headers=bearer(rotated.json()))
        assert still.status_code == 200
