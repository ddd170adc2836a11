"""The daily AI budgets, through the routes that call the provider: a user at their budget is refused (429) before
the provider is asked and keeps their scan; others and yesterday's spending are unaffected; the service's budget
answers 503; cached generations need no budget."""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.core.limits import period_bounds
from app.server import create_app
from app.settings import AiSettings, Settings
from tests.conftest import make_settings
from tests.fakes.openai import API_KEY, FakeOpenAI, fake_openai
from tests.integration.recipes.test_generation import DETAILED, INGREDIENTS, PREVIEWS, RECIPE, ideas
from tests.integration.scan.test_scan import ANALYZE, as_base64, model_reply, picture
from tests.support import bearer, sign_up

SCAN = {"image_data": as_base64(picture("JPEG", (64, 64)))}


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        fake.respond = lambda body: model_reply(("onion", 0.9))
        yield fake


def budget_settings(
    database_url: str, openai: FakeOpenAI, *, user_usd: float = 1.0, service_usd: float = 50.0
) -> Settings:
    ai = AiSettings(
        base_url=openai.base_url,
        api_key=API_KEY,
        timeout_seconds=2.0,
        user_daily_budget_usd=user_usd,
        daily_budget_usd=service_usd,
    )
    return msgspec.structs.replace(make_settings(database_url), ai=ai)


@pytest.fixture
async def client(database_url: str, openai: FakeOpenAI) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(budget_settings(database_url, openai))) as test_client:
        yield test_client


async def record_spending(db: asyncpg.Connection, auth: dict, usd: float, *, days_ago: int = 0) -> None:
    day = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=days_ago)
    await db.execute(
        "insert into ai_usage (user_id, day, task, model, calls, prompt_tokens, completion_tokens, cost_microdollars)"
        " values ($1, $2, 'scan', 'gpt-4o-mini', 1, 1000, 1000, $3)",
        uuid.UUID(auth["user"]["id"]),
        day,
        round(usd * 1_000_000),
    )


async def scans_counted(db: asyncpg.Connection, auth: dict) -> int:
    query = "select coalesce(sum(used), 0) from usage_counters where user_id = $1 and metric = 'scans'"
    return int(await db.fetchval(query, uuid.UUID(auth["user"]["id"])))


def assert_retry_at_midnight(response) -> None:
    midnight = period_bounds("day", datetime.datetime.now(datetime.UTC))[1]
    wait = (midnight - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert abs(int(response.headers["retry-after"]) - wait) < 5
    assert midnight.isoformat() in response.json()["message"]


async def test_a_user_at_the_budget_is_refused_before_the_provider_and_keeps_the_scan(
    database_url, client, openai, db
) -> None:
    capped, other = await sign_up(client), await sign_up(client)
    await record_spending(db, capped, 1.0)  # exactly the budget: used up
    refused = await client.post(ANALYZE, headers=bearer(capped), json=SCAN)
    assert (refused.status_code, refused.json()["code"]) == (429, "AI_BUDGET_REACHED")
    assert_retry_at_midnight(refused)
    assert refused.json()["details"][0]["field"] == "resets_at"
    assert openai.requests == []
    assert await scans_counted(db, capped) == 0  # the refused scan was given back
    assert (await client.post(ANALYZE, headers=bearer(other), json=SCAN)).status_code == 200
    raised = budget_settings(database_url, openai, user_usd=2.0)
    async with AsyncTestClient(app=create_app(raised)) as client_with_more:
        assert (await client_with_more.post(ANALYZE, headers=bearer(capped), json=SCAN)).status_code == 200
    assert await scans_counted(db, capped) == 1


async def test_spending_from_yesterday_does_not_count(client, openai, db) -> None:
    auth = await sign_up(client)
    await record_spending(db, auth, 40.0, days_ago=1)
    await record_spending(db, auth, 0.9)
    assert (await client.post(ANALYZE, headers=bearer(auth), json=SCAN)).status_code == 200
    assert len(openai.requests) == 1


async def test_the_service_budget_refuses_everyone_until_midnight(
    database_url, openai, db, caplog: pytest.LogCaptureFixture
) -> None:
    async with AsyncTestClient(app=create_app(budget_settings(database_url, openai, service_usd=1.5))) as client:
        heavy, light, fresh = await sign_up(client), await sign_up(client), await sign_up(client)
        await record_spending(db, heavy, 0.9)
        await record_spending(db, light, 0.6)
        logging.getLogger().addHandler(caplog.handler)  # the app replaced the root's handlers when it started
        try:
            refused = await client.post(ANALYZE, headers=bearer(fresh), json=SCAN)
        finally:
            logging.getLogger().removeHandler(caplog.handler)
    assert (refused.status_code, refused.json()["code"]) == (503, "AI_CAPACITY_EXHAUSTED")
    assert_retry_at_midnight(refused)
    assert [r.levelname for r in caplog.records if r.name == "cookcam.ai"] == ["WARNING"]
    assert openai.requests == []
    assert await scans_counted(db, fresh) == 0


async def test_cached_generations_answer_a_user_over_the_budget(client, openai, db) -> None:
    author, capped = await sign_up(client), await sign_up(client)
    openai.reply_json(ideas())
    first = (await client.post(PREVIEWS, headers=bearer(author), json=INGREDIENTS)).json()
    openai.reply_json(RECIPE)
    pick = {"session_id": first["session_id"], "selected_preview": {"id": "ai-1"}}
    assert (await client.post(DETAILED, headers=bearer(author), json=pick)).status_code == 200
    await record_spending(db, capped, 5.0)
    cached = await client.post(PREVIEWS, headers=bearer(capped), json=INGREDIENTS)
    assert cached.status_code == 200, cached.text
    pick = {"session_id": cached.json()["session_id"], "selected_preview": {"id": "ai-1"}}
    assert (await client.post(DETAILED, headers=bearer(capped), json=pick)).status_code == 200
    fresh = await client.post(PREVIEWS, headers=bearer(capped), json={"detected_ingredients": ["leek"]})
    assert (fresh.status_code, fresh.json()["code"]) == (429, "AI_BUDGET_REACHED")
    assert len(openai.requests) == 2
    used = "select used from usage_counters where user_id = $1 and metric = 'recipe_generations'"
    assert await db.fetchval(used, uuid.UUID(capped["user"]["id"])) == 1  # the cache hit; the refusal given back
