"""Scanning against a loopback OpenAI-compatible fake: image checks and downscaling, strict decoding of the model's
structured reply, normalisation, retries, the daily limit, ownership, image retention and AI cost accounting."""

from __future__ import annotations

import asyncio
import base64
import datetime
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from app.core.ai import AiProvider
from app.core.ratelimit import PostgresCounters, RateLimiter
from app.db.pool import create_pool
from app.db.queries.scans import purge_expired_scan_images
from app.scan import service
from app.server import create_app
from app.settings import AiSettings, OutboundSettings, ScanSettings, Settings
from app.web.services import image_decoding_for
from tests.conftest import make_settings
from tests.fakes.openai import API_KEY, FakeOpenAI, fake_openai
from tests.integration.scan.uploads import png_declaring
from tests.support import bearer, sign_up

ANALYZE = "/api/v1/scan/analyze"
RAW = "/api/v1/scan/ingredients"
FAST = OutboundSettings(retry_attempts=3, retry_initial_seconds=0.01, retry_max_seconds=0.05)


def picture(fmt: str = "JPEG", size: tuple[int, int] = (2000, 1500)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(out, format=fmt)
    return out.getvalue()


def as_base64(data: bytes, prefix: bool = True) -> str:
    encoded = base64.b64encode(data).decode()
    return f"data:image/jpeg;base64,{encoded}" if prefix else encoded


def model_reply(*items: tuple[str, float]) -> dict:
    return {
        "ingredients": [
            {
                "name": name,
                "category": "vegetable",
                "confidence": confidence,
                "variety": None,
                "quantity": None,
                "unit": None,
            }
            for name, confidence in items
        ]
    }


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake


def ai_settings(database_url: str, openai: FakeOpenAI, **scan: int) -> Settings:
    return msgspec.structs.replace(
        make_settings(database_url),
        ai=AiSettings(base_url=openai.base_url, api_key=API_KEY, timeout_seconds=1.0),
        outbound=FAST,
        scan=ScanSettings(**scan),
    )


@pytest.fixture
async def client(database_url: str, openai: FakeOpenAI) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(ai_settings(database_url, openai))) as test_client:
        yield test_client


async def test_a_photo_becomes_normalised_ingredients(client, openai, db: asyncpg.Connection) -> None:
    auth = await sign_up(client)
    many = [(f"Herb {i}", 0.5) for i in range(25)]
    openai.reply_json(model_reply(("  Tomatoes ", 0.9), ("tomatoes", 0.95), ("Basil", 1.7), ("", 0.4), *many))
    response = await client.post(ANALYZE, headers=bearer(auth), json={"image_data": as_base64(picture())})
    assert response.status_code == 200, response.text
    body = response.json()
    names = [i["name"] for i in body["ingredients"]]
    assert names[:2] == ["basil", "tomatoes"]  # lower-cased, trimmed, one entry per name, most confident first
    assert body["ingredients"][0]["confidence"] == 1.0  # clamped
    assert len(names) == 20
    assert body["xp_awarded"] == 10  # scan_completed, in the transaction that stored the scan
    # What the model saw: constant instructions, the image downscaled to 1024 px, re-encoded as JPEG.
    request = openai.requests[0]
    system, user = request["messages"]
    assert system["content"] == service.INSTRUCTIONS
    image_url = user["content"][1]["image_url"]["url"]
    assert image_url.startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(image_url.split(",", 1)[1])))
    assert max(sent.size) == 1024
    assert request["response_format"]["json_schema"]["strict"] is True
    usage = await db.fetchrow("select calls, prompt_tokens, completion_tokens, cost_microdollars from ai_usage")
    assert tuple(usage) == (1, 120, 80, round(120 * 0.15 + 80 * 0.60))
    stored = await db.fetchval("select jsonb_array_length(detected_ingredients) from scans")
    assert stored == 20


async def test_a_raw_image_body_is_accepted_by_its_magic_bytes(client, openai) -> None:
    auth = await sign_up(client)
    openai.reply_json(model_reply(("egg", 0.8)))
    headers = {**bearer(auth), "Content-Type": "image/png"}
    response = await client.post(RAW, headers=headers, content=picture("PNG", (300, 200)))
    assert response.status_code == 200, response.text
    assert response.json()["ingredients"][0]["name"] == "egg"
    wrong = await client.post(RAW, headers={**bearer(auth), "Content-Type": "text/plain"}, content=b"hello")
    assert wrong.status_code == 415


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (picture("GIF", (10, 10)), 415, "IMAGE_TYPE_UNSUPPORTED"),
        (picture()[:2000], 422, "IMAGE_INVALID"),  # truncated JPEG
        (b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), 413, "IMAGE_TOO_LARGE"),
        (png_declaring(12000, 8000), 413, "IMAGE_TOO_MANY_PIXELS"),  # 96 megapixels: a decompression bomb
    ],
)
async def test_bad_images_are_refused_before_the_model_is_asked(client, openai, db, payload, status, code) -> None:
    auth = await sign_up(client)
    response = await client.post(ANALYZE, headers=bearer(auth), json={"image_data": as_base64(payload, prefix=False)})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert openai.requests == []
    assert await db.fetchval("select coalesce(sum(used), 0) from usage_counters") == 0


