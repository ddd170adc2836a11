"""Uploaded images: type by magic bytes (JPEG, PNG, WebP), at most 10 MB, decoded and downscaled before anything
is sent to the AI provider (longest side at most 1024 px, re-encoded as JPEG: metadata such as GPS is dropped)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import warnings

from PIL import Image as PillowImage
from PIL import UnidentifiedImageError

from app.core.ai import Image
from app.core.errors import AppError, Unprocessable

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_SIDE = 1024
# Decompression bombs: a small file that decodes to a huge bitmap. 40 megapixels is above any phone camera.
PillowImage.MAX_IMAGE_PIXELS = 40_000_000


class PayloadTooLarge(AppError):
    status_code = 413


class UnsupportedImage(AppError):
    status_code = 415


def content_type_of(data: bytes) -> str:
    """The image type its first bytes declare; anything else is refused (the client's Content-Type is not trusted)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise UnsupportedImage("IMAGE_TYPE_UNSUPPORTED", "Send a JPEG, PNG or WebP image.")


def decode_base64_image(image_data: str) -> bytes:
    _, comma, payload = image_data.partition(",") if image_data.startswith("data:") else ("", "", image_data)
    if image_data.startswith("data:") and not comma:
        raise Unprocessable("IMAGE_INVALID", "image_data is not a base64 data URL.")
    if len(payload) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise PayloadTooLarge("IMAGE_TOO_LARGE", "Images may be at most 10 MB.")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable("IMAGE_INVALID", "image_data is not valid base64.") from None


async def prepared(data: bytes) -> Image:
    """Check and downscale an upload (CPU work, in a thread)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge("IMAGE_TOO_LARGE", "Images may be at most 10 MB.")
    content_type_of(data)
    return await asyncio.to_thread(_downscale, data)


def _downscale(data: bytes) -> Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PillowImage.DecompressionBombWarning)
            with PillowImage.open(io.BytesIO(data)) as image:
                image.load()  # decodes every byte: truncated or corrupt files fail here
                image.thumbnail((MAX_SIDE, MAX_SIDE))
                rgb = image.convert("RGB")
    except (
        OSError,
        UnidentifiedImageError,
        SyntaxError,
        PillowImage.DecompressionBombError,
        PillowImage.DecompressionBombWarning,
        ValueError,
    ):
        raise Unprocessable("IMAGE_INVALID", "The image could not be decoded (truncated or corrupt).") from None
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85)
    return Image("image/jpeg", out.getvalue())
