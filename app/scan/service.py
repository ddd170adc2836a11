"""Scanning: an image becomes a normalised list of ingredients through the AI provider, counted against the
caller's daily scan limit, and stored as the caller's scan."""

from __future__ import annotations

import datetime
import re
import uuid

import msgspec

from app.billing import usage
from app.billing.entitlements import limits_for
from app.core.ai import AiProvider
from app.core.bounded_threads import BoundedThreads
from app.core.errors import NotFound
from app.core.ratelimit import RateLimit, RateLimiter
from app.db.queries import scans as q
from app.db.types import Connection, ConnectionSource
from app.gamification import achievements
from app.gamification.xp import award
from app.scan.images import prepared
from app.scan.schemas import (
    MAX_INGREDIENTS,
    DetectedIngredient,
    ModelIngredient,
    ModelScan,
    ScanResponse,
    ScanResult,
)
from app.settings import Settings

SCAN_METRIC = "scans"
HISTORY_MAX = 50
# Constant: nothing a user sends is ever part of these instructions.
INSTRUCTIONS = (
    "You identify food ingredients in a photo of someone's kitchen, fridge or shopping. List each distinct edible "
    'ingredient you can see (at most 20), with a short common English name in the singular ("tomato", not '
    '"Tomatoes"), its category, your confidence from 0 to 1, and a variety, quantity and unit only when they are '
    "visible (for example 3 piece, 500 g); otherwise null. Do not list non-food objects, packaging or brands. If "
    "there is no food, return an empty list."
)
_SPACES = re.compile(r"\s+")


def normalised(ingredients: list[ModelIngredient]) -> list[DetectedIngredient]:
    """Trimmed lowercase names (one entry per name, the most confident), confidence clamped to 0..1, quantities
    kept only when positive, at most MAX_INGREDIENTS, most confident first."""
    best: dict[str, DetectedIngredient] = {}
    for item in ingredients:
        name = _SPACES.sub(" ", item.name).strip().lower()[:80]
        if not name:
            continue
        detected = DetectedIngredient(
            name=name,
            category=item.category,
            confidence=round(min(1.0, max(0.0, item.confidence)), 3),
            variety=_short(item.variety),
            quantity=item.quantity if item.quantity is not None and 0 < item.quantity <= 100_000 else None,
            unit=_short(item.unit),
        )
        if name not in best or best[name].confidence < detected.confidence:
            best[name] = detected
    return sorted(best.values(), key=lambda d: (-d.confidence, d.name))[:MAX_INGREDIENTS]


def _short(value: str | None) -> str | None:
    text = _SPACES.sub(" ", value).strip()[:40] if value else ""
    return text or None


def overall_confidence(ingredients: list[DetectedIngredient]) -> float:
    return round(sum(i.confidence for i in ingredients) / len(ingredients), 3) if ingredients else 0.0


async def analyze(
    connect: ConnectionSource,
    ai: AiProvider,
    decoding: BoundedThreads,
    rate_limiter: RateLimiter,
    settings: Settings,
    *,
    user_id: uuid.UUID,
    upload: bytes,
) -> ScanResponse:
    """The caller's upload becomes a stored scan. Checked in order of cost, so that nobody who may not scan makes
    the server look at an image: the provider is configured, the caller's attempts this minute, AI budget and
    daily scans are left,
    then the image (header, then decoding on `decoding`'s threads)."""
    ai.require_configured()  # before counting a use
    async with connect() as conn:
        await rate_limiter.check(
            conn, [(RateLimit("scan-attempts", settings.scan.attempts_per_minute, 60), str(user_id))]
        )
    await ai.check_budget(connect, user_id)
    async with connect() as conn:
        limits = await limits_for(conn, user_id)
    daily = limits.scans_per_day if limits.scans_per_day is not None else settings.scan.fair_use_per_day
    # A refused image gives the use back, like a provider failure: the allowance counts scans, not attempts.
    async with usage.reserved(
        connect, user_id, SCAN_METRIC, limit=daily, period="day", limit_code="SCAN_LIMIT_REACHED"
    ):
        image = await prepared(upload, decoding, settings.scan.max_image_pixels)
        reply = await ai.complete(
            connect,
            task="scan",
            model=settings.ai.scan_model,
            instructions=INSTRUCTIONS,
            data={"request": "ingredients in the attached photo"},
            schema_type=ModelScan,
            user_id=user_id,
            images=(image,),
        )
    ingredients = normalised(reply.value.ingredients)
    confidence = overall_confidence(ingredients)
    keep_days = settings.scan.image_retention_days
    async with connect() as conn, conn.transaction():
        row = await q.insert_scan(
            conn,
            user_id=user_id,
            detected_ingredients=ingredients,
            confidence_score=confidence,
            model=reply.model[:100],
            image=image.data if keep_days > 0 else None,
            image_content_type=image.content_type if keep_days > 0 else None,
            image_expires_at=_now() + datetime.timedelta(days=keep_days) if keep_days > 0 else None,
        )
        assert row is not None  # insert ... returning
        # A scan that found nothing earns nothing (no XP for photographing the ceiling).
        xp = (await award(conn, user_id, "scan_completed", str(row.id))).xp_awarded if ingredients else 0
        await achievements.evaluate(conn, user_id)
    return ScanResponse(scan_id=row.id, ingredients=ingredients, confidence_score=confidence, xp_awarded=xp)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _result(row: q.GetScanRow | q.ListScansRow | q.CorrectScanRow) -> ScanResult:
    return ScanResult(
        id=row.id,
        user_id=row.user_id,
        detected_ingredients=msgspec.convert(row.detected_ingredients, list[DetectedIngredient]),
        confidence_score=round(row.confidence_score, 3),
        created_at=row.created_at,
        image_url=f"/api/v1/scan/{row.id}/image" if row.has_image else None,
    )


async def history(conn: Connection, user_id: uuid.UUID, *, limit: int, offset: int) -> list[ScanResult]:
    rows = await q.list_scans(conn, user_id=user_id, max_rows=min(limit, HISTORY_MAX), skip=offset)
    return [_result(row) for row in rows]


async def get_scan(conn: Connection, user_id: uuid.UUID, scan_id: uuid.UUID) -> ScanResult:
    row = await q.get_scan(conn, id=scan_id, user_id=user_id)
    if row is None:
        raise NotFound("SCAN_NOT_FOUND", "There is no such scan in your history.")
    return _result(row)


async def correct(
    conn: Connection, user_id: uuid.UUID, scan_id: uuid.UUID, ingredients: list[DetectedIngredient]
) -> ScanResult:
    """The user's own corrections replace the detected list (normalised the same way)."""
    cleaned = normalised(
        [ModelIngredient(i.name, i.category, i.confidence, i.variety, i.quantity, i.unit) for i in ingredients]
    )
    row = await q.correct_scan(
        conn, id=scan_id, user_id=user_id, detected_ingredients=cleaned, confidence_score=overall_confidence(cleaned)
    )
    if row is None:
        raise NotFound("SCAN_NOT_FOUND", "There is no such scan in your history.")
    return _result(row)


async def image_of(conn: Connection, user_id: uuid.UUID, scan_id: uuid.UUID) -> tuple[bytes, str]:
    row = await q.get_scan_image(conn, id=scan_id, user_id=user_id)
    if row is None or row.image is None or row.image_content_type is None:
        raise NotFound("SCAN_IMAGE_NOT_FOUND", "This scan has no stored image.")
    return row.image, row.image_content_type