async def test_invalid_base64_and_unknown_fields_are_refused(client) -> None:
    auth = await sign_up(client)
    bad = await client.post(ANALYZE, headers=bearer(auth), json={"image_data": "data:image/png;base64,@@@"})
    assert (bad.status_code, bad.json()["code"]) == (422, "IMAGE_INVALID")
    extra = await client.post(ANALYZE, headers=bearer(auth), json={"image_data": "x", "xp": 500})
    assert extra.status_code in (400, 422)
    assert (await client.post(ANALYZE, json={"image_data": "x"})).status_code == 401


@pytest.mark.parametrize("script", ["text", "refusal", "cut_off", "wrong_shape"])
async def test_unusable_replies_are_502_and_write_nothing(client, openai, db, script) -> None:
    auth = await sign_up(client)
    if script == "text":
        openai.reply_text("Sure! I see tomatoes and basil.")
    elif script == "refusal":
        openai.reply_refusal()
    elif script == "cut_off":
        openai.reply_cut_off(model_reply(("tomato", 0.9)))
    else:
        openai.reply_json({"ingredients": [{"name": "tomato", "category": "spaceship", "confidence": 1}]})
    response = await client.post(ANALYZE, headers=bearer(auth), json={"image_data": as_base64(picture())})
    assert (response.status_code, response.json()["code"]) == (502, "AI_BAD_RESPONSE")
    assert await db.fetchval("select count(*) from scans") == 0
    assert await db.fetchval("select coalesce(sum(used), 0) from usage_counters") == 0  # the scan was not counted
    assert await db.fetchval("select calls from ai_usage") == 1  # the tokens were spent all the same


async def test_transient_failures_are_retried_and_persistent_ones_are_503(client, openai, db) -> None:
    auth = await sign_up(client)
    openai.reply_status(429, retry_after=0)
    openai.reply_status(503)
    openai.reply_json(model_reply(("rice", 0.7)))
    response = await client.post(ANALYZE, headers=bearer(auth), json={"image_data": as_base64(picture())})
    assert response.status_code == 200, response.text
    assert len(openai.requests) == 3
    openai.reply_slowly(3.0, model_reply(("late", 0.5)))  # beyond AI_TIMEOUT_SECONDS
    openai.reply_status(500, times=2)
    down = await client.post(ANALYZE, headers=bearer(auth), json={"image_data": as_base64(picture())})
    assert (down.status_code, down.json()["code"]) == (
        503,
        "PAYMENT_PROVIDER_UNAVAILABLE" if False else down.json()["code"],
    )
    assert down.json()["code"] == "AI_PROVIDER_UNAVAILABLE"
    assert "retry-after" in down.headers
    assert await db.fetchval("select sum(used) from usage_counters") == 1


async def test_without_a_provider_scanning_is_503_and_counts_nothing(database_url, db) -> None:
    async with AsyncTestClient(app=create_app(make_settings(database_url))) as plain:
        auth = await sign_up(plain)
        response = await plain.post(ANALYZE, headers=bearer(auth), json={"image_data": as_base64(picture())})
    assert (response.status_code, response.json()["code"]) == (503, "AI_PROVIDER_UNCONFIGURED")
    assert await db.fetchval("select count(*) from usage_counters") == 0


async def test_the_free_daily_limit_says_when_it_resets(client, openai) -> None:
    auth = await sign_up(client)
    openai.respond = lambda body: model_reply(("onion", 0.9))
    image = {"image_data": as_base64(picture("JPEG", (64, 64)))}
    for _ in range(5):
        assert (await client.post(ANALYZE, headers=bearer(auth), json=image)).status_code == 200
    refused = await client.post(ANALYZE, headers=bearer(auth), json=image)
    assert (refused.status_code, refused.json()["code"]) == (429, "SCAN_LIMIT_REACHED")
    assert refused.json()["details"][0]["field"] == "resets_at"
    assert len(openai.requests) == 5


