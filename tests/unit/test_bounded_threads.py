"""BoundedThreads: work runs on the pool's own threads (never the default executor, where argon2id hashes), at most
`threads` at once; a caller waits at most `wait_seconds` for a thread, then gets a 503 with Retry-After."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.core.bounded_threads import BoundedThreads
from app.core.errors import ServiceUnavailable


def thread_name() -> str:
    return threading.current_thread().name


@pytest.fixture
async def one_thread():
    threads = BoundedThreads("test-decode", threads=1, wait_seconds=0.05, busy_code="BUSY", busy_message="Busy.")
    yield threads
    threads.close()


async def test_work_runs_on_the_pools_own_threads(one_thread) -> None:
    assert (await one_thread.run(thread_name)).startswith("test-decode")
    default = await asyncio.to_thread(thread_name)
    assert not default.startswith("test-decode")


async def test_a_saturated_pool_answers_503_after_the_wait(one_thread) -> None:
    release = threading.Event()
    started = threading.Event()

    def hold() -> str:
        started.set()
        release.wait(5)
        return "held"

    holding = asyncio.ensure_future(one_thread.run(hold))
    await asyncio.to_thread(started.wait, 5)
    with pytest.raises(ServiceUnavailable) as refused:
        await one_thread.run(thread_name)
    assert refused.value.code == "BUSY"
    assert refused.value.headers == {"Retry-After": "1"}
    release.set()
    assert await holding == "held"
    assert (await one_thread.run(thread_name)).startswith("test-decode")  # the slot came back


async def test_a_cancelled_caller_keeps_the_slot_until_its_work_ends(one_thread) -> None:
    """The thread cannot be stopped, so its slot is freed when the work ends, not when the request goes away:
    never more threads busy than configured."""
    release = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        release.wait(5)

    holding = asyncio.ensure_future(one_thread.run(hold))
    await asyncio.to_thread(started.wait, 5)
    holding.cancel()
    with pytest.raises(ServiceUnavailable):
        await one_thread.run(thread_name)
    release.set()
    waiting = one_thread.run(thread_name)  # waits (within 0.05 s) for the freed slot
    assert (await waiting).startswith("test-decode")


async def test_errors_of_the_work_reach_the_caller(one_thread) -> None:
    def fail() -> None:
        raise ValueError("bad image")

    with pytest.raises(ValueError, match="bad image"):
        await one_thread.run(fail)
    assert (await one_thread.run(thread_name)).startswith("test-decode")
