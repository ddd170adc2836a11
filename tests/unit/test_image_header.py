"""The header reader: the declared size of JPEG, PNG and WebP images from their first bytes, as Pillow reads it
after decoding, with a bounded amount of work whatever the file holds."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.core.errors import Unprocessable
from app.scan.image_header import declared_size


def encoded(fmt: str, size: tuple[int, int], mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 20, 30, 40)[: len(mode)]).save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (encoded("JPEG", (301, 199)), "image/jpeg"),
        (encoded("JPEG", (64, 1000), progressive=True), "image/jpeg"),
        (encoded("JPEG", (120, 80), exif=Image.Exif().tobytes(), icc_profile=b"\0" * 70_000), "image/jpeg"),
        (encoded("PNG", (333, 17)), "image/png"),
        (encoded("WEBP", (257, 129), quality=50), "image/webp"),  # lossy: VP8
        (encoded("WEBP", (257, 129), lossless=True), "image/webp"),  # VP8L
        (encoded("WEBP", (99, 45), mode="RGBA", exif=Image.Exif().tobytes()), "image/webp"),  # VP8X
    ],
)
def test_the_declared_size_is_the_decoded_size(data: bytes, content_type: str) -> None:
    assert declared_size(data, content_type) == Image.open(io.BytesIO(data)).size


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"\xff\xd8" + b"\xff\xfe\x00\x02" * 2_500_000 + b"\xff\xc0", "image/jpeg"),  # millions of segments first
        (b"\xff\xd8" + b"\xff" * 1_000_000, "image/jpeg"),
        (b"\xff\xd8\xff\xe0\x00", "image/jpeg"),
        (encoded("JPEG", (10, 10))[:100], "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIDAT", "image/png"),  # IHDR must come first
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x00\x00\x00\x00\x01", "image/png"),  # width 0
        (b"RIFF\x00\x00\x00\x00WEBPVP8Z" + b"\0" * 40, "image/webp"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    ],
)
def test_an_unreadable_header_is_invalid(data: bytes, content_type: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        declared_size(data, content_type)
    assert refused.value.code == "IMAGE_INVALID"