async def test_ten_parallel_scans_with_one_left_admit_exactly_one(database_url, openai, db) -> None:
    settings = ai_settings(database_url, openai)
    openai.respond = lambda body: model_reply(("garlic", 0.9))
    async with AsyncTestClient(app=create_app(settings)) as client:
        user_id = uuid.UUID((await sign_up(client))["user"]["id"])
    today = datetime.datetime.now(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    await db.execute(
        "insert into usage_counters (user_id, metric, period_start, used) values ($1, 'scans', $2, 4)", user_id, today
    )
    pool = await create_pool(database_url, settings.database)
    ai = AiProvider(settings)
    decoding = image_decoding_for(settings)
    limiter = RateLimiter(PostgresCounters(), pseudonym_key=b"tests")
    image = picture("JPEG", (64, 64))

    def connect():
        return pool.acquire(timeout=5)

    try:
        outcomes = await asyncio.gather(
            *(
                service.analyze(connect, ai, decoding, limiter, settings, user_id=user_id, upload=image)
                for _ in range(10)
            ),
            return_exceptions=True,
        )
    finally:
        decoding.close()
        await ai.close()
        await pool.close()
    succeeded = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(succeeded) == 1
    assert {getattr(o, "code", None) for o in refused} == {"SCAN_LIMIT_REACHED"}
    assert await db.fetchval("select count(*) from scans") == 1


async def test_scans_are_the_owners_alone(client, openai) -> None:
    owner, other = await sign_up(client), await sign_up(client)
    openai.reply_json(model_reply(("carrot", 0.6)))
    scan_id = (await client.post(ANALYZE, headers=bearer(owner), json={"image_data": as_base64(picture())})).json()[
        "scan_id"
    ]
    assert (await client.get(f"/api/v1/scan/{scan_id}", headers=bearer(owner))).json()["scan"]["id"] == scan_id
    assert (await client.get(f"/api/v1/scan/{scan_id}", headers=bearer(other))).status_code == 404
    correction = {
        "ingredients": [{"name": "Carrots", "category": "vegetable", "confidence": 1, "quantity": 3, "unit": "piece"}]
    }
    assert (
        await client.put(f"/api/v1/scan/{scan_id}/ingredients", headers=bearer(other), json=correction)
    ).status_code == 404
    corrected = await client.put(f"/api/v1/scan/{scan_id}/ingredients", headers=bearer(owner), json=correction)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["scan"]["detected_ingredients"][0]["name"] == "carrots"
    history = await client.get("/api/v1/scan/history", headers=bearer(owner), params={"limit": 10})
    assert [s["id"] for s in history.json()["scans"]] == [scan_id]
    assert (await client.get("/api/v1/scan/history", headers=bearer(other))).json()["scans"] == []
    assert (await client.get("/api/v1/scan/history", headers=bearer(owner), params={"limit": 500})).status_code == 422
    export = (await client.get("/api/v1/auth/export", headers=bearer(owner))).json()
    assert export["scans"][0]["id"] == scan_id
    assert export["ai_usage"][0]["task"] == "scan"


async def test_images_are_kept_only_when_configured_and_only_for_their_owner(database_url, openai, db) -> None:
    openai.respond = lambda body: model_reply(("leek", 0.8))
    async with AsyncTestClient(app=create_app(ai_settings(database_url, openai, image_retention_days=1))) as client:
        owner, other = await sign_up(client), await sign_up(client)
        body = (await client.post(ANALYZE, headers=bearer(owner), json={"image_data": as_base64(picture())})).json()
        scan = (await client.get(f"/api/v1/scan/{body['scan_id']}", headers=bearer(owner))).json()["scan"]
        assert scan["image_url"] == f"/api/v1/scan/{body['scan_id']}/image"
        image = await client.get(scan["image_url"], headers=bearer(owner))
        assert (image.status_code, image.headers["content-type"]) == (200, "image/jpeg")
        assert (await client.get(scan["image_url"], headers=bearer(other))).status_code == 404
    assert "image" not in json.dumps(body)  # the analysis answer carries no image
    await db.execute("update scans set image_expires_at = now() - interval '1 second'")
    assert await purge_expired_scan_images(db, before=datetime.datetime.now(datetime.UTC)) == 1
    assert await db.fetchval("select count(*) from scans where image is not null") == 0


async def test_webp_and_oversized_raw_bodies(client, openai) -> None:
    auth = await sign_up(client)
    openai.reply_json(model_reply(("pear", 0.6)))
    webp = await client.post(RAW, headers={**bearer(auth), "Content-Type": "image/webp"}, content=picture("WEBP"))
    assert webp.status_code == 200, webp.text
    huge = b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024)
    too_big = await client.post(RAW, headers={**bearer(auth), "Content-Type": "image/jpeg"}, content=huge)
    assert too_big.status_code == 413
    no_comma = await client.post(ANALYZE, headers=bearer(auth), json={"image_data": "data:image/png;base64"})
    assert (no_comma.status_code, no_comma.json()["code"]) == (422, "IMAGE_INVALID")


async def test_a_refused_api_key_is_our_problem(database_url, openai) -> None:
    settings = msgspec.structs.replace(
        ai_settings(database_url, openai), ai=AiSettings(base_url=openai.base_url, api_key="sk-wrong")
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        auth = await sign_up(client)
        response = await client.post(ANALYZE, headers=bearer(auth), json={"image_data": as_base64(picture())})
    assert (response.status_code, response.json()["code"]) == (502, "AI_PROVIDER_ERROR")
