"""The OpenAPI document as the API behaves, and its viewer served from a pinned package (no CDN: /schema works
offline).

Each operation's error answers are derived from what its handler really resolves, not from a hand list:
- a dependency (at any depth) that provides the caller (`CurrentUser`, app/core/identity.py): the bearer
  requirement and 401;
- a JSON body: 400 (malformed, not UTF-8, too deep), 413, 415 and 422; a body the handler reads itself (the
  webhooks take the `request`): 413 and 415; query, header or path parameters: 400 and 422; path parameters: 404
  as well (an unknown id, or one of the wrong shape, which no route matches);
- the rate limiter (`rate_limiter`, also through `throttle` or `owner_check`): 429, and 503 for its Redis;
- the database (`db`, `connect`, `pool`): 503; the AI provider (`ai`): 429 (the daily budget), 502 and 503;
- and every "NNN CODE" its docstring, or a dependency's, names (403 CREATOR_REQUIRED, 409 EMAIL_TAKEN, ...).
Every one of them answers the one error envelope (`ErrorBody`, app/core/errors.py). A response a handler declares
itself (`responses=`) wins over the derived one for its status (/ready's 503 is its own `Readiness`)."""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib.metadata import version
from typing import Any

from litestar import Response, Router, get
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.constants import RESERVED_KWARGS
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, Schema, SecurityScheme
from litestar.params import FromPath
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition
from litestar.utils.signature import ParsedSignature

from app.core.errors import ErrorBody, NotFound
from app.core.identity import CurrentUser
from app.core.version import VERSION

BEARER_SCHEME = "bearerAuth"
METRICS_SCHEME = "metricsToken"
SECURITY_SCHEMES = {
    BEARER_SCHEME: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="The access token of /api/v1/auth/signin, /signup or /refresh: `Authorization: Bearer <token>`.",
    ),
    METRICS_SCHEME: SecurityScheme(
        type="http",
        scheme="bearer",
        description="METRICS_TOKEN (or METRICS_PREVIOUS_TOKEN), when the deployment sets one.",
    ),
}

# The errors an operation can answer by the shape of its inputs and what it resolves, with the codes the shared
# layers give them (app/core/errors.py, identity.py, content_type.py, json_body.py, ratelimit.py).
_Codes = dict[int, tuple[str, ...]]
_JSON_BODY: _Codes = {
    400: ("MALFORMED_JSON", "INVALID_TEXT", "JSON_TOO_DEEP"),
    413: ("PAYLOAD_TOO_LARGE",),
    415: ("UNSUPPORTED_MEDIA_TYPE",),
    422: ("VALIDATION_ERROR", "CONSTRAINT_VIOLATION"),
}
_RAW_BODY: _Codes = {413: ("PAYLOAD_TOO_LARGE",), 415: ("UNSUPPORTED_MEDIA_TYPE",)}
_PARAMETERS: _Codes = {400: ("INVALID_TEXT",), 422: ("VALIDATION_ERROR", "CONSTRAINT_VIOLATION")}
_PATH_PARAMETERS: _Codes = {404: ("NOT_FOUND",)}
_CALLER: _Codes = {401: ("UNAUTHENTICATED", "TOKEN_INVALID", "TOKEN_EXPIRED", "SESSION_REVOKED")}
_LIMITED: _Codes = {429: ("RATE_LIMITED",), 503: ("SERVICE_UNAVAILABLE",)}  # the counters in Redis, when down
_DATABASE_ERRORS: _Codes = {503: ("DATABASE_UNAVAILABLE", "CONTENTION")}
_AI_PROVIDER: _Codes = {  # app/core/ai.py
    429: ("AI_BUDGET_REACHED",),
    502: ("AI_PROVIDER_ERROR", "AI_BAD_RESPONSE"),
    503: ("AI_PROVIDER_UNCONFIGURED",),
}
# The statuses a docstring may name: the ones the domain errors of app/core/errors.py answer (500 never is).
_ERROR_STATUSES = frozenset({400, 401, 402, 403, 404, 409, 413, 415, 422, 429, 502, 503})
# "409 ACCOUNT_EMAIL_UNVERIFIED (an account ...) or EMAIL_TAKEN; 422 ...": a status right before a code, and the
# codes named up to the end of that clause.
_NAMED_STATUS = re.compile(r"\b([45]\d\d)\s+([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9](?:(?!\b[45]\d\d\b)[^;.])*)")
_CODE = re.compile(r"[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]")
_DATABASE = frozenset({"db", "connect", "pool"})
_RATE_LIMITER = "rate_limiter"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class _Errors:
    codes: dict[int, set[str]] = field(default_factory=dict)

    def add(self, status: int, codes: Iterable[str]) -> None:
        self.codes.setdefault(status, set()).update(codes)

    def responses(self) -> dict[int, ResponseSpec]:
        return {
            status: ResponseSpec(
                ErrorBody,
                description=f"{HTTPStatus(status).phrase}: {', '.join(sorted(codes))}",
                generate_examples=False,
            )
            for status, codes in sorted(self.codes.items())
        }


def named_in_docstring(doc: str | None) -> dict[int, set[str]]:
    """The error statuses a docstring names with their codes ("... 401 INVALID_PASSWORD ..."), of those the app
    answers."""
    named: dict[int, set[str]] = {}
    for status, codes in _NAMED_STATUS.findall(doc or ""):
        if int(status) in _ERROR_STATUSES:
            named.setdefault(int(status), set()).update(_CODE.findall(codes))
    return named


