"""A loopback HTTP server that records the requests it receives (headers and path) and answers 200 {}."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.fakes.loopback import QuietHandler, serving


class RecordedRequest:
    def __init__(self, method: str, path: str, headers: dict[str, str]) -> None:
        self.method, self.path, self.headers = method, path, headers


@contextmanager
def recording_server() -> Iterator[tuple[str, list[RecordedRequest]]]:
    received: list[RecordedRequest] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            received.append(RecordedRequest("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
            self.reply(200, b"{}")

    with serving(Handler) as base_url:
        yield base_url, received
