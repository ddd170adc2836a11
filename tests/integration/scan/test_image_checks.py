"""The order of a scan's checks: an upload is looked at only after the caller, the provider and the caller's
allowances have been checked; then its header's declared size against the pixel budget; only then is it decoded
(reduced while decoding, on the scan's own threads) and turned upright by its EXIF orientation."""

from __future__ import annotations

import asyncio
import base64
import datetime
import io
import threading
import uuid
from collections.abc import Iterator

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from app.server import create_app
from tests.conftest import make_settings
from tests.fakes.openai import FakeOpenAI, fake_openai
from tests.integration.scan.test_scan import RAW, ai_settings, model_reply
from tests.integration.scan.uploads import jpeg_declaring, png_declaring, webp_declaring
from tests.support import bearer, sign_up


def photo(size: tuple[int, int], orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.new("RGB", size, (90, 140, 60)).save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def sent_image(openai: FakeOpenAI) -> Image.Image:
    url = openai.requests[-1]["messages"][1]["content"][1]["image_url"]["url"]
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake


CORRUPT = png_declaring(64, 64)
BOMB = png_declaring(100_000, 100_000)  # 10 gigapixels declared in 57 bytes


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [
        ("unconfigured", 503, "AI_PROVIDER_UNCONFIGURED"),
        ("scan_limit", 429, "SCAN_LIMIT_REACHED"),
        ("ai_budget", 429, "AI_BUDGET_REACHED"),
    ],
)
async def test_the_provider_and_the_allowances_are_checked_before_the_image(
    database_url, openai, db, refusal, status, code
) -> None:
    settings = ai_settings(database_url, openai)
    if refusal == "unconfigured":
        settings = make_settings(database_url)
    elif refusal == "ai_budget":
        settings = msgspec.structs.replace(settings, ai=msgspec.structs.replace(settings.ai, user_daily_budget_usd=0))
    async with AsyncTestClient(app=create_app(settings)) as client:
        auth = await sign_up(client)
        if refusal == "scan_limit":
            today = datetime.datetime.now(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            await db.execute(
                "insert into usage_counters (user_id, metric, period_start, used) values ($1, 'scans', $2, 5)",
                uuid.UUID(auth["user"]["id"]),
                today,
            )
        for upload in (CORRUPT, BOMB):
            response = await client.post(RAW, headers={**bearer(auth), "Content-Type": "image/png"}, content=upload)
            assert (response.status_code, response.json()["code"]) == (status, code)
            assert "retry-after" in response.headers
    assert openai.requests == []


@pytest.mark.parametrize(
    ("upload", "content_type"),
    [
        (png_declaring(8000, 6000), "image/png"),  # 48 megapixels declared
        (jpeg_declaring(8000, 6000), "image/jpeg"),
        (webp_declaring(8000, 6000), "image/webp"),
        (BOMB, "image/png"),
    ],
    ids=["png", "jpeg", "webp", "10-gigapixel-png"],
)
async def test_an_image_declaring_more_pixels_than_the_budget_is_413_unread(
    database_url, openai, db, upload, content_type
) -> None:
    async with AsyncTestClient(app=create_app(ai_settings(database_url, openai))) as client:
        auth = await sign_up(client)
        response = await client.post(RAW, headers={**bearer(auth), "Content-Type": content_type}, content=upload)
    body = response.json()
    assert (response.status_code, body["code"]) == (413, "IMAGE_TOO_MANY_PIXELS")
    assert "40 megapixels" in body["message"] and body["request_id"]
    assert openai.requests == []
    assert await db.fetchval("select coalesce(sum(used), 0) from usage_counters") == 0  # the use is given back


async def test_the_pixel_budget_is_a_setting_and_reads_the_header(database_url, openai) -> None:
    settings = ai_settings(database_url, openai, max_image_pixels=50_000)
    openai.respond = lambda body: model_reply(("kale", 0.7))
    async with AsyncTestClient(app=create_app(settings)) as client:
        auth = await sign_up(client)
        headers = {**bearer(auth), "Content-Type": "image/jpeg"}
        assert (await client.post(RAW, headers=headers, content=photo((250, 200)))).status_code == 200
        refused = await client.post(RAW, headers=headers, content=photo((300, 200)))  # a sound image, 60,000 px
    assert (refused.status_code, refused.json()["code"]) == (413, "IMAGE_TOO_MANY_PIXELS")
    assert len(openai.requests) == 1


async def test_a_sideways_phone_photo_reaches_the_model_upright(database_url, openai) -> None:
    openai.respond = lambda body: model_reply(("leek", 0.8))
    async with AsyncTestClient(app=create_app(ai_settings(database_url, openai))) as client:
        auth = await sign_up(client)
        headers = {**bearer(auth), "Content-Type": "image/jpeg"}
        # Stored 2400 x 1200 with Orientation 6 ("rotate 90° clockwise to view"): a portrait photo.
        response = await client.post(RAW, headers=headers, content=photo((2400, 1200), orientation=6))
        assert response.status_code == 200, response.text
    sent = sent_image(openai)
    assert sent.size == (512, 1024)
    assert sent.getexif().get(0x0112) is None  # no orientation left to apply twice (and no metadata at all)


async def test_uploads_decode_on_scannings_own_threads_and_a_busy_pool_is_503(database_url, openai, db) -> None:
    settings = ai_settings(database_url, openai, decode_threads=1)
    settings = msgspec.structs.replace(settings, scan=msgspec.structs.replace(settings.scan, decode_wait_seconds=0.05))
    async with AsyncTestClient(app=create_app(settings)) as client:
        auth = await sign_up(client)
        decoding = client.app.state.services.image_decoding
        release, started = threading.Event(), threading.Event()

        def occupy() -> None:
            started.set()
            release.wait(5)

        busy = asyncio.ensure_future(decoding.run(occupy))  # the pool's one thread, taken
        await asyncio.to_thread(started.wait, 5)
        headers = {**bearer(auth), "Content-Type": "image/jpeg"}
        refused = await client.post(RAW, headers=headers, content=photo((64, 64)))
        release.set()
        await busy
    assert (refused.status_code, refused.json()["code"]) == (503, "IMAGE_DECODER_BUSY")
    assert refused.headers["retry-after"] == "1"
    assert openai.requests == []
    assert await db.fetchval("select coalesce(sum(used), 0) from usage_counters") == 0  # the scan is given back


async def test_attempts_are_limited_a_minute_even_when_each_image_is_refused(database_url, openai) -> None:
    """A refused image gives the day's scan back, so the daily limit alone would let one account make the server
    read uploads without end: attempts are counted a minute, before anything else is spent."""
    settings = ai_settings(database_url, openai)
    settings = msgspec.structs.replace(settings, scan=msgspec.structs.replace(settings.scan, attempts_per_minute=3))
    async with AsyncTestClient(app=create_app(settings)) as client:
        auth = await sign_up(client)
        headers = {**bearer(auth), "Content-Type": "image/png"}
        answers = [(await client.post(RAW, headers=headers, content=CORRUPT)) for _ in range(4)]
        assert [a.status_code for a in answers] == [422, 422, 422, 429]
        assert answers[-1].json()["code"] == "RATE_LIMITED" and "retry-after" in answers[-1].headers
        other = await sign_up(client)  # counted per account
        response = await client.post(RAW, headers={**bearer(other), "Content-Type": "image/png"}, content=CORRUPT)
        assert response.status_code == 422
    assert not openai.requests
