"""Live sessions against real granian workers: a participant connected to one worker follows the host's step
updates made through the other, because the state is in PostgreSQL and the events go through its LISTEN fan-out."""

from __future__ import annotations

import asyncio
import json

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.server import RunningServer
from tests.support import PASSWORD, new_email


async def _signup(server: RunningServer, name: str) -> dict:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(
            "/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD, "name": name}
        )
        assert response.status_code == 201, response.text
        return response.json()


async def _next(ws: ClientConnection, wanted: str, timeout: float = 5) -> dict:
    """The next message of type `wanted` (heartbeats and other messages skipped)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=timeout))
        if message["type"] == wanted:
            return message


async def _socket_on_another_worker(server: RunningServer, token: str, avoid: str) -> ClientConnection:
    """A socket served by a worker other than `avoid` (granian spreads connections over its workers)."""
    for _ in range(40):
        ws = await connect(f"{server.ws_url}?token={token}")
        ready = await _next(ws, "ready")
        if ready["node"] != avoid:
            return ws
        await ws.close()
    raise AssertionError("granian never gave a connection to the other worker")


async def test_a_guest_on_one_worker_follows_the_hosts_steps_made_through_another(server: RunningServer) -> None:
    host_auth, guest_auth = await _signup(server, "Host"), await _signup(server, "Guest")
    guest = await connect(f"{server.ws_url}?token={guest_auth['access_token']}")
    guest_node = (await _next(guest, "ready"))["node"]
    host = await _socket_on_another_worker(server, host_auth["access_token"], avoid=guest_node)
    try:
        await host.send(json.dumps({"type": "live.create", "title": "Across workers", "visibility": "public"}))
        sid = (await _next(host, "live.ok"))["session"]["id"]
        await guest.send(json.dumps({"type": "live.join", "session_id": sid, "ref": "j"}))
        joined = await _next(guest, "live.ok")
        assert (joined["ref"], joined["session"]["participant_count"]) == ("j", 2)
        # The host's worker hears of the join made through the guest's worker, and the other way round.
        assert (await _next(host, "live.joined"))["data"]["user_id"] == guest_auth["user"]["id"]
        await host.send(json.dumps({"type": "live.step", "session_id": sid, "step": 4}))
        assert (await _next(host, "live.ok"))["session"]["current_step"] == 4
        assert (await _next(guest, "live.step"))["data"] == {"session_id": sid, "step": 4}
        # The state read over HTTP (any worker) agrees.
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            state = await http.get(
                f"/api/v1/live-sessions/{sid}", headers={"Authorization": f"Bearer {guest_auth['access_token']}"}
            )
        assert (state.json()["current_step"], len(state.json()["participants"])) == (4, 2)
    finally:
        await host.close()
        await guest.close()
