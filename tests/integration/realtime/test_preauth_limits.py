"""/api/v1/ws before authentication: the first message is at most WS_AUTH_MESSAGE_MAX_BYTES (close 1009), and one
address has at most WS_UNAUTHENTICATED_PER_ADDRESS sockets waiting for that message (close 4429).
Synchronous: the test client runs the app and its sockets on its own loop."""

from __future__ import annotations

import json
from collections.abc import Iterator

import msgspec
import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from litestar.testing.websocket_test_session import WebSocketTestSession

from app.server import create_app
from app.settings import WebSocketSettings
from tests.conftest import make_settings
from tests.support import PASSWORD, new_email


@pytest.fixture
def sync_client(database_url: str) -> Iterator[TestClient[Litestar]]:
    settings = make_settings(database_url)
    ws = msgspec.structs.replace(settings.ws, unauthenticated_per_address=2)
    with TestClient(app=create_app(msgspec.structs.replace(settings, ws=ws))) as client:
        yield client


def _refusal(ws: WebSocketTestSession) -> tuple[str, int]:
    """The error the socket sends before closing, and its close code."""
    code: str = ws.receive_json(timeout=5)["code"]
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json(timeout=5)
    return code, closed.value.code


def _token(client: TestClient[Litestar]) -> str:
    response = client.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD, "name": "Cook"})
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def test_a_first_message_over_the_preauth_limit_closes_1009(sync_client: TestClient[Litestar]) -> None:
    assert WebSocketSettings().auth_message_max_bytes == 1024
    with sync_client.websocket_connect("/api/v1/ws") as ws:
        # Far below WS_MAX_MESSAGE_BYTES (16 KiB), above what an auth message needs.
        ws.send_text(json.dumps({"type": "auth", "token": "x" * 1100}))
        assert _refusal(ws) == ("MESSAGE_TOO_BIG", 1009)


def test_unauthenticated_sockets_per_address_are_capped(sync_client: TestClient[Litestar]) -> None:
    token = _token(sync_client)
    with sync_client.websocket_connect("/api/v1/ws") as first, sync_client.websocket_connect("/api/v1/ws"):
        with sync_client.websocket_connect("/api/v1/ws") as third:
            assert _refusal(third) == ("TOO_MANY_UNAUTHENTICATED", 4429)
        # A token in the handshake is not waited for: such sockets do not count.
        with sync_client.websocket_connect(f"/api/v1/ws?token={token}") as by_query:
            assert by_query.receive_json(timeout=5)["type"] == "ready"
        # A socket that authenticates leaves the count: the address may open another.
        first.send_text(json.dumps({"type": "auth", "token": token}))
        assert first.receive_json(timeout=5)["type"] == "ready"
        with sync_client.websocket_connect("/api/v1/ws") as fourth:
            fourth.send_text(json.dumps({"type": "auth", "token": token}))
            assert fourth.receive_json(timeout=5)["type"] == "ready"
