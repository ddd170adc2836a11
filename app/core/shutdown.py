"""Run our own shutdown steps when a worker receives SIGTERM/SIGINT, before granian's.

granian stops a worker by closing every WebSocket itself and only then runs the ASGI lifespan shutdown (granian
issue #796), so clients would never see the 1001 "going away" close. Each worker therefore puts a handler in
front of granian's: it runs `before` (bounded by a timeout) and then hands over to granian's own handler, which
stops accepting and drains in-flight HTTP requests.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger("cookcam.shutdown")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_before_server_shutdown(before: Callable[[], Awaitable[None]], *, timeout: float) -> bool:
    """Chain `before` ahead of the signal handlers the server installed on this loop; False if there were none."""
    loop = asyncio.get_running_loop()
    # asyncio keeps the handlers in a private map: the only way to find the server's handler to chain to it.
    installed: dict[int, asyncio.Handle] = getattr(loop, "_signal_handlers", {})
    chained = False
    for sig in SIGNALS:
        original = installed.get(sig)
        if original is None:
            continue
        loop.add_signal_handler(sig, _chained_handler(loop, before, original, timeout))
        chained = True
    return chained


def _chained_handler(
    loop: asyncio.AbstractEventLoop, before: Callable[[], Awaitable[None]], original: asyncio.Handle, timeout: float
) -> Callable[[], None]:
    started = False

    async def run() -> None:
        try:
            await asyncio.wait_for(before(), timeout)
        except Exception:
            log.exception("shutdown step failed; continuing the shutdown")
        finally:
            original._run()

    def on_signal() -> None:
        nonlocal started
        if started:  # a second signal while draining: hand over at once
            original._run()
            return
        started = True
        loop.create_task(run())

    return on_signal
