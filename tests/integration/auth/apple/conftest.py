"""The Sign in with Apple tests' app: pointed at a fresh loopback JWKS fake per test, with fast retries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient

from app.server import create_app
from app.settings import AppleSettings, OutboundSettings
from tests.conftest import make_settings
from tests.fakes.apple_id import FakeAppleId, fake_apple_id
from tests.integration.auth.apple.accounts import BUNDLE_ID, SERVICE_ID

FAST_RETRIES = OutboundSettings(retry_attempts=2, retry_initial_seconds=0.01, retry_max_seconds=0.05)


@pytest.fixture
def apple() -> Iterator[FakeAppleId]:
    with fake_apple_id() as fake:
        yield fake


@pytest.fixture
async def client(apple: FakeAppleId, database_url: str) -> AsyncIterator[AsyncTestClient]:
    settings = make_settings(
        database_url,
        apple=AppleSettings(bundle_id=BUNDLE_ID, signin_service_ids=(SERVICE_ID,), signin_keys_url=apple.keys_url),
        outbound=FAST_RETRIES,
    )
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client
