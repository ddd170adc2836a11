from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.server import create_app
from app.settings import StripeSettings
from tests.conftest import make_settings
from tests.fakes.stripe_api import FakeStripe, fake_stripe
from tests.integration.billing.stripe_support import SECRET

TEST_SECRET_KEY = "sk_test_" + "k" * 40


@pytest.fixture
async def stripe_setup(
    request: pytest.FixtureRequest, database_url: str
) -> AsyncIterator[tuple[AsyncTestClient, FakeStripe]]:
    """The app pointed at a loopback fake of Stripe's API; the fake knows the test module's STRIPE_PRICES."""
    with fake_stripe(getattr(request.module, "STRIPE_PRICES", {})) as (base_url, stripe):
        settings = msgspec.structs.replace(
            make_settings(database_url),
            stripe=StripeSettings(secret_key=TEST_SECRET_KEY, api_base=base_url, webhook_secret=SECRET),
        )
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield client, stripe
