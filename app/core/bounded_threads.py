"""CPU-heavy work (decoding uploaded images) on a thread pool of its own, a few at a time.

Not `asyncio.to_thread`: the default executor is where argon2id hashes passwords, and a burst of uploads must not
delay sign-ins (nor the reverse). At most `threads` jobs run at once; a caller waits at most `wait_seconds` for a
free thread and is then refused with a 503 and Retry-After, so a burst costs a bounded wait instead of an unbounded
queue. A job's slot is freed when the job ends, not when its caller goes away (a thread cannot be stopped), so
never more than `threads` jobs hold CPU and memory at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from app.core.errors import ServiceUnavailable

T = TypeVar("T")


class BoundedThreads:
    def __init__(self, name: str, *, threads: int, wait_seconds: float, busy_code: str, busy_message: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix=name)
        self._slots = asyncio.Semaphore(max(1, threads))
        self._wait_seconds = wait_seconds
        self._busy = (busy_code, busy_message)

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` on one of the pool's threads (with the caller's context: request id, trace), or a 503 when no
        thread frees up within the wait."""
        try:
            async with asyncio.timeout(self._wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            code, message = self._busy
            raise ServiceUnavailable(code, message, retry_after_seconds=max(1, math.ceil(self._wait_seconds))) from None
        loop = asyncio.get_running_loop()
        try:
            job = self._pool.submit(contextvars.copy_context().run, work)
        except BaseException:
            self._slots.release()
            raise

        def free_slot(_: Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for a slot any more
                loop.call_soon_threadsafe(self._slots.release)

        job.add_done_callback(free_slot)
        return await asyncio.wrap_future(job)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
