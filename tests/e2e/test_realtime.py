"""The WebSocket against real granian workers: authentication, limits and cross-worker delivery."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.server import RunningServer
from tests.support import PASSWORD, new_email

AUTH = "/api/v1/auth"


async def _signup(server: RunningServer, email: str | None = None) -> dict:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(
            AUTH + "/signup", json={"email": email or new_email(), "password": PASSWORD, "name": "Ws"}
        )
        assert response.status_code == 201, response.text
        return response.json()


async def _next(ws: ClientConnection, timeout: float = 5) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=timeout))
        if message["type"] != "heartbeat":
            return message


async def _closed_code(ws: ClientConnection, timeout: float = 5) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=timeout)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_authenticates_by_header_query_and_first_message(server: RunningServer) -> None:
    auth = await _signup(server)
    token = auth["access_token"]
    async with connect(server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert (await _next(ws))["type"] == "ready"
    async with connect(f"{server.ws_url}?token={token}") as ws:
        assert (await _next(ws))["user_id"] == auth["user"]["id"]
    async with connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert (await _next(ws))["type"] == "ready"
        await ws.send(json.dumps({"type": "ping"}))
        assert (await _next(ws))["type"] == "pong"


async def test_no_auth_message_in_time_closes_4408(server: RunningServer) -> None:
    async with connect(server.ws_url) as ws:
        assert (await _next(ws))["code"] == "AUTH_TIMEOUT"
        assert await _closed_code(ws) == 4408


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


async def test_a_message_before_authentication_is_never_read_into_memory(database_url, tmp_path) -> None:
    """granian hands a message to the app only once it holds all of it (up to 64 MiB): with WS_AUTH_BY_MESSAGE off,
    nothing is read before authentication, so 16 MiB sent in fragments at once costs the worker nothing."""
    running = RunningServer(database_url, tmp_path, workers=1, env={"WS_AUTH_BY_MESSAGE": "false"})
    try:
        (worker,) = psutil.Process(running.process.pid).children()
        with open(f"/proc/{worker.pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current RSS
        before = _status_kib(worker.pid, "VmRSS")
        codes = []
        for _ in range(3):
            async with connect(running.ws_url) as ws:
                sending = asyncio.create_task(ws.send(["x" * 65536] * 256))  # 16 MiB in 64 KiB fragments
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
                        assert message["code"] == "UNAUTHENTICATED"
                with contextlib.suppress(ConnectionClosed):
                    await sending
                codes.append(closed.value.rcvd.code if closed.value.rcvd else None)
        peak_growth_mib = (_status_kib(worker.pid, "VmHWM") - before) / 1024
        assert peak_growth_mib < 8, peak_growth_mib  # reading one message would cost 2 x 16 MiB (measured)
        assert set(codes) <= {4401, None}, codes  # None: the kernel reset the connection over the unread data
        async with connect(running.ws_url) as ws:
            assert await _closed_code(ws) == 4401
    finally:
        assert running.terminate() == 0


async def test_bad_token_closes_4401(server: RunningServer) -> None:
    async with connect(f"{server.ws_url}?token=not-a-token", additional_headers={"X-Request-ID": "ws-req-1"}) as ws:
        error = await _next(ws)
        assert (error["code"], error["request_id"]) == ("TOKEN_INVALID", "ws-req-1")
        assert await _closed_code(ws) == 4401
    async with connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        assert await _closed_code(ws) == 4401


async def test_flooding_closes_4429_and_oversize_closes_1009(server: RunningServer) -> None:
    token = (await _signup(server))["access_token"]
    async with connect(f"{server.ws_url}?token={token}") as ws:
        await _next(ws)
        # One ping at a time, each answered before the next: the server never closes with unread data waiting
        # (which the kernel would turn into a reset that loses the close frame). 6 at once, then 1 a second.
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(30):
                await ws.send(json.dumps({"type": "ping"}))
                assert (await _next(ws))["type"] == "pong"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    async with connect(f"{server.ws_url}?token={token}") as ws:
        await _next(ws)
        await ws.send(json.dumps({"type": "ping", "pad": "x" * 4096}))
        assert await _closed_code(ws) == 1009


async def _sockets_on_both_workers(server: RunningServer, token: str) -> list[tuple[ClientConnection, int]]:
    sockets: list[tuple[ClientConnection, int]] = []
    for _ in range(40):
        ws = await connect(f"{server.ws_url}?token={token}")
        ready = await _next(ws)
        sockets.append((ws, ready["node"]))
        if len({pid for _, pid in sockets}) == 2:
            return sockets
    for ws, _ in sockets:
        await ws.close()
    raise AssertionError("granian never spread 40 connections over its two workers")


async def test_events_cross_workers_and_signout_closes_that_sessions_sockets(server: RunningServer) -> None:
    email = new_email()
    staying = await _signup(server, email)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        leaving = (await http.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})).json()
        watchers = await _sockets_on_both_workers(server, staying["access_token"])
        doomed = await connect(f"{server.ws_url}?token={leaving['access_token']}")
        await _next(doomed)
        try:
            out = await http.post(AUTH + "/signout", headers={"Authorization": f"Bearer {leaving['access_token']}"})
            assert out.status_code == 204
            for ws, _pid in watchers:
                event = await _next(ws)
                assert event["type"] == "session.revoked"
            assert (await _next(doomed))["type"] == "session.revoked"
            assert await _closed_code(doomed) == 4401
        finally:
            for ws, _ in watchers:
                await ws.close()
            await doomed.close()


async def test_account_deletion_closes_every_socket(server: RunningServer) -> None:
    auth = await _signup(server)
    sockets = await _sockets_on_both_workers(server, auth["access_token"])
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        deleted = await http.request(
            "DELETE",
            AUTH + "/account",
            headers={"Authorization": f"Bearer {auth['access_token']}"},
            json={"confirm_password": PASSWORD},
        )
        assert deleted.status_code == 200
    for ws, _ in sockets:
        assert await _closed_code(ws) == 4401


async def test_malformed_and_unknown_messages_get_an_error_and_keep_the_socket(server: RunningServer) -> None:
    token = (await _signup(server))["access_token"]
    async with connect(f"{server.ws_url}?token={token}") as ws:
        await _next(ws)
        await ws.send("not json")
        assert (await _next(ws))["code"] == "MALFORMED_MESSAGE"
        await ws.send(b"\x00\x01binary")
        assert (await _next(ws))["code"] == "MALFORMED_MESSAGE"
        await ws.send(json.dumps({"type": "launch-missiles"}))
        assert (await _next(ws))["code"] == "UNKNOWN_MESSAGE_TYPE"
        await ws.send(json.dumps({"type": "ping"}))
        assert (await _next(ws))["type"] == "pong"


async def test_socket_closes_when_its_token_expires_unless_reauthenticated(database_url, tmp_path) -> None:
    # Long enough for the sign-ups, a refresh and a re-authentication on a loaded machine before the first expires.
    running = RunningServer(database_url, tmp_path, workers=1, env={"JWT_ACCESS_TTL_SECONDS": "8"})
    try:
        auth = await _signup(running)
        other = await _signup(running)
        async with (
            connect(f"{running.ws_url}?token={auth['access_token']}") as expiring,
            connect(f"{running.ws_url}?token={auth['access_token']}") as renewed,
        ):
            await _next(expiring)
            await _next(renewed)
            # A token of another account cannot extend this socket.
            await renewed.send(json.dumps({"type": "auth", "token": other["access_token"]}))
            assert (await _next(renewed))["code"] == "TOKEN_MISMATCH"
            await asyncio.sleep(1.1)  # a new token has a later expiry (whole seconds)
            async with httpx.AsyncClient(base_url=running.base_url) as http:
                fresh = (await http.post(AUTH + "/refresh", json={"refresh_token": auth["refresh_token"]})).json()
            await renewed.send(json.dumps({"type": "auth", "token": fresh["access_token"]}))
            assert (await _next(renewed))["type"] == "auth.ok"
            expired = await _next(expiring, timeout=12)
            assert expired["code"] == "TOKEN_EXPIRED"
            assert await _closed_code(expiring) == 4401
            # The renewed socket outlives the first token.
            await renewed.send(json.dumps({"type": "ping"}))
            assert (await _next(renewed))["type"] == "pong"
    finally:
        assert running.terminate() == 0
