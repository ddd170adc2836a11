"""The asyncpg pool and the codecs every connection gets."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from app.settings import DatabaseSettings

_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def _encode_jsonb(value: Any) -> bytes:
    # jsonb's binary format is a version byte (1) followed by the JSON text.
    return b"\x01" + _json_encoder.encode(value)


def _decode_jsonb(data: bytes) -> Any:
    return _json_decoder.decode(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    """What every connection needs before the generated queries can use it (the jsonb codec)."""
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset query on release (one round trip per request). asyncpg still rolls back an open
    transaction first; nothing else needs resetting because this code never changes session state on pooled
    connections: no SET, no LISTEN (the real-time listener has its own connection), only transaction-scoped
    advisory locks, no prepared statements outside asyncpg's own cache."""


async def create_pool(dsn: str, settings: DatabaseSettings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        command_timeout=settings.command_timeout_seconds,
        init=init_connection,
        reset=_keep_session,
        server_settings={"application_name": "cookcam-api"},
    )
    assert pool is not None  # create_pool returns None only when awaited improperly
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """A single connection outside the pool (CLI commands, jobs), prepared like the pool's."""
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    return conn


# Errors that mean "no usable connection": refused, unresolvable host, timeout, bad password, no such database.
UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def unreachable_reason(dsn: str, timeout_seconds: float) -> str | None:
    """None when a connection can be made (and is closed again); else why not, in one line."""
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout_seconds)
    except UNREACHABLE as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    await conn.close()
    return None
