"""Serving a fake's request handler on a free loopback port, in a background thread, for one `with` block."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Stall:
    """Holds a fake's requests until released, so a test can look at the service while a provider is slow (for
    example, that it holds no database connection meanwhile). Inactive until `start()`."""

    def __init__(self) -> None:
        self._active = False
        self._release = threading.Event()
        self.reached = threading.Event()  # set once a request is being held

    def start(self) -> None:
        self._release.clear()
        self.reached.clear()
        self._active = True

    def release(self) -> None:
        self._active = False
        self._release.set()

    def hold(self) -> None:
        if self._active:
            self.reached.set()
            self._release.wait(timeout=10)


class Traffic:
    """A fake's round trip and what it sees of its clients' parallelism: every request takes `latency_seconds`
    (a real provider answers in tens to hundreds of milliseconds), `in_flight` counts the requests being answered,
    `peak` is the most there were at once and `started` the wall-clock start time of each (UNIX seconds)."""

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.latency_seconds = latency_seconds
        self.in_flight = 0
        self.peak = 0
        self.started: list[float] = []
        self._lock = threading.Lock()

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.started.append(time.time())
        try:
            if self.latency_seconds:
                time.sleep(self.latency_seconds)
            yield
        finally:
            with self._lock:
                self.in_flight -= 1


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        return

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(
        self, status: int, data: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        """Send one complete response; a client that already gave up (a timeout test) is not an error here."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            return


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) while `handler` answers requests."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval: shutdown() waits for the loop to notice, and tests start and stop many fakes.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
