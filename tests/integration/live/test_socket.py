"""Live sessions over /api/v1/ws through the test client's WebSocket support: the live.* protocol, replies with the
client's ref, events to the other participant's socket, errors that keep the socket open, and the 4429 flood limit.

Synchronous tests: the test client runs the app (its pool and hub) and its sockets on one event loop of its own."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from litestar.testing.websocket_test_session import WebSocketTestSession

from app.server import create_app
from app.settings import LiveSettings, Settings, WebSocketSettings
from tests.support import PASSWORD, new_email


class Peer:
    """One socket: reads messages in order, keeping those a test has not asked for yet."""

    def __init__(self, ws: WebSocketTestSession) -> None:
        self.ws = ws
        self.unread: list[dict] = []

    def send(self, message: dict[str, Any] | str) -> None:
        self.ws.send_text(message if isinstance(message, str) else json.dumps(message))

    def next(self, wanted: Callable[[dict], bool], timeout: float = 5) -> dict:
        for message in self.unread:
            if wanted(message):
                self.unread.remove(message)
                return message
        while True:
            message = self.ws.receive_json(timeout=timeout)
            if message["type"] == "heartbeat":
                continue
            if wanted(message):
                return message
            self.unread.append(message)

    def reply(self, ref: object) -> dict:
        return self.next(lambda m: m["type"] in ("live.ok", "live.error") and m.get("ref") == ref)

    def event(self, kind: str) -> dict:
        return self.next(lambda m: m["type"] == kind)

    def request(self, ref: object, **message: Any) -> dict:
        self.send({**message, "ref": ref})
        return self.reply(ref)


def sign_up(client: TestClient[Litestar], name: str) -> dict:
    response = client.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD, "name": name})
    assert response.status_code == 201, response.text
    body: dict = response.json()
    return body


@contextmanager
def connected(client: TestClient[Litestar], auth: dict) -> Iterator[Peer]:
    with client.websocket_connect(f"/api/v1/ws?token={auth['access_token']}") as ws:
        peer = Peer(ws)
        assert peer.next(lambda m: True)["type"] == "ready"
        yield peer


@pytest.fixture
def sync_client(settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=create_app(settings)) as client:
        yield client


def test_two_people_cook_together_over_the_socket(sync_client: TestClient[Litestar]) -> None:
    host_auth, guest_auth = sign_up(sync_client, "Host"), sign_up(sync_client, "Guest")
    with connected(sync_client, host_auth) as host, connected(sync_client, guest_auth) as guest:
        created = host.request("c1", type="live.create", title="Pasta night", visibility="public")
        assert (created["type"], created["action"], created["ref"]) == ("live.ok", "live.create", "c1")
        session = created["session"]
        assert (session["status"], session["participant_count"], session["host_id"]) == (
            "active",
            1,
            host_auth["user"]["id"],
        )
        sid = session["id"]
        assert host.event("live.created")["data"] == {"session_id": sid}

        joined = guest.request(7, type="live.join", session_id=sid)
        assert (joined["type"], joined["ref"], joined["session"]["participant_count"]) == ("live.ok", 7, 2)
        assert host.event("live.joined")["data"]["user_id"] == guest_auth["user"]["id"]

        assert host.request("s", type="live.step", session_id=sid, step=3)["session"]["current_step"] == 3
        assert guest.event("live.step")["data"] == {"session_id": sid, "step": 3}

        said = guest.request("m", type="live.message", session_id=sid, body="Salt the water!")
        message = host.event("live.message")["data"]
        assert (message["message_id"], message["body"]) == (said["message_id"], "Salt the water!")
        assert guest.event("live.message")["data"]["message_id"] == said["message_id"]

        assert guest.request("l", type="live.leave", session_id=sid)["session"]["participant_count"] == 1
        assert host.event("live.left")["data"]["participant_count"] == 1
        ended = host.request("e", type="live.end", session_id=sid)
        assert (ended["session"]["status"], ended["session"]["participant_count"]) == ("ended", 0)
        assert host.event("live.ended")["data"] == {"session_id": sid, "reason": "ended"}

        # An ended session refuses actions; the socket stays usable.
        again = guest.request("j2", type="live.join", session_id=sid)
        assert (again["type"], again["code"], again["action"]) == ("live.error", "SESSION_ENDED", "live.join")
        guest.send({"type": "ping"})
        assert guest.event("pong") == {"type": "pong"}


def test_a_private_session_refuses_strangers_until_invited(sync_client: TestClient[Litestar]) -> None:
    host_auth, friend_auth = sign_up(sync_client, "Host"), sign_up(sync_client, "Friend")
    with connected(sync_client, host_auth) as host, connected(sync_client, friend_auth) as friend:
        sid = host.request(1, type="live.create", title="Family dinner", visibility="private")["session"]["id"]
        refused = friend.request(2, type="live.join", session_id=sid)
        assert (refused["type"], refused["code"], refused["ref"]) == ("live.error", "NOT_INVITED", 2)
        assert set(refused) >= {"message", "request_id"}
        not_host = friend.request(3, type="live.invite", session_id=sid, user_id=friend_auth["user"]["id"])
        assert not_host["code"] == "NOT_HOST"
        invited = host.request(4, type="live.invite", session_id=sid, user_id=friend_auth["user"]["id"])
        assert invited["type"] == "live.ok"
        assert friend.event("live.invited")["data"] == {
            "session_id": sid,
            "host_id": host_auth["user"]["id"],
            "title": "Family dinner",
        }
        assert friend.request(5, type="live.join", session_id=sid)["session"]["participant_count"] == 2
        # Only the host steps and ends.
        assert friend.request(6, type="live.step", session_id=sid, step=1)["code"] == "NOT_HOST"
        assert friend.request(7, type="live.end", session_id=sid)["code"] == "NOT_HOST"
        missing = friend.request(8, type="live.join", session_id=str(uuid.uuid4()))
        assert missing["code"] == "SESSION_NOT_FOUND"


@pytest.mark.parametrize(
    ("request_body", "code", "field"),
    [
        ({"type": "live.step", "session_id": "SID", "step": "three"}, "VALIDATION_ERROR", "step"),
        ({"type": "live.step", "session_id": "SID", "step": -1}, "VALIDATION_ERROR", "step"),
        ({"type": "live.message", "session_id": "SID", "body": "x" * 501}, "VALIDATION_ERROR", "body"),
        ({"type": "live.message", "session_id": "SID", "body": "   "}, "VALIDATION_ERROR", "body"),
        ({"type": "live.message", "session_id": "SID"}, "VALIDATION_ERROR", None),
        ({"type": "live.join", "session_id": "not-a-uuid"}, "VALIDATION_ERROR", "session_id"),
        ({"type": "live.join", "session_id": "SID", "extra": 1}, "VALIDATION_ERROR", None),
        ({"type": "live.create", "title": "x", "visibility": "friends"}, "VALIDATION_ERROR", "visibility"),
        ({"type": "live.create", "title": "x" * 101}, "VALIDATION_ERROR", "title"),
        ({"type": "live.dance", "session_id": "SID"}, "UNKNOWN_MESSAGE_TYPE", None),
    ],
)
def test_bad_requests_get_a_live_error_and_keep_the_socket(
    sync_client: TestClient[Litestar], request_body: dict, code: str, field: str | None
) -> None:
    auth = sign_up(sync_client, "Host")
    with connected(sync_client, auth) as host:
        sid = host.request("c", type="live.create", title="Checks", visibility="public")["session"]["id"]
        body = {key: sid if value == "SID" else value for key, value in request_body.items()}
        error = host.request("bad", **body)
        assert (error["type"], error["code"], error["ref"], error["action"]) == (
            "live.error",
            code,
            "bad",
            request_body["type"],
        )
        if field is not None:
            assert error["details"][0]["field"] == field
        host.send({"type": "ping"})
        assert host.event("pong") == {"type": "pong"}
        assert host.request("ok", type="live.step", session_id=sid, step=1)["type"] == "live.ok"


def test_a_ref_of_the_wrong_type_is_refused_and_the_socket_stays(sync_client: TestClient[Litestar]) -> None:
    auth = sign_up(sync_client, "Host")
    with connected(sync_client, auth) as host:
        host.send({"type": "live.create", "title": "x", "ref": {"nested": True}})
        error = host.next(lambda m: m["type"] == "live.error")
        assert (error["code"], error["details"][0]["field"]) == ("VALIDATION_ERROR", "ref")
        host.send("not json")
        assert host.next(lambda m: m["type"] == "error")["code"] == "MALFORMED_MESSAGE"
        assert host.request("r", type="live.create", title="Fine")["session"]["visibility"] == "private"


def test_one_account_holds_a_bounded_number_of_sockets(settings: Settings) -> None:
    tight = msgspec.structs.replace(settings, ws=WebSocketSettings(max_sockets_per_user=2))
    with TestClient(app=create_app(tight)) as client:
        auth, other = sign_up(client, "Many tabs"), sign_up(client, "Someone else")
        with connected(client, auth), connected(client, auth) as second:
            with client.websocket_connect(f"/api/v1/ws?token={auth['access_token']}") as third:
                refused = third.receive_json(timeout=5)
                assert (refused["type"], refused["code"]) == ("error", "TOO_MANY_SOCKETS")
                with pytest.raises(WebSocketDisconnect) as closed:
                    third.receive_json(timeout=5)
                assert closed.value.code == 4429
            with connected(client, other) as theirs:  # the limit is per account
                theirs.send({"type": "ping"})
                assert theirs.event("pong") == {"type": "pong"}
            second.send({"type": "ping"})
            assert second.event("pong") == {"type": "pong"}
        hub, user = client.app.state.services.hub, uuid.UUID(auth["user"]["id"])
        for _ in range(100):  # the server lets go of a closed socket once its handler has finished
            if hub.sockets_of(user) == 0:
                break
            time.sleep(0.05)
        with connected(client, auth), connected(client, auth):  # closed sockets free their places
            pass


def test_flooding_live_requests_closes_4429(settings: Settings) -> None:
    tight = msgspec.structs.replace(settings, live=LiveSettings(requests_per_second=0.5, request_burst=3))
    with TestClient(app=create_app(tight)) as client:
        auth = sign_up(client, "Flooder")
        with connected(client, auth) as peer:
            # Answered one at a time (the server never closes with unread data waiting): 3 at once, then 1 each 2 s.
            with pytest.raises(WebSocketDisconnect) as closed:
                for n in range(10):
                    peer.request(n, type="live.join", session_id=str(uuid.uuid4()))
            assert closed.value.code == 4429
            # Other messages do not spend the live bucket: a fresh socket pings freely, then its live bucket runs out.
        with connected(client, auth) as peer:
            for _ in range(5):
                peer.send({"type": "ping"})
                peer.event("pong")
            for n in range(3):
                assert peer.request(n, type="live.join", session_id=str(uuid.uuid4()))["code"] == "SESSION_NOT_FOUND"


def test_invitations_are_announced_within_the_pairs_and_the_hosts_daily_budgets(settings: Settings) -> None:
    """An invitation carries the host's title to its invitee: one host reaches one person LIVE_INVITATION_NOTICES_
    PER_PAIR_PER_DAY times (1 here; later invitations still let them in, unannounced) and invites at most
    LIVE_INVITATIONS_PER_DAY people (2 here; then RATE_LIMITED, nothing stored)."""
    tight = msgspec.structs.replace(
        settings, live=LiveSettings(invitations_per_day=2, invitation_notices_per_pair_per_day=1)
    )
    with TestClient(app=create_app(tight)) as client:
        host_auth, friend_auth = sign_up(client, "Host"), sign_up(client, "Friend")
        stranger = sign_up(client, "Stranger")
        stranger_id, friend_id = stranger["user"]["id"], friend_auth["user"]["id"]
        with connected(client, host_auth) as host, connected(client, friend_auth) as friend:
            first = host.request(1, type="live.create", title="Buy cheap pills", visibility="private")
            second = host.request(2, type="live.create", title="Buy cheap pills now", visibility="private")
            first_id, second_id = first["session"]["id"], second["session"]["id"]
            assert host.request(3, type="live.invite", session_id=first_id, user_id=friend_id)["type"] == "live.ok"
            assert friend.event("live.invited")["data"]["session_id"] == first_id
            assert host.request(4, type="live.invite", session_id=second_id, user_id=friend_id)["type"] == "live.ok"
            refused = host.request(5, type="live.invite", session_id=second_id, user_id=stranger_id)
            assert (refused["type"], refused["code"]) == ("live.error", "RATE_LIMITED")
            # The second invitation lets the friend in, but was not announced: the join's event comes first.
            assert friend.request(6, type="live.join", session_id=second_id)["type"] == "live.ok"
            friend.event("live.joined")
            assert [m["type"] for m in friend.unread] == []
        mine = client.get("/api/v1/live-sessions", headers={"Authorization": f"Bearer {stranger['access_token']}"})
        assert mine.json()["sessions"] == []


def test_an_invitation_while_redis_is_down_is_answered_and_the_socket_stays(settings: Settings) -> None:
    """The invitation limits count on Redis when it is configured: unreachable, the request is refused like a
    database outage (SERVICE_UNAVAILABLE, nothing stored) instead of ending the socket."""
    with TestClient(app=create_app(settings)) as client:
        host_auth, friend_auth = sign_up(client, "Host"), sign_up(client, "Friend")
    down = msgspec.structs.replace(
        settings, ratelimit=msgspec.structs.replace(settings.ratelimit, redis_url="redis://127.0.0.1:1/0")
    )
    with TestClient(app=create_app(down)) as client, connected(client, host_auth) as host:
        sid = host.request(1, type="live.create", title="Soup", visibility="private")["session"]["id"]
        refused = host.request(2, type="live.invite", session_id=sid, user_id=friend_auth["user"]["id"])
        assert (refused["type"], refused["code"], refused["ref"]) == ("live.error", "SERVICE_UNAVAILABLE", 2)
        assert host.request(3, type="live.step", session_id=sid, step=0)["type"] == "live.ok"  # the socket stays
        with connected(client, friend_auth) as friend:
            assert friend.request(1, type="live.join", session_id=sid)["code"] == "NOT_INVITED"
