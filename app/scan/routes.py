"""/api/v1/scan: analyze an image (base64 JSON or a raw image body), history, one scan, corrections, the image."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from app.core.ai import AiProvider
from app.core.bounded_threads import BoundedThreads
from app.core.identity import CurrentUser, provide_caller, provide_caller_briefly
from app.core.ratelimit import RateLimiter
from app.db.types import Connection, ConnectionSource
from app.scan import service
from app.scan.images import MAX_IMAGE_BYTES, decode_base64_image
from app.scan.schemas import AnalyzeRequest, CorrectionRequest, ScanEnvelope, ScanHistory, ScanResponse
from app.settings import Settings

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
CALLER = {"caller": Provide(provide_caller)}
# Analysis waits on the AI provider: no pooled connection is held meanwhile (see provide_caller_briefly).
BRIEF_CALLER = {"caller": Provide(provide_caller_briefly)}


class ScanController(Controller):
    path = "/api/v1/scan"
    tags = ["scan"]

    @post(
        "/analyze",
        status_code=200,
        operation_id="analyzeScan",
        dependencies=BRIEF_CALLER,
        request_max_body_size=MAX_IMAGE_BYTES * 4 // 3 + 4096,  # base64 of 10 MB, with a data: prefix
    )
    async def analyze(
        self,
        *,
        connect: NamedDependency[ConnectionSource],
        ai: NamedDependency[AiProvider],
        image_decoding: NamedDependency[BoundedThreads],
        rate_limiter: NamedDependency[RateLimiter],
        settings: NamedDependency[Settings],
        caller: NamedDependency[CurrentUser],
        data: JSONBody[AnalyzeRequest],
    ) -> ScanResponse:
        """A base64 photo (JPEG, PNG or WebP, at most 10 MB decoded) becomes a list of ingredients. 413
        IMAGE_TOO_LARGE or IMAGE_TOO_MANY_PIXELS; 415 IMAGE_TYPE_UNSUPPORTED; 422 IMAGE_INVALID."""
        upload = decode_base64_image(data.image_data)
        return await service.analyze(
            connect, ai, image_decoding, rate_limiter, settings, user_id=caller.id, upload=upload
        )

    @post(
        "/ingredients",
        status_code=200,
        operation_id="scanIngredients",
        dependencies=BRIEF_CALLER,
        opt={"content_types": IMAGE_TYPES},
        request_max_body_size=MAX_IMAGE_BYTES,
    )
    async def ingredients(
        self,
        *,
        connect: NamedDependency[ConnectionSource],
        ai: NamedDependency[AiProvider],
        image_decoding: NamedDependency[BoundedThreads],
        rate_limiter: NamedDependency[RateLimiter],
        settings: NamedDependency[Settings],
        request: Request[Any, Any, Any],
        caller: NamedDependency[CurrentUser],
    ) -> ScanResponse:
        """The same from a raw image body (Content-Type image/jpeg, image/png or image/webp). 413 IMAGE_TOO_LARGE or
        IMAGE_TOO_MANY_PIXELS; 415 IMAGE_TYPE_UNSUPPORTED; 422 IMAGE_INVALID."""
        return await service.analyze(
            connect, ai, image_decoding, rate_limiter, settings, user_id=caller.id, upload=await request.body()
        )

    @get("/history", operation_id="scanHistory", dependencies=CALLER)
    async def history(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        limit: Annotated[int, QueryParameter(ge=1, le=service.HISTORY_MAX)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=100_000)] = 0,
    ) -> ScanHistory:
        """The caller's scans, newest first."""
        return ScanHistory(scans=await service.history(db, caller.id, limit=limit, offset=offset))

    @get("/{scan_id:uuid}", operation_id="getScan", dependencies=CALLER)
    async def get_scan(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], scan_id: FromPath[uuid.UUID]
    ) -> ScanEnvelope:
        """One of the caller's scans (404 SCAN_NOT_FOUND for any other)."""
        return ScanEnvelope(scan=await service.get_scan(db, caller.id, scan_id))

    @put("/{scan_id:uuid}/ingredients", operation_id="correctScan", dependencies=CALLER)
    async def correct(
        self,
        db: NamedDependency[Connection],
        caller: NamedDependency[CurrentUser],
        scan_id: FromPath[uuid.UUID],
        data: JSONBody[CorrectionRequest],
    ) -> ScanEnvelope:
        """The user's corrections replace the detected ingredients (own scans only: 404 SCAN_NOT_FOUND)."""
        return ScanEnvelope(scan=await service.correct(db, caller.id, scan_id, data.ingredients))

    @get("/{scan_id:uuid}/image", operation_id="scanImage", dependencies=CALLER)
    async def image(
        self, db: NamedDependency[Connection], caller: NamedDependency[CurrentUser], scan_id: FromPath[uuid.UUID]
    ) -> Response[bytes]:
        """The stored, downscaled image of the caller's own scan, while SCAN_IMAGE_RETENTION_DAYS keeps it. 404
        SCAN_NOT_FOUND or SCAN_IMAGE_NOT_FOUND."""
        data, content_type = await service.image_of(db, caller.id, scan_id)
        return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=3600"})
