"""Serving a fake's request handler on a free loopback port, in a background thread, for one `with` block."""

from __future__ import annotations

import threading
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
