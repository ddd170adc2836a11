"""A loopback HTTP server that records the requests it receives (headers and path) and answers 200 {}."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RecordedRequest:
    def __init__(self, method: str, path: str, headers: dict[str, str]) -> None:
        self.method, self.path, self.headers = method, path, headers


@contextmanager
def recording_server() -> Iterator[tuple[str, list[RecordedRequest]]]:
    received: list[RecordedRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.append(RecordedRequest("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
