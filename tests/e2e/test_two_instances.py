"""Two separate `cookcam serve` instances sharing PostgreSQL and Redis, behind nginx running the shipped config
(docs/scaling.md): events cross instances, rate limits count across them, and a SIGTERM of one loses no request.

The SIGTERM test stops instance A, so it stays the last test of this file (pytest runs a file in order, and
`--dist loadfile` keeps a file on one xdist worker)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.nginx import RunningNginx
from tests.e2e.server import RunningServer
from tests.support import PASSWORD, new_email

AUTH = "/api/v1/auth"
PER_ACCOUNT = 3


def _redis_url() -> str | None:
    """The counters live in Redis when it is reachable (as in CI), else in PostgreSQL: both are shared."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return None
    return "redis://127.0.0.1:6379/15"


@dataclass
class Cluster:
    a: RunningServer
    b: RunningServer
    nginx: RunningNginx


@pytest.fixture(scope="module")
def cluster(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    redis_url = _redis_url()
    env = {
        "HTTP_TRUSTED_PROXIES": "127.0.0.1/32",  # nginx, as deploy/nginx/cookcam.conf requires
        "RATELIMIT_PER_ACCOUNT": str(PER_ACCOUNT),
        **({"RATELIMIT_REDIS_URL": redis_url} if redis_url else {}),
    }
    a = RunningServer(database_url, tmp_path_factory.mktemp("instance-a"), workers=1, env=env)
    try:
        b = RunningServer(database_url, tmp_path_factory.mktemp("instance-b"), workers=1, env=env)
        try:
            nginx = RunningNginx([a.port, b.port], tmp_path_factory.mktemp("nginx"))
            try:
                yield Cluster(a, b, nginx)
            finally:
                nginx.stop()
        finally:
            b.terminate()
    finally:
        a.terminate()


async def _next(ws: ClientConnection, timeout: float = 5) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=timeout))
        if message["type"] != "heartbeat":
            return message


async def _node_of(server: RunningServer, token: str) -> str:
    async with connect(f"{server.ws_url}?token={token}") as ws:
        return str((await _next(ws))["node"])


async def test_an_event_published_on_one_instance_reaches_a_socket_on_the_other(cluster: Cluster) -> None:
    email = new_email()
    async with httpx.AsyncClient(base_url=cluster.nginx.base_url, verify=cluster.nginx.tls(), timeout=30) as http:
        signup = await http.post(AUTH + "/signup", json={"email": email, "password": PASSWORD, "name": "Two"})
        watcher_token = signup.json()["access_token"]
        leaving = (await http.post(AUTH + "/signin", json={"email": email, "password": PASSWORD})).json()
    node_b = await _node_of(cluster.b, watcher_token)
    # nginx balances the upgrades round-robin: keep a socket it handed to instance B.
    watchers = []
    for _ in range(6):
        ws = await connect(f"{cluster.nginx.ws_url}?token={watcher_token}", ssl=cluster.nginx.tls())
        watchers.append(ws)
        if (await _next(ws))["node"] == node_b:
            break
    else:
        raise AssertionError("nginx never sent a WebSocket to instance B")
    try:
        signout_on_a = {"Authorization": f"Bearer {leaving['access_token']}"}
        async with httpx.AsyncClient(base_url=cluster.a.base_url) as direct_to_a:
            out = await direct_to_a.post(AUTH + "/signout", headers=signout_on_a)
            assert out.status_code == 204
        event = await _next(watchers[-1])
        assert event["type"] == "session.revoked"
    finally:
        for ws in watchers:
            await ws.close()


async def test_rate_limits_count_across_both_instances(cluster: Cluster) -> None:
    """Sign-in attempts for one account, alternating between the instances: neither alone reaches the limit."""
    email = new_email()
    statuses = []
    async with httpx.AsyncClient() as http:
        for attempt in range(PER_ACCOUNT + 1):
            instance = (cluster.a, cluster.b)[attempt % 2]
            response = await http.post(instance.base_url + AUTH + "/signin", json={"email": email, "password": "x"})
            statuses.append(response.status_code)
    assert statuses == [401] * PER_ACCOUNT + [429], statuses


STREAK = "/api/v1/gamification/check-streak"


def _streak_count(metrics_text: str) -> float:
    pattern = rf'cookcam_http_requests_total\{{method="POST",route="{STREAK}",status="200"\}} ([0-9.e+]+)'
    match = re.search(pattern, metrics_text)
    return float(match.group(1)) if match else 0.0


async def test_sigterm_of_one_instance_loses_no_request(cluster: Cluster) -> None:
    """A steady stream of POSTs through nginx while instance A is stopped the way docs/scaling.md says: taken out
    of nginx's upstream (reload), then, once nginx's old worker has finished what it had passed on, SIGTERM. nginx
    never resends a POST it has passed on, so a request A dropped comes back 502 (as it does when A is killed with
    SIGKILL instead); every answer must be 200 and A must exit 0.

    Each request opens its own connection to nginx: a reload closes the old nginx worker's idle client connections,
    and a client that reuses one at that moment sees the close (a client's own retry, not a server's loss)."""
    fresh_connections = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=cluster.nginx.base_url, verify=cluster.nginx.tls(), timeout=30, limits=fresh_connections
    ) as http:
        auth = (
            await http.post(AUTH + "/signup", json={"email": new_email(), "password": PASSWORD, "name": "Stream"})
        ).json()
        headers = {"Authorization": f"Bearer {auth['access_token']}"}
        statuses: list[int | str] = []
        streaming = True

        async def stream() -> None:
            while streaming:
                try:
                    statuses.append((await http.post(STREAK, headers=headers)).status_code)
                except httpx.HTTPError as exc:
                    statuses.append(repr(exc))

        streams = [asyncio.create_task(stream()) for _ in range(8)]
        await asyncio.sleep(1)
        async with httpx.AsyncClient() as direct:
            served_by_a = _streak_count((await direct.get(cluster.a.base_url + "/metrics")).text)
        await asyncio.to_thread(cluster.nginx.take_out, cluster.a.port)
        exit_code = await asyncio.to_thread(cluster.a.terminate)
        after_a = len(statuses)
        await asyncio.sleep(1)
        streaming = False
        await asyncio.gather(*streams)
    assert served_by_a > 0  # A had its share of the stream before it was taken out
    assert len(statuses) > after_a  # B went on serving
    failed = [status for status in statuses if status != 200]
    assert not failed, (len(statuses), failed[:5], (cluster.nginx.directory / "error.log").read_text()[-2000:])
    assert exit_code == 0, cluster.a.log()
