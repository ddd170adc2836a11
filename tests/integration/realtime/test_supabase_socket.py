"""/api/v1/ws with a Supabase access token during the move (SUPABASE_TOKEN_ACCEPT_UNTIL): accepted like ours (in
the query, as a header, or in the first auth message), closed 4401 when the account signs out everywhere, refused
4401 when forged or after the window. Synchronous: the test client runs the app and its sockets on its own loop."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from litestar.testing.websocket_test_session import WebSocketTestSession

from app.server import create_app
from tests.fakes.supabase import FakeSupabase, fake_supabase
from tests.integration.auth.test_supabase_tokens import supabase_settings
from tests.support import PASSWORD, new_email


@pytest.fixture(scope="module")
def supabase() -> Iterator[FakeSupabase]:
    with fake_supabase() as fake:
        yield fake


@pytest.fixture
def sync_client(supabase: FakeSupabase, database_url: str) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=create_app(supabase_settings(database_url, supabase))) as client:
        yield client


def _account(client: TestClient[Litestar]) -> tuple[dict, uuid.UUID]:
    response = client.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD, "name": "Cook"})
    assert response.status_code == 201, response.text
    auth: dict = response.json()
    return auth, uuid.UUID(auth["user"]["id"])


def _next(ws: WebSocketTestSession) -> dict:
    while True:
        message: dict = ws.receive_json(timeout=5)
        if message["type"] != "heartbeat":
            return message


def _close_code(ws: WebSocketTestSession) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            ws.receive_json(timeout=5)
    return closed.value.code


def _refusal(ws: WebSocketTestSession) -> tuple[str, int]:
    """The error the socket sends before closing, and its close code."""
    code: str = _next(ws)["code"]
    return code, _close_code(ws)


def test_a_supabase_token_opens_the_socket_and_signing_out_everywhere_closes_it(
    sync_client: TestClient[Litestar], supabase: FakeSupabase
) -> None:
    auth, user_id = _account(sync_client)
    session_id = uuid.uuid4()
    token = supabase.access_token(user_id, session_id=session_id)
    with sync_client.websocket_connect(f"/api/v1/ws?token={token}") as ws:
        ready = _next(ws)
        assert ready["type"] == "ready"
        # A fresh token of the same Supabase session renews the socket.
        ws.send_text(json.dumps({"type": "auth", "token": supabase.access_token(user_id, session_id=session_id)}))
        assert _next(ws)["type"] == "auth.ok"
        # A token of another session does not.
        ws.send_text(json.dumps({"type": "auth", "token": supabase.access_token(user_id, signer="rs256")}))
        assert _next(ws)["code"] == "TOKEN_MISMATCH"
        with sync_client.websocket_connect(
            "/api/v1/ws", headers={"Authorization": f"Bearer {supabase.access_token(user_id, signer='hs256')}"}
        ) as by_header:
            assert _next(by_header)["type"] == "ready"
        with sync_client.websocket_connect("/api/v1/ws") as by_message:
            by_message.send_text(json.dumps({"type": "auth", "token": token}))
            assert _next(by_message)["type"] == "ready"
        out = sync_client.post("/api/v1/auth/signout-all", headers={"Authorization": f"Bearer {auth['access_token']}"})
        assert out.status_code == 204
        assert _next(ws)["type"] == "session.revoked"
        assert _close_code(ws) == 4401
    with sync_client.websocket_connect(f"/api/v1/ws?token={token}") as ws:
        assert _refusal(ws) == ("SESSION_REVOKED", 4401)


def test_forged_and_late_supabase_tokens_close_the_socket_4401(
    sync_client: TestClient[Litestar], supabase: FakeSupabase, database_url: str
) -> None:
    _, user_id = _account(sync_client)
    forged = supabase.access_token(user_id, signer="stranger")
    with sync_client.websocket_connect(f"/api/v1/ws?token={forged}") as ws:
        assert _refusal(ws) == ("TOKEN_INVALID", 4401)
    past = datetime.now(UTC) - timedelta(seconds=1)
    late = supabase.access_token(user_id)
    with (
        TestClient(app=create_app(supabase_settings(database_url, supabase, until=past))) as late_client,
        late_client.websocket_connect(f"/api/v1/ws?token={late}") as ws,
    ):
        assert _refusal(ws) == ("LEGACY_TOKEN_EXPIRED", 4401)
