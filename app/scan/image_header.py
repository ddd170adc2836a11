"""The size an image declares in its header (JPEG, PNG, WebP), read without decoding anything, in a bounded number
of steps: the pixel budget is checked on the event loop before a decoding thread is taken.

Pillow's `Image.open` is lazy but not bounded: it walks a JPEG's segments and a PNG's chunks in Python until the
image data starts (seconds for a 10 MB file of tiny segments), so it runs only on the decoding threads, after this.
"""

from __future__ import annotations

import re
import struct

from app.core.errors import Unprocessable

# Real JPEGs carry a handful of segments before the frame header (APPn for EXIF, ICC, XMP; DQT, DHT); more than
# this is not a photo.
MAX_JPEG_SEGMENTS = 64
# Start-of-frame markers (every SOFn except DHT C4, JPG C8 and DAC CC), whose segment holds height and width.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_FILL = re.compile(rb"\xff+")
_INVALID = ("IMAGE_INVALID", "The image's header could not be read (truncated or corrupt).")


def declared_size(data: bytes, content_type: str) -> tuple[int, int]:
    """(width, height) as the header declares them; 422 IMAGE_INVALID when it cannot be read."""
    try:
        if content_type == "image/png":
            width, height = _png(data)
        elif content_type == "image/webp":
            width, height = _webp(data)
        else:
            width, height = _jpeg(data)
    except (struct.error, IndexError):
        raise Unprocessable(*_INVALID) from None
    if width < 1 or height < 1:
        raise Unprocessable(*_INVALID)
    return width, height


def _png(data: bytes) -> tuple[int, int]:
    # The signature, then IHDR, which the format requires to come first: width and height, 4 bytes each.
    if data[12:16] != b"IHDR":
        raise Unprocessable(*_INVALID)
    width, height = struct.unpack_from(">II", data, 16)
    return int(width), int(height)


def _webp(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: a key frame's start code, then 14-bit width and height
        if data[23:26] != b"\x9d\x01\x2a":
            raise Unprocessable(*_INVALID)
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: a signature byte, then width - 1 and height - 1 in 14 bits each
        if data[20] != 0x2F:
            raise Unprocessable(*_INVALID)
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: canvas width - 1 and height - 1 in 24 bits each
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise Unprocessable(*_INVALID)


def _jpeg(data: bytes) -> tuple[int, int]:
    position = 2  # after SOI
    for _ in range(MAX_JPEG_SEGMENTS):
        fill = _JPEG_FILL.match(data, position)
        if fill is None or fill.end() >= len(data):
            raise Unprocessable(*_INVALID)
        marker = data[fill.end()]
        position = fill.end() + 1
        if marker in _JPEG_FRAMES:  # length, precision, then height and width
            height, width = struct.unpack_from(">HH", data, position + 3)
            return int(width), int(height)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a segment
            continue
        if marker in (0xD9, 0xDA):  # end of image or image data before any frame header
            raise Unprocessable(*_INVALID)
        (length,) = struct.unpack_from(">H", data, position)
        position += length
    raise Unprocessable(*_INVALID)
