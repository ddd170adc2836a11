from __future__ import annotations

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.server import create_app
from app.settings import CreatorSettings, StripeSettings
from tests.conftest import make_settings
from tests.integration.billing.stripe_support import PREVIOUS, SECRET


@pytest.fixture
async def client(database_url: str):
    settings = msgspec.structs.replace(
        make_settings(database_url),
        stripe=StripeSettings(webhook_secret=SECRET, previous_webhook_secret=PREVIOUS),
        creators=CreatorSettings(max_links=3),
    )
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client