def _resolved(handler: HTTPRouteHandler) -> dict[str, Provide]:
    """The dependencies the handler really resolves: those its signature names, and theirs, at any depth. A group
    of long-lived parts (a dataclass such as `Billing`, app/web/services.py) stands for its fields, which are named
    as the dependencies they are."""
    available = handler.resolve_dependencies()
    used: dict[str, Provide] = {}
    pending = _named_types(handler.parsed_fn_signature)
    while pending:
        name, annotation = pending.pop()
        if name in used or name not in available:
            continue
        used[name] = available[name]
        pending.extend(_named_types(available[name].parsed_fn_signature))
        if dataclasses.is_dataclass(annotation):
            pending.extend((field.name, field.type) for field in dataclasses.fields(annotation))
    return used


def _named_types(signature: ParsedSignature) -> list[tuple[str, Any]]:
    return [(name, parameter.annotation) for name, parameter in signature.parameters.items()]


def _errors_of(handler: HTTPRouteHandler, path_parameters: Iterable[str]) -> tuple[_Errors, bool]:
    """The handler's error statuses, and whether it authenticates its caller."""
    used = _resolved(handler)
    signatures = [handler.parsed_fn_signature, *(provider.parsed_fn_signature for provider in used.values())]
    names = {name for signature in signatures for name in signature.parameters}
    has_body = "data" in names
    reads_body = "request" in handler.parsed_fn_signature.parameters and bool(handler.http_methods & _WITH_BODY)
    has_parameters = bool(set(path_parameters)) or bool(names - used.keys() - RESERVED_KWARGS - {"self"})
    authenticates = any(signature.return_type.annotation is CurrentUser for signature in signatures[1:])
    errors = _Errors()
    shared = [
        (has_body, _JSON_BODY),
        (reads_body, _RAW_BODY),
        (has_parameters, _PARAMETERS),
        (bool(set(path_parameters)), _PATH_PARAMETERS),
        (authenticates, _CALLER),
        (_RATE_LIMITER in used, _LIMITED),
        (bool(_DATABASE & used.keys()), _DATABASE_ERRORS),
        ("ai" in used, _AI_PROVIDER),
    ]
    for applies, codes_by_status in shared:
        for status, codes in codes_by_status.items() if applies else ():
            errors.add(status, codes)
    for fn in (handler.fn, *(provider.dependency for provider in used.values())):
        for status, named in named_in_docstring(getattr(fn, "__doc__", None)).items():
            errors.add(status, named)
    return errors, authenticates


class DocumentedErrors(ReceiveRoutePlugin):
    """Gives every operation of the document its error answers and, when it authenticates, the bearer scheme."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            errors, authenticates = _errors_of(handler, route.path_parameters)
            handler.responses = {**errors.responses(), **(handler.responses or {})}
            if authenticates and {BEARER_SCHEME: []} not in (handler.security or []):
                handler.security = [*(handler.security or []), {BEARER_SCHEME: []}]


# The viewer: Swagger UI's files from the swagger-ui-py wheel (pinned in pyproject.toml), under a path that names
# the package's version, so that they can be cached for good and a new version is a new address.
_SWAGGER_UI = version("swagger-ui-py")
ASSETS_PATH = f"/assets/swagger-ui-{_SWAGGER_UI}"
# Litestar adds "; charset=utf-8" to text types itself.
_ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
_IMMUTABLE = "public, max-age=31536000, immutable"


@functools.cache
def _asset_bytes(name: str) -> bytes:
    return (importlib.resources.files("swagger_ui") / "static" / name).read_bytes()


@get(f"{ASSETS_PATH}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def swagger_ui_asset(name: FromPath[str]) -> Response[bytes]:
    media_type = _ASSET_TYPES.get(name)
    if media_type is None:
        raise NotFound("NOT_FOUND", "There is nothing at this address.")
    return Response(_asset_bytes(name), media_type=media_type, headers={"Cache-Control": _IMMUTABLE})


class OfflineSwaggerUI(SwaggerRenderPlugin):
    """Swagger UI at /schema, its scripts, stylesheet and icon served by the app itself."""

    def __init__(self, schema_path: str) -> None:
        assets = f"{schema_path}{ASSETS_PATH}"
        super().__init__(
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
        )

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        router.register(swagger_ui_asset)


SCHEMA_PATH = "/schema"


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="CookCam API",
        version=VERSION,
        path=SCHEMA_PATH,
        components=Components(security_schemes=dict(SECURITY_SCHEMES)),
        use_handler_docstrings=True,
        render_plugins=[OfflineSwaggerUI(SCHEMA_PATH)],
    )


class StrictStructSchema(StructSchemaPlugin):
    """A Struct that refuses unknown fields (`forbid_unknown_fields=True`: 422 "Object contains unknown field")
    says so in its schema, `additionalProperties: false`, which Litestar's own plugin (not exported: subclassed
    here for this one keyword) leaves out."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


def openapi_plugins() -> list[Any]:
    # Before Litestar's own schema plugins, which it appends to the app's.
    return [DocumentedErrors(), StrictStructSchema()]
