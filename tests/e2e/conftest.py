from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.server import RunningServer


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Two granian workers sharing the test database."""
    running = RunningServer(
        database_url,
        tmp_path_factory.mktemp("serve"),
        workers=2,
        env={
            "WS_AUTH_TIMEOUT_SECONDS": "1",
            "WS_MESSAGES_PER_SECOND": "1",
            "WS_MESSAGE_BURST": "6",
            "WS_MAX_MESSAGE_BYTES": "2048",
            "HTTP_TRUSTED_PROXIES": "127.0.0.1",
        },
    )
    yield running
    running.terminate()
