"""What `bash bench/run.sh --target URL` sends a deployed instance (bench/scenarios.py, the read-only scenarios)
answers as the scenario expects, anonymously, and writes nothing: no row anywhere changes."""

from __future__ import annotations

import asyncpg

from app.ingredients.catalog import load_ingredients, read_catalog
from bench.scenarios import BY_KEY, TARGET_KEYS


async def row_counts(db: asyncpg.Connection) -> dict[str, int]:
    tables = await db.fetch("select tablename from pg_tables where schemaname = 'public' order by tablename")
    return {t["tablename"]: await db.fetchval(f'select count(*) from "{t["tablename"]}"') for t in tables}


async def test_the_read_only_scenarios_answer_anonymously_and_change_no_row(client, db: asyncpg.Connection) -> None:
    # The shipped ingredients, as `cookcam serve` loads them (the tests' database is migrated without them).
    await load_ingredients(db, read_catalog())
    before = await row_counts(db)
    for key in TARGET_KEYS:
        scenario = BY_KEY[key]
        request = scenario.request(None)
        response = await client.request(
            request.method, request.path, headers=dict(request.headers), content=request.body
        )
        assert response.status_code in scenario.expected_statuses, (key, response.text)
        if key == "ingredients-search":
            # A real search: the misspelt name still finds its ingredient.
            assert "tomato" in [hit["name"].lower() for hit in response.json()["ingredients"]], response.text
    assert await row_counts(db) == before
