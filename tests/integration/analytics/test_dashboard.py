"""GET /api/v1/analytics/dashboard: the caller's own figures for the current UTC day, ISO week, calendar month or
all time, with half-open [from, to) bounds; other users' rows never count."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import asyncpg
import pytest

from app.gamification.levels import level_for
from tests.support import bearer, sign_up

DASHBOARD = "/api/v1/analytics/dashboard"
TRACK = "/api/v1/analytics/track"
XP_EACH = 100


async def seed_activity(db: asyncpg.Connection, user_id: uuid.UUID, moment: datetime.datetime) -> None:
    """One of everything the dashboard counts, at `moment`: a recipe made, saved, favourited and rated, a scan, an
    XP award and a tracked event."""
    recipe = await db.fetchval(
        "insert into recipes (user_id, title, ingredients, steps, created_at)"
        " values ($1, 'Mine', '[]', '[]', $2) returning id",
        user_id,
        moment,
    )
    await db.execute(
        "insert into scans (user_id, detected_ingredients, confidence_score, model, created_at)"
        " values ($1, '[]', 0.9, 'test', $2)",
        user_id,
        moment,
    )
    await db.execute(
        "insert into saved_recipes (user_id, recipe_id, created_at) values ($1, $2, $3)", user_id, recipe, moment
    )
    await db.execute(
        "insert into favorite_recipes (user_id, recipe_id, created_at) values ($1, $2, $3)", user_id, recipe, moment
    )
    await db.execute(
        "insert into recipe_ratings (user_id, recipe_id, rating, updated_at) values ($1, $2, 4, $3)",
        user_id,
        recipe,
        moment,
    )
    await db.execute(
        "insert into xp_ledger (user_id, action, amount, dedup_key, awarded_at)"
        " values ($1, 'scan_completed', $2, $3, $4)",
        user_id,
        XP_EACH,
        str(uuid.uuid4()),
        moment,
    )
    await db.execute(
        "insert into xp_totals (user_id, total_xp) values ($1, $2)"
        " on conflict (user_id) do update set total_xp = xp_totals.total_xp + excluded.total_xp",
        user_id,
        XP_EACH,
    )
    await db.execute(
        "insert into analytics_events (user_id, event_type, received_at) values ($1, 'screen_view', $2)",
        user_id,
        moment,
    )


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


async def test_figures_per_period_count_only_the_callers_rows_inside_the_bounds(client, db) -> None:
    now = datetime.datetime.now(datetime.UTC)
    if (now + datetime.timedelta(seconds=10)).date() != now.date():  # the periods must not move during the test
        await asyncio.sleep(11)
        now = datetime.datetime.now(datetime.UTC)
    auth, other = await sign_up(client), await sign_up(client)
    user_id, other_id = uuid.UUID(auth["user"]["id"]), uuid.UUID(other["user"]["id"])
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = day - datetime.timedelta(days=day.weekday())  # Monday
    month = day.replace(day=1)
    next_month = (month + datetime.timedelta(days=32)).replace(day=1)
    tick = datetime.timedelta(microseconds=1)
    moments = [day, day - tick, week, week - tick, month, month - tick, month - datetime.timedelta(days=40)]
    member_since = month - datetime.timedelta(days=400)
    await db.execute("update users set created_at = $2 where id = $1", user_id, member_since)
    for moment in moments:
        await seed_activity(db, user_id, moment)
    for moment in (day, now - datetime.timedelta(seconds=1), month - datetime.timedelta(days=40)):
        await seed_activity(db, other_id, moment)

    expected_bounds = {
        "day": (day, day + datetime.timedelta(days=1)),
        "week": (week, week + datetime.timedelta(days=7)),
        "month": (month, next_month),
        "all": (member_since, None),
    }
    for period, (start, period_end) in expected_bounds.items():
        response = await client.get(DASHBOARD, headers=bearer(auth), params={"period": period})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["period"] == period
        assert at(body["from"]) == start
        end = at(body["to"])
        if period_end is None:  # all time: up to the moment of the answer
            assert now <= end <= datetime.datetime.now(datetime.UTC)
        else:
            assert end == period_end
        inside = sum(1 for moment in moments if start <= moment < end)
        assert inside >= 1
        counted = ("scans", "recipes_created", "recipes_saved", "recipes_favorited", "recipes_rated", "events_tracked")
        assert {name: body[name] for name in counted} == dict.fromkeys(counted, inside), period
        assert body["xp_earned"] == XP_EACH * inside
        assert body["events_by_type"] == [{"event_type": "screen_view", "count": inside}]
        # The total and the level are the current ones, whatever the period.
        assert (body["total_xp"], body["level"]) == (XP_EACH * len(moments), level_for(XP_EACH * len(moments)))
    assert body["xp_earned"] == body["total_xp"]  # all time: every award


async def test_the_default_period_is_the_iso_week(client) -> None:
    auth = await sign_up(client)
    body = (await client.get(DASHBOARD, headers=bearer(auth))).json()
    assert body["period"] == "week"
    start, end = at(body["from"]), at(body["to"])
    assert (start.weekday(), start.time(), end - start) == (0, datetime.time(0), datetime.timedelta(days=7))
    assert start.utcoffset() == datetime.timedelta(0)
    assert start <= datetime.datetime.now(datetime.UTC) < end


async def test_a_new_account_sees_zeroes_and_level_1(client) -> None:
    auth = await sign_up(client)
    for period in ("day", "week", "month", "all"):
        body = (await client.get(DASHBOARD, headers=bearer(auth), params={"period": period})).json()
        figures = {k: v for k, v in body.items() if k not in ("period", "from", "to", "level", "events_by_type")}
        assert set(figures.values()) == {0}, period
        assert (body["level"], body["events_by_type"]) == (1, [])


async def test_tracked_events_by_type_are_the_top_20_most_frequent(client, db) -> None:
    auth, other = await sign_up(client), await sign_up(client)
    for _ in range(3):
        assert (await client.post(TRACK, headers=bearer(auth), json={"event_type": "recipe_viewed"})).status_code == 202
    await client.post(TRACK, headers=bearer(auth), json={"event_type": "scan_started", "event_data": {"n": 1}})
    for _ in range(5):
        await client.post(TRACK, headers=bearer(other), json={"event_type": "other_users_event"})
    body = (await client.get(DASHBOARD, headers=bearer(auth), params={"period": "day"})).json()
    assert body["events_by_type"] == [
        {"event_type": "recipe_viewed", "count": 3},
        {"event_type": "scan_started", "count": 1},
    ]
    assert body["events_tracked"] == 4
    # 25 types: the 20 most frequent, ties by name.
    await db.execute(
        "insert into analytics_events (user_id, event_type)"
        " select $1, 'type_' || lpad(t::text, 2, '0') from generate_series(1, 25) t, generate_series(1, 1 + t % 4)",
        uuid.UUID(auth["user"]["id"]),
    )
    body = (await client.get(DASHBOARD, headers=bearer(auth), params={"period": "all"})).json()
    counts = {f"type_{t:02d}": 1 + t % 4 for t in range(1, 26)} | {"recipe_viewed": 3, "scan_started": 1}
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:20]
    assert body["events_by_type"] == [{"event_type": name, "count": count} for name, count in top]
    assert body["events_tracked"] == sum(counts.values())


async def test_figures_from_the_routes_are_counted(client) -> None:
    auth = await sign_up(client)
    headers = bearer(auth)
    await client.post("/api/v1/gamification/add-xp", headers=headers, json={"action": "daily_check_in"})
    body = (await client.get(DASHBOARD, headers=headers, params={"period": "day"})).json()
    assert (body["xp_earned"], body["total_xp"], body["level"]) == (5, 5, 1)


@pytest.mark.parametrize("period", ["year", "Week", ""])
async def test_unknown_periods_are_refused(client, period: str) -> None:
    auth = await sign_up(client)
    response = await client.get(DASHBOARD, headers=bearer(auth), params={"period": period})
    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")


async def test_the_dashboard_requires_a_signed_in_caller(client) -> None:
    response = await client.get(DASHBOARD)
    assert (response.status_code, response.json()["code"]) == (401, "UNAUTHENTICATED")


async def test_the_openapi_schema_documents_both_routes(client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "202" in paths[TRACK]["post"]["responses"]
    assert "period" in {p["name"] for p in paths[DASHBOARD]["get"]["parameters"]}
