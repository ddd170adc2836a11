"""Uploaded images: at most 10 MB, typed by magic bytes (JPEG, PNG, WebP), refused above the pixel budget by the size
their header declares, then decoded on the scan's own threads (JPEGs reduced while decoding), turned upright by
their EXIF orientation, downscaled (longest side at most 1024 px) and re-encoded as JPEG (metadata such as GPS is
dropped) before anything is sent to the AI provider.

The service calls `prepared` only after the caller, the provider and the caller's allowances have been checked: an
upload costs nothing to anyone who may not scan."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image as PillowImage
from PIL import ImageOps, UnidentifiedImageError

from app.core.ai import Image
from app.core.bounded_threads import BoundedThreads
from app.core.errors import AppError, Unprocessable
from app.scan.image_header import declared_size

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_SIDE = 1024


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


async def prepared(data: bytes, decoding: BoundedThreads, max_pixels: int) -> Image:
    """Check an upload's size, type and declared pixels (cheap, here), then decode and downscale it on `decoding`."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge("IMAGE_TOO_LARGE", "Images may be at most 10 MB.")
    _check_pixels(declared_size(data, content_type_of(data)), max_pixels)
    return await decoding.run(lambda: _downscale(data, max_pixels))


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise PayloadTooLarge(
            "IMAGE_TOO_MANY_PIXELS",
            f"Images may have at most {max_pixels / 1_000_000:g} megapixels; this one has {width} x {height}.",
        )


def _downscale(data: bytes, max_pixels: int) -> Image:
    try:
        with PillowImage.open(io.BytesIO(data)) as image:
            _check_pixels(image.size, max_pixels)  # again as Pillow reads it (a file may declare two sizes)
            # JPEG: decode at 1/2, 1/4 or 1/8 scale straight away (DCT scaling), keeping at least MAX_SIDE px: a
            # 12-megapixel photo decodes as 3. Other formats decode in full (the pixel budget bounds them).
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))
            # Decodes every byte (truncated or corrupt files fail here), shrinking by whole factors first.
            image.thumbnail((MAX_SIDE, MAX_SIDE), reducing_gap=2.0)
            upright = ImageOps.exif_transpose(image)  # phones store portraits sideways with an orientation tag
            rgb = upright.convert("RGB")
    except PillowImage.DecompressionBombError:  # Pillow's own limit, should SCAN_MAX_IMAGE_PIXELS exceed it
        raise PayloadTooLarge("IMAGE_TOO_MANY_PIXELS", "The image has too many pixels.") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        raise Unprocessable("IMAGE_INVALID", "The image could not be decoded (truncated or corrupt).") from None
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85)
    return Image("image/jpeg", out.getvalue())
