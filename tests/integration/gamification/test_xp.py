"""XP is the server's: amounts come from xp_actions, never from the client; claims are limited to app-observed actions,
de-duplicated and capped per day, also under concurrency; server-side awards happen in the transaction of the action
(scans, written-out recipes, first ratings) and toggles cannot farm; the ledger is append-only, exported and erased
with the account; awards and level-ups reach the user's sockets."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import get_args

import asyncpg
import pytest

from app.gamification.claims import DAILY_CLAIMS, RECIPE_CLAIMS
from app.gamification.xp import Action
from app.ingredients.catalog import load_ingredients, read_catalog
from app.recipes.catalog import load_recipes, read_recipes
from tests.support import PASSWORD, bearer, sign_up

ADD_XP = "/api/v1/gamification/add-xp"
PROGRESS = "/api/v1/gamification/progress"


@pytest.fixture
async def recipes(db: asyncpg.Connection) -> list[str]:
    await load_ingredients(db, read_catalog())
    await load_recipes(db, read_recipes())
    return [str(row["id"]) for row in await db.fetch("select id from recipes where user_id is null order by slug")]


async def test_the_actions_in_code_are_the_table(db: asyncpg.Connection) -> None:
    rows = await db.fetch("select action, claimable from xp_actions")
    assert {row["action"] for row in rows} == set(get_args(Action))
    assert {row["action"] for row in rows if row["claimable"]} == RECIPE_CLAIMS | DAILY_CLAIMS


async def test_amounts_sent_by_the_client_are_ignored_and_claims_count_once(client, db) -> None:
    auth = await sign_up(client)
    claim = {"action": "daily_check_in", "xp_amount": 100000, "metadata": {"xp": 5000}}
    first = await client.post(ADD_XP, headers=bearer(auth), json=claim)
    assert first.status_code == 200, first.text
    assert first.json() == {"xp_awarded": 5, "total_xp": 5, "level": 1, "leveled_up": False, "outcome": "awarded"}
    again = (await client.post(ADD_XP, headers=bearer(auth), json=claim)).json()
    assert (again["xp_awarded"], again["total_xp"], again["outcome"]) == (0, 5, "duplicate")
    progress = (await client.get(PROGRESS, headers=bearer(auth))).json()
    assert progress["user_id"] == auth["user"]["id"]
    assert (progress["total_xp"], progress["level"], progress["current_level_xp"], progress["next_level_xp"]) == (
        5,
        1,
        5,
        100,
    )
    assert await db.fetchval("select count(*) from xp_ledger") == 1


async def test_only_app_observed_actions_can_be_claimed(client, db, recipes) -> None:
    auth, other = await sign_up(client), await sign_up(client)

    async def code(body: object, who: dict = auth) -> tuple[int, str]:
        response = await client.post(ADD_XP, headers=bearer(who), json=body)
        return response.status_code, response.json().get("code", "")

    assert await code({"action": "scan_completed"}) == (422, "XP_ACTION_NOT_CLAIMABLE")
    assert await code({"action": "recipe_rated"}) == (422, "XP_ACTION_NOT_CLAIMABLE")
    assert await code({"action": "free_xp"}) == (422, "XP_ACTION_UNKNOWN")
    assert await code({"action": "recipe_cooked"}) == (422, "RECIPE_ID_REQUIRED")
    assert await code({"action": "recipe_cooked", "metadata": {"recipe_id": "nope"}}) == (422, "VALIDATION_ERROR")
    assert await code({"action": ""}) == (422, "VALIDATION_ERROR")
    assert await code({"xp_amount": 10}) == (422, "VALIDATION_ERROR")
    assert (await code({"action": "recipe_cooked", "metadata": {"recipe_id": str(uuid.uuid4())}}))[1] == (
        "RECIPE_NOT_FOUND"
    )
    # Another user's own recipe is not the caller's to claim.
    mine = await db.fetchval(
        "insert into recipes (user_id, title, ingredients, steps) values ($1, 'Mine', '[]', '[]') returning id",
        uuid.UUID(other["user"]["id"]),
    )
    assert await code({"action": "recipe_cooked", "metadata": {"recipe_id": str(mine)}}) == (404, "RECIPE_NOT_FOUND")
    assert (await client.post(ADD_XP, json={"action": "daily_check_in"})).status_code == 401
    assert await db.fetchval("select count(*) from xp_ledger") == 0


async def test_daily_caps_and_level_ups(client, db, recipes) -> None:
    auth = await sign_up(client)
    # Six recipes of one cuisine, so that no cuisine achievement adds XP on the way.
    same = "select id from recipes where user_id is null and cuisine = $1 order by slug limit 6"
    cuisine = await db.fetchval("select cuisine from recipes where user_id is null group by 1 order by count(*) desc")
    one_cuisine = [str(row["id"]) for row in await db.fetch(same, cuisine)]
    listener = await asyncpg.connect(client.app.state.services.settings.database.url)
    events: asyncio.Queue[dict] = asyncio.Queue()
    await listener.add_listener("cookcam_events", lambda *args: events.put_nowait(json.loads(args[-1])))
    try:
        answers = [
            (
                await client.post(
                    ADD_XP, headers=bearer(auth), json={"action": "recipe_cooked", "metadata": {"recipe_id": r}}
                )
            ).json()
            for r in one_cuisine
        ]
        await asyncio.sleep(0.2)
    finally:
        await listener.close()
    # Five a day; the first also unlocks first_cook (+50 XP), reaching level 2 (at 100); the fifth reaches 300,
    # level 3.
    assert [a["xp_awarded"] for a in answers] == [100, 50, 50, 50, 50, 0]
    assert [a["outcome"] for a in answers] == ["awarded"] * 5 + ["daily_cap_reached"]
    assert [a["leveled_up"] for a in answers] == [True, False, False, False, True, False]
    assert (answers[-1]["total_xp"], answers[-1]["level"]) == (300, 3)
    received = [events.get_nowait()["event"] for _ in range(events.qsize())]
    first = ["xp.awarded", "streak.updated", "xp.awarded", "level.up", "achievement.unlocked"]
    assert [e["type"] for e in received] == [*first, "xp.awarded", "xp.awarded", "xp.awarded", "xp.awarded", "level.up"]
    assert received[3]["data"] == {"level": 2}
    assert received[-2]["data"] == {"action": "recipe_cooked", "amount": 50, "total_xp": 300}
    assert received[-1]["data"] == {"level": 3}
    # Another action has its own cap.
    shared = {"action": "recipe_shared", "metadata": {"recipe_id": recipes[0]}}
    assert (await client.post(ADD_XP, headers=bearer(auth), json=shared)).json()["xp_awarded"] == 10


async def test_concurrent_claims_cannot_pass_a_cap_or_count_twice(client, db, recipes) -> None:
    auth = await sign_up(client)

    def cooked(recipe_id: str) -> dict:
        return {"action": "recipe_cooked", "metadata": {"recipe_id": recipe_id}}

    different = await asyncio.gather(*(client.post(ADD_XP, headers=bearer(auth), json=cooked(r)) for r in recipes[:10]))
    assert sorted(r.json()["outcome"] for r in different) == ["awarded"] * 5 + ["daily_cap_reached"] * 5
    other = await sign_up(client)
    retries = (client.post(ADD_XP, headers=bearer(other), json=cooked(recipes[0])) for _ in range(8))
    same = await asyncio.gather(*retries)
    assert sorted(r.json()["outcome"] for r in same) == ["awarded"] + ["duplicate"] * 7
    cooked_awards = "select count(*) from xp_ledger where action = 'recipe_cooked' and user_id = $1"
    assert await db.fetchval(cooked_awards, uuid.UUID(auth["user"]["id"])) == 5
    assert await db.fetchval(cooked_awards, uuid.UUID(other["user"]["id"])) == 1
    totals = await db.fetch("select user_id, total_xp from xp_totals order by total_xp")
    ledger = await db.fetch("select user_id, sum(amount) as xp from xp_ledger group by user_id order by xp")
    assert [(r["user_id"], r["total_xp"]) for r in totals] == [(r["user_id"], r["xp"]) for r in ledger]


async def test_ratings_earn_once_and_toggles_earn_nothing(client, db, recipes) -> None:
    auth = await sign_up(client)
    rate = f"/api/v1/recipes/{recipes[0]}/rate"
    earned = [
        (await client.post(rate, headers=bearer(auth), json={"rating": n})).json()["xp_awarded"] for n in (1, 5, 3)
    ]
    assert earned == [5, 0, 0]
    for _ in range(4):
        await client.post(f"/api/v1/recipes/{recipes[0]}/favorite", headers=bearer(auth))
        await client.post(f"/api/v1/recipes/{recipes[0]}/save", headers=bearer(auth))
    assert (await client.get(PROGRESS, headers=bearer(auth))).json()["total_xp"] == 5 + 50  # and first_rating


async def test_writing_out_a_session_earns_once(client, db, recipes) -> None:
    auth = await sign_up(client)
    body = {"detected_ingredients": ["chicken thigh", "coconut milk", "curry paste"]}
    offered = (await client.post("/api/v1/recipes/generate-previews", headers=bearer(auth), json=body)).json()
    assert offered["xp_awarded"] == 0
    earned = []
    for preview in offered["previews"]:
        pick = {"session_id": offered["session_id"], "selected_preview": {"id": preview["id"]}}
        answer = await client.post("/api/v1/recipes/generate-detailed", headers=bearer(auth), json=pick)
        earned.append(answer.json()["xp_awarded"])
    assert earned == [15, 0, 0]


async def test_the_ledger_is_append_only_exported_and_erased(client, db) -> None:
    auth = await sign_up(client)
    await client.post(ADD_XP, headers=bearer(auth), json={"action": "daily_check_in"})
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("update xp_ledger set amount = 1000")
    exported = (await client.get("/api/v1/auth/export", headers=bearer(auth))).json()
    assert [(x["action"], x["amount"]) for x in exported["xp_awards"]] == [("daily_check_in", 5)]
    assert exported["streak"]["current_streak"] == 0 and exported["user"]["time_zone"] == "UTC"
    deleted = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )
    assert deleted.status_code == 200, deleted.text
    assert await db.fetchval("select count(*) from xp_ledger") == 0
    assert await db.fetchval("select count(*) from xp_totals") == 0
