"""The real process: metrics across workers, trusted proxies, OpenAPI docs, graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.server import RunningServer
from tests.support import PASSWORD, new_email, production_like_env


def _health_count(metrics_text: str) -> float:
    pattern = r'cookcam_http_requests_total\{method="GET",route="/health",status="200"\} ([0-9.e+]+)'
    match = re.search(pattern, metrics_text)
    return float(match.group(1)) if match else 0.0


async def test_metrics_add_up_across_workers(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        before = _health_count((await http.get("/metrics")).text)
        responses = await asyncio.gather(*(http.get("/health") for _ in range(60)))
        assert all(r.status_code == 200 for r in responses)
        # A worker counts a request after sending its answer: give a loaded machine a moment to catch up.
        deadline = asyncio.get_running_loop().time() + 5
        while _health_count((await http.get("/metrics")).text) - before < 60:
            assert asyncio.get_running_loop().time() < deadline, "the workers' counts never added up to 60"
            await asyncio.sleep(0.1)
        scrapes = [_health_count((await http.get("/metrics")).text) for _ in range(4)]
    # Whichever worker answers the scrape, it reports the sum over both workers.
    assert all(count - before == 60 for count in scrapes), scrapes


async def test_forwarded_for_from_trusted_proxy_gets_own_bucket(database_url, tmp_path) -> None:
    running = RunningServer(
        database_url,
        tmp_path,
        workers=1,
        env={"HTTP_TRUSTED_PROXIES": "127.0.0.1", "RATELIMIT_PER_ADDRESS": "1", "RATELIMIT_PER_ACCOUNT": "100"},
    )
    try:
        async with httpx.AsyncClient(base_url=running.base_url) as http:

            async def signin(address: str) -> int:
                response = await http.post(
                    "/api/v1/auth/signin",
                    json={"email": new_email(), "password": "x"},
                    headers={"X-Forwarded-For": address},
                )
                return response.status_code

            assert await signin("203.0.113.1") == 401
            assert await signin("203.0.113.2") == 401  # a different client behind the proxy
            assert await signin("203.0.113.1") == 429
    finally:
        assert running.terminate() == 0


async def test_sigterm_drains_in_flight_requests_and_closes_sockets(database_url, tmp_path) -> None:
    running = RunningServer(database_url, tmp_path, workers=1)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
        auth = (
            await http.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD, "name": "Drain"})
        ).json()
        ws = await connect(f"{running.ws_url}?token={auth['access_token']}")
        await ws.recv()
        # Sign-ups hash with argon2id (tens of ms each on this machine), so several are in flight at SIGTERM.
        in_flight = [
            asyncio.create_task(
                http.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD, "name": "Drain"})
            )
            for _ in range(8)
        ]
        await asyncio.sleep(0.15)
        exit_code = await asyncio.to_thread(running.terminate)
        results = await asyncio.gather(*in_flight, return_exceptions=True)
    statuses = [r.status_code if isinstance(r, httpx.Response) else repr(r) for r in results]
    assert statuses == [201] * 8, statuses
    close_code = None
    try:
        while True:
            json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
    except ConnectionClosed as closed:
        close_code = closed.rcvd.code if closed.rcvd else None
    assert close_code == 1001
    assert exit_code == 0, running.log()


async def test_openapi_docs_are_served(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/schema")).status_code == 200
        spec = (await http.get("/schema/openapi.json")).json()
        assert spec["info"]["title"] == "CookCam API"


async def test_staging_writes_scrubbed_json_access_lines(database_url, tmp_path) -> None:
    running = RunningServer(
        database_url,
        tmp_path,
        workers=1,
        env=production_like_env(
            APP_ENV="staging",
            DATABASE_URL=database_url,
            CORS_ORIGIN="https://app.cookcam.example",
            JOBS_SCHEDULER_ENABLED="false",
        ),
    )
    email = new_email()
    try:
        async with httpx.AsyncClient(base_url=running.base_url) as http:
            auth = (
                await http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "Log"})
            ).json()
            me = await http.get(
                "/api/v1/auth/me", headers={"Authorization": f"Bearer {auth['access_token']}", "X-Request-ID": "log-1"}
            )
            assert me.headers["strict-transport-security"].startswith("max-age=")
    finally:
        assert running.terminate() == 0
    log = running.log()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = {line["request_id"]: line for line in lines if line["logger"] == "cookcam.access"}
    me_line = access["log-1"]
    assert me_line["route"] == "/api/v1/auth/me" and me_line["status"] == 200
    assert me_line["user_id"] == auth["user"]["id"]
    assert isinstance(me_line["duration_ms"], float)
    assert email not in log and PASSWORD not in log and auth["access_token"] not in log
