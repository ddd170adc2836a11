"""A granian worker that dies is replaced while the other worker keeps serving."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import psutil

from tests.e2e.server import RunningServer


def _workers(server: RunningServer) -> set[int]:
    return {child.pid for child in psutil.Process(server.process.pid).children() if child.is_running()}


async def _until_started(server: RunningServer, *, workers: int) -> None:
    """/ready answered by one worker says nothing of the others: wait for granian to report each one started."""
    deadline = time.monotonic() + 30
    while server.log().count("Started worker-") < workers:
        assert time.monotonic() < deadline, server.log()
        await asyncio.sleep(0.1)


async def _kill_while_serving(http: httpx.AsyncClient, server: RunningServer, victim: int) -> None:
    """Kill `victim` between two /health requests and keep asking until its replacement has started; every request
    must be answered meanwhile."""
    started = server.log().count("Started worker-")
    os.kill(victim, signal.SIGKILL)
    # A signal is delivered asynchronously: until the process is gone it could still accept the next connection.
    psutil.Process(victim).wait(timeout=5)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert (await http.get("/health")).status_code == 200
        if server.log().count("Started worker-") > started:
            assert victim not in _workers(server) and len(_workers(server)) == 2
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"worker {victim} was not replaced:\n{server.log()}")


async def test_a_killed_worker_is_replaced_while_the_other_keeps_serving(database_url, tmp_path) -> None:
    running = RunningServer(database_url, tmp_path, workers=2)
    # No keep-alive: each request takes a fresh connection, so none is left pooled to a dead worker.
    async with httpx.AsyncClient(
        base_url=running.base_url, timeout=15, limits=httpx.Limits(max_keepalive_connections=0)
    ) as http:
        try:
            await _until_started(running, workers=2)
            victim = min(_workers(running))
            await _kill_while_serving(http, running, victim)
            assert running.process.poll() is None
            assert [(await http.get("/health")).status_code for _ in range(5)] == [200] * 5
            # A scrape drops the dead worker's live gauges, so the sums count running workers only.
            assert (await http.get("/metrics")).status_code == 200
            assert not list((tmp_path / "metrics").glob(f"gauge_live*_{victim}.db"))
        finally:
            exit_code = running.terminate()
    assert exit_code == 0, running.log()
