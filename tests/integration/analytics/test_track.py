"""POST /api/v1/analytics/track: signed-in callers only, strict event types, bounded payloads (size, depth, keys,
body), per-account rate limits, never any XP, never the payload in the logs; events go with the account's export and
deletion and leave with the retention purge."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import time
import uuid

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.billing.providers import PaymentProviders
from app.creators.billing_hooks import billing_hooks
from app.db.pool import create_pool
from app.ops.jobs import run_locked
from app.server import create_app
from app.settings import AnalyticsSettings
from tests.conftest import make_settings
from tests.support import PASSWORD, bearer, sign_up

TRACK = "/api/v1/analytics/track"


async def track(client, auth: dict, body: object) -> tuple[int, dict]:
    response = await client.post(TRACK, headers=bearer(auth), json=body)
    return response.status_code, response.json()


def nested(depth: int, leaf: object = 1) -> dict:
    """An object whose objects nest `depth` deep (the outermost counts as 1)."""
    value: object = leaf
    for _ in range(depth):
        value = {"k": value}
    assert isinstance(value, dict)
    return value


async def test_a_valid_event_is_accepted_and_stored_as_sent(client, db: asyncpg.Connection) -> None:
    auth = await sign_up(client)
    body = {
        "event_type": "recipe.viewed:detail-v2_x",
        "event_data": {"recipe_id": str(uuid.uuid4()), "source": "suggestions", "position": 3, "tags": ["a", "é"]},
        "metadata": {"app_version": "2.4.1", "platform": "ios", "nested": {"ok": True, "none": None}},
    }
    assert await track(client, auth, body) == (202, {"accepted": True})
    # Absent and null payloads are stored as empty objects.
    assert (await track(client, auth, {"event_type": "app_opened"}))[0] == 202
    assert (await track(client, auth, {"event_type": "a", "event_data": None, "metadata": None}))[0] == 202
    assert (await track(client, auth, {"event_type": "a" * 64, "event_data": {}}))[0] == 202
    rows = await db.fetch(
        "select user_id, event_type, event_data, metadata, received_at from analytics_events order by id"
    )
    assert [str(row["user_id"]) for row in rows] == [auth["user"]["id"]] * 4
    assert [row["event_type"] for row in rows] == ["recipe.viewed:detail-v2_x", "app_opened", "a", "a" * 64]
    assert (rows[0]["event_data"], rows[0]["metadata"]) == (body["event_data"], body["metadata"])
    assert [(row["event_data"], row["metadata"]) for row in rows[1:]] == [({}, {})] * 3
    assert rows[0]["received_at"] <= datetime.datetime.now(datetime.UTC)


@pytest.mark.parametrize(
    "event_type",
    ["", "a" * 65, "Recipe_viewed", "1st_scan", "_scan", "scan viewed", "scan/viewed", "scän", "scan\n", "scan\t", 42],
)
async def test_event_types_outside_the_pattern_are_refused(client, db, event_type: object) -> None:
    auth = await sign_up(client)
    status, body = await track(client, auth, {"event_type": event_type})
    assert (status, body["code"]) == (422, "VALIDATION_ERROR")
    assert [d["field"] for d in body["details"]] == ["event_type"]
    assert await db.fetchval("select count(*) from analytics_events") == 0


async def test_the_event_type_and_only_the_known_fields_are_accepted(client) -> None:
    auth = await sign_up(client)
    status, body = await track(client, auth, {"event_data": {}})
    assert (status, body["code"]) == (422, "VALIDATION_ERROR")
    status, body = await track(client, auth, {"event_type": "x", "user_id": str(uuid.uuid4())})
    assert (status, body["code"], body["details"][0]["field"]) == (422, "VALIDATION_ERROR", "user_id")


@pytest.mark.parametrize("field", ["event_data", "metadata"])
@pytest.mark.parametrize("value", ["a string", ["a", "list"], 5, 1.5, True])
async def test_payloads_must_be_json_objects(client, db, field: str, value: object) -> None:
    auth = await sign_up(client)
    status, body = await track(client, auth, {"event_type": "x", field: value})
    assert (status, body["code"]) == (422, "VALIDATION_ERROR")
    assert [d["field"] for d in body["details"]] == [field]
    assert await db.fetchval("select count(*) from analytics_events") == 0


@pytest.mark.parametrize("field", ["event_data", "metadata"])
async def test_payloads_over_4_kb_are_refused_with_413(client, db, field: str) -> None:
    auth = await sign_up(client)
    # {"k":"..."} is 8 bytes plus the string: 4,096 bytes in all is the largest accepted.
    assert (await track(client, auth, {"event_type": "x", field: {"k": "x" * 4088}}))[0] == 202
    status, body = await track(client, auth, {"event_type": "x", field: {"k": "x" * 4089}})
    assert (status, body["code"]) == (413, "ANALYTICS_PAYLOAD_TOO_LARGE")
    assert body["details"] == [{"message": f"{field} may be at most 4096 bytes of JSON.", "field": field}]
    # Bytes of UTF-8, not characters: "é" takes two.
    status, body = await track(client, auth, {"event_type": "x", field: {"k": "é" * 2045}})
    assert (status, body["code"]) == (413, "ANALYTICS_PAYLOAD_TOO_LARGE")
    assert await db.fetchval("select count(*) from analytics_events") == 1


async def test_bodies_over_16_kb_are_refused_before_they_are_read(client, db) -> None:
    auth = await sign_up(client)
    body = json.dumps({"event_type": "x", "event_data": {"k": "x" * 17_000}})
    response = await client.post(TRACK, headers={**bearer(auth), "Content-Type": "application/json"}, content=body)
    assert (response.status_code, response.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert await db.fetchval("select count(*) from analytics_events") == 0


@pytest.mark.parametrize("field", ["event_data", "metadata"])
async def test_payloads_nested_deeper_than_5_are_refused(client, db, field: str) -> None:
    auth = await sign_up(client)
    assert (await track(client, auth, {"event_type": "x", field: nested(5)}))[0] == 202
    assert (await track(client, auth, {"event_type": "x", field: nested(4, leaf=[1, "two"])}))[0] == 202
    for too_deep in (nested(6), nested(5, leaf={}), nested(4, leaf=[[[]]]), {"a": [[[[[1]]]]]}):
        status, body = await track(client, auth, {"event_type": "x", field: too_deep})
        assert (status, body["code"]) == (422, "ANALYTICS_PAYLOAD_TOO_DEEP"), too_deep
        assert body["details"][0]["field"] == field
    assert await db.fetchval("select count(*) from analytics_events") == 2


async def test_json_nested_thousands_deep_is_a_clear_400_not_a_500(client, db) -> None:
    auth = await sign_up(client)
    body = '{"event_type": "x", "event_data": {"k": ' + "[" * 5000 + "]" * 5000 + "}}"
    response = await client.post(TRACK, headers={**bearer(auth), "Content-Type": "application/json"}, content=body)
    assert (response.status_code, response.json()["code"]) == (400, "JSON_TOO_DEEP")
    assert await db.fetchval("select count(*) from analytics_events") == 0


@pytest.mark.parametrize("field", ["event_data", "metadata"])
async def test_payloads_with_more_than_50_keys_are_refused(client, db, field: str) -> None:
    auth = await sign_up(client)
    fifty = {f"k{i}": i for i in range(50)}
    assert (await track(client, auth, {"event_type": "x", field: fifty}))[0] == 202
    # Keys are counted in every nested object: 40 + 1 + 10 = 51.
    spread = {**{f"k{i}": i for i in range(40)}, "inner": {f"n{i}": i for i in range(10)}}
    for too_many in ({f"k{i}": i for i in range(51)}, spread, {"list": [{"a": 1}] * 50}):
        status, body = await track(client, auth, {"event_type": "x", field: too_many})
        assert (status, body["code"]) == (422, "ANALYTICS_PAYLOAD_TOO_MANY_KEYS")
        assert body["details"][0]["field"] == field
    assert await db.fetchval("select count(*) from analytics_events") == 1


async def test_nul_characters_which_jsonb_cannot_store_are_refused(client, db) -> None:
    auth = await sign_up(client)
    for payload in ({"k": "a\x00b"}, {"a\x00": 1}, {"k": ["\x00"]}):
        status, body = await track(client, auth, {"event_type": "x", "metadata": payload})
        assert (status, body["code"]) == (400, "INVALID_TEXT")  # refused for every body (app/core/json_body.py)
    assert await db.fetchval("select count(*) from analytics_events") == 0


async def test_malformed_json_and_other_content_types(client, db) -> None:
    auth = await sign_up(client)
    headers = {**bearer(auth), "Content-Type": "application/json"}
    for broken in (
        '{"event_type": "x", ',
        "{'event_type': 'x'}",
        '{"event_type": "x", "event_data": {"k": "\\ud800"}}',
    ):
        response = await client.post(TRACK, headers=headers, content=broken)
        assert (response.status_code, response.json()["code"]) == (400, "MALFORMED_JSON"), broken
    response = await client.post(TRACK, headers={**bearer(auth), "Content-Type": "text/plain"}, content="x")
    assert response.status_code == 415
    assert await db.fetchval("select count(*) from analytics_events") == 0


async def test_tracking_requires_a_signed_in_caller(client, db) -> None:
    response = await client.post(TRACK, json={"event_type": "app_opened"})
    assert (response.status_code, response.json()["code"]) == (401, "UNAUTHENTICATED")
    response = await client.post(TRACK, headers={"Authorization": "Bearer nope"}, json={"event_type": "app_opened"})
    assert response.status_code == 401
    auth = await sign_up(client)
    await client.post("/api/v1/auth/signout", headers=bearer(auth), json={})
    assert (await client.post(TRACK, headers=bearer(auth), json={"event_type": "app_opened"})).status_code == 401
    assert await db.fetchval("select count(*) from analytics_events") == 0


async def test_tracking_never_awards_xp(client, db) -> None:
    auth = await sign_up(client)
    recipe_id = str(uuid.uuid4())
    for event_type, data in (
        ("recipe_cooked", {"recipe_id": recipe_id, "xp": 50, "xp_amount": 100000}),
        ("xp_awarded", {"amount": 5000, "action": "daily_check_in"}),
        ("daily_check_in", {"xp_amount": 5}),
        ("level_up", {"level": 99, "total_xp": 1_000_000}),
        ("achievement_unlocked", {"slug": "first_scan", "xp": 100}),
        ("scan_completed", {"scan_id": recipe_id, "amount": 10}),
    ):
        status, _ = await track(client, auth, {"event_type": event_type, "event_data": data, "metadata": {"xp": 1}})
        assert status == 202
    assert await db.fetchval("select count(*) from analytics_events") == 6
    assert await db.fetchval("select count(*) from xp_ledger") == 0
    assert await db.fetchval("select count(*) from xp_totals") == 0
    progress = (await client.get("/api/v1/gamification/progress", headers=bearer(auth))).json()
    assert (progress["total_xp"], progress["level"]) == (0, 1)


async def test_the_payload_is_never_logged(client, caplog: pytest.LogCaptureFixture) -> None:
    auth = await sign_up(client)
    marker = "do-not-log-" + uuid.uuid4().hex
    logging.getLogger().addHandler(caplog.handler)  # the app replaced the root's handlers when it started
    try:
        for body in (
            {"event_type": "x", "event_data": {"secret": marker}, "metadata": {"note": marker}},
            {"event_type": "x", "event_data": {"secret": marker, "pad": "x" * 5000}},
            {"event_type": "x", "event_data": nested(7, leaf=marker)},
            {"event_type": "x", "event_data": marker},
        ):
            await client.post(TRACK, headers=bearer(auth), json=body)
    finally:
        logging.getLogger().removeHandler(caplog.handler)
    assert caplog.records, "the access log should have written something"
    assert marker not in caplog.text
    assert all(marker not in str(record.__dict__) for record in caplog.records)


def limited_app(database_url: str, **limits: int):
    settings = msgspec.structs.replace(make_settings(database_url), analytics=AnalyticsSettings(**limits))
    return create_app(settings)


async def test_each_account_may_track_so_many_events_a_minute(database_url: str, db) -> None:
    async with AsyncTestClient(app=limited_app(database_url, events_per_minute=3)) as client:
        auth, other = await sign_up(client), await sign_up(client)
        if time.time() % 60 > 55:  # all four requests must fall into one minute's window
            await asyncio.sleep(61 - time.time() % 60)
        for _ in range(3):
            assert (await track(client, auth, {"event_type": "x"}))[0] == 202
        refused = await client.post(TRACK, headers=bearer(auth), json={"event_type": "x"})
        assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
        assert 1 <= int(refused.headers["retry-after"]) <= 61
        # Refused attempts are not stored; other accounts have their own allowance.
        assert (await track(client, other, {"event_type": "x"}))[0] == 202
    assert await db.fetchval("select count(*) from analytics_events") == 4


async def test_each_account_may_track_so_many_events_a_utc_day(database_url: str, db) -> None:
    async with AsyncTestClient(app=limited_app(database_url, events_per_day=2)) as client:
        auth = await sign_up(client)
        for _ in range(2):
            assert (await track(client, auth, {"event_type": "x"}))[0] == 202
        refused = await client.post(TRACK, headers=bearer(auth), json={"event_type": "x"})
        assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
        now = datetime.datetime.now(datetime.UTC)
        midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        assert abs(int(refused.headers["retry-after"]) - (midnight - now).total_seconds()) <= 5
    assert await db.fetchval("select count(*) from analytics_events") == 2


async def test_events_are_exported_newest_first_and_capped(client, db) -> None:
    auth, other = await sign_up(client), await sign_up(client)
    await track(client, auth, {"event_type": "first", "event_data": {"n": 1}, "metadata": {"m": "a"}})
    await track(client, auth, {"event_type": "second", "event_data": {"n": 2}})
    await track(client, other, {"event_type": "not_mine", "event_data": {"owner": other["user"]["id"]}})
    exported = (await client.get("/api/v1/auth/export", headers=bearer(auth))).json()["analytics_events"]
    assert [(e["event_type"], e["event_data"], e["metadata"]) for e in exported] == [
        ("second", {"n": 2}, {}),
        ("first", {"n": 1}, {"m": "a"}),
    ]
    assert all("received_at" in e for e in exported)
    # The newest 10,000 only.
    await db.execute(
        "insert into analytics_events (user_id, event_type, event_data, received_at)"
        " select $1, 'bulk', jsonb_build_object('i', i), now() - make_interval(secs => i)"
        " from generate_series(1, 10005) i",
        uuid.UUID(auth["user"]["id"]),
    )
    exported = (await client.get("/api/v1/auth/export", headers=bearer(auth))).json()["analytics_events"]
    assert len(exported) == 10_000
    assert [e["event_type"] for e in exported[:2]] == ["second", "first"]
    assert exported[-1]["event_data"] == {"i": 9998}


async def test_events_are_erased_with_the_account(client, db) -> None:
    auth, other = await sign_up(client), await sign_up(client)
    await track(client, auth, {"event_type": "x"})
    await track(client, other, {"event_type": "x"})
    deleted = await client.request(
        "DELETE", "/api/v1/auth/account", headers=bearer(auth), json={"confirm_password": PASSWORD}
    )
    assert deleted.status_code == 200, deleted.text
    rows = await db.fetch("select user_id from analytics_events")
    assert [str(row["user_id"]) for row in rows] == [other["user"]["id"]]


async def test_purge_expired_deletes_events_past_the_retention(client, db, database_url: str) -> None:
    auth = await sign_up(client)
    await db.execute(
        "insert into analytics_events (user_id, event_type, received_at)"
        " select $1, t, now() - d from (values ('old', interval '181 days'), ('kept', interval '179 days'),"
        " ('recent', interval '1 minute')) v(t, d)",
        uuid.UUID(auth["user"]["id"]),
    )
    settings = make_settings(database_url)
    assert settings.analytics.retention_days == 180
    pool = await create_pool(database_url, settings.database)
    payments = PaymentProviders.create(settings, billing_hooks())
    try:
        outcome = await run_locked("purge-expired", pool, settings, payments)
        assert "deleted 1 analytics event(s) past retention" in outcome
        assert {r["event_type"] for r in await db.fetch("select event_type from analytics_events")} == {
            "kept",
            "recent",
        }
        shorter = msgspec.structs.replace(settings, analytics=AnalyticsSettings(retention_days=30))
        assert "deleted 1 analytics event(s)" in await run_locked("purge-expired", pool, shorter, payments)
        assert await db.fetchval("select array_agg(event_type) from analytics_events") == ["recent"]
    finally:
        await payments.close()
        await pool.close()
