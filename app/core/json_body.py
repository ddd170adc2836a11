"""Request bodies decoded strictly, in one place: the app-wide `dto` of create_app.

Litestar decodes a JSON body into builtins and then converts it with msgspec's `strict=False`, which accepts "5"
for 5, "true" for True and 5.0 for 5. The API's contract is JSON's own types, so every `data` parameter is decoded
here instead, straight from the bytes into its annotation with `strict=True`. A NUL character (`\\u0000`), which
PostgreSQL cannot store in text or jsonb, is refused before decoding. The OpenAPI schema is the one Litestar would
write without this class, and responses are untouched (never a return DTO).

Litestar decodes the body while it gathers a handler's arguments, before their dependencies are resolved, so a
body of the wrong shape is answered 422 before authentication (the schema is public at /schema anyway).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import msgspec
from litestar.dto import AbstractDTO
from litestar.exceptions import ValidationException
from litestar.typing import FieldDefinition

from app.core.errors import MALFORMED_JSON, BadRequest, InvalidText

# `\u0000` not itself escaped: preceded by an even number of backslashes ("\\u0000" is six ordinary characters).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_ERROR_PATH = re.compile(r" - at `\$\.?(.*)`$")


def has_nul_escape(body: bytes) -> bool:
    # The substring test is a fast scan of multi-megabyte bodies (a scan's base64 image); the pattern decides.
    return b"\\u0000" in body and _NUL_ESCAPE.search(body) is not None


def _validation_failure(exc: msgspec.ValidationError) -> ValidationException:
    """In the shape Litestar gives its own validation errors, which app/core/errors.py turns into details: the
    field's path (`ingredients[0].confidence`), or `data` for the body as a whole."""
    text = str(exc)
    path = _ERROR_PATH.search(text)
    message = text[: path.start()] if path else text
    return ValidationException(
        extra=[{"key": (path.group(1) if path else "") or "data", "message": message, "source": "body"}]
    )


class StrictJsonBody(AbstractDTO[Any]):
    _decoders: ClassVar[dict[str, msgspec.json.Decoder[Any]]] = {}

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        if field_definition.name == "data":
            cls._decoders[handler_id] = msgspec.json.Decoder(field_definition.annotation, strict=True)

    @classmethod
    def is_supported_model_type_field(cls, field_definition: FieldDefinition) -> bool:
        return False  # never a return DTO: responses are encoded as Litestar always does

    @classmethod
    def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any) -> Any:
        return schema_creator.for_field_definition(field_definition)

    def decode_bytes(self, value: bytes) -> Any:
        if has_nul_escape(value):
            raise InvalidText()
        decoder = self._decoders[self.asgi_connection.route_handler.handler_id]
        try:
            return decoder.decode(value)
        except msgspec.ValidationError as exc:
            raise _validation_failure(exc) from None
        except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec reports bytes that are not UTF-8 with the latter
            raise BadRequest(*MALFORMED_JSON) from None
