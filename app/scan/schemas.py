"""Scan requests and responses (field names fixed by the mobile app's contract) and the AI's structured reply."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated

import msgspec

from app.ingredients.schemas import CategoryName as Category

MAX_INGREDIENTS = 20
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
ShortText = Annotated[str, msgspec.Meta(max_length=40)]


class DetectedIngredient(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    category: Category
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]
    variety: ShortText | None = None
    quantity: Annotated[float, msgspec.Meta(gt=0, le=100_000)] | None = None
    unit: ShortText | None = None


class AnalyzeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Base64 (a "data:image/...;base64," prefix is allowed) of at most 10 MB decoded.
    image_data: Annotated[str, msgspec.Meta(min_length=1, max_length=14_000_100)]


class CorrectionRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ingredients: Annotated[list[DetectedIngredient], msgspec.Meta(max_length=MAX_INGREDIENTS)]


class ScanResponse(msgspec.Struct, frozen=True):
    scan_id: uuid.UUID
    ingredients: list[DetectedIngredient]
    confidence_score: float
    xp_awarded: int = 0  # scan_completed, from xp_actions (0 when capped or nothing was found)


class ScanResult(msgspec.Struct, frozen=True):
    id: uuid.UUID
    user_id: uuid.UUID
    detected_ingredients: list[DetectedIngredient]
    confidence_score: float
    created_at: datetime.datetime
    image_url: str | None = None


class ScanEnvelope(msgspec.Struct, frozen=True):
    scan: ScanResult


class ScanHistory(msgspec.Struct, frozen=True):
    scans: list[ScanResult]


# --- what the model must answer (strict JSON schema: every field required, no extra fields) -----------------------


class ModelIngredient(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    category: Category
    confidence: float
    variety: str | None
    quantity: float | None
    unit: str | None


class ModelScan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ingredients: list[ModelIngredient]
