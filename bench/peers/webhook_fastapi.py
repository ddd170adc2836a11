"""peer-webhook-fastapi: a typical FastAPI + SQLAlchemy (async, asyncpg driver) Stripe webhook service. The stripe
library checks the signature on the raw body (stripe.Webhook.construct_event), then one transaction inserts the
event into its own table (`insert ... on conflict do nothing returning id`) and, for an event not seen before,
updates its own subscription row with one `update`. Its tables live in schema `peer`, created by the bench
(`create_tables`).

    PEER_DATABASE_URL=... PEER_STRIPE_WEBHOOK_SECRET=... python -m bench.peers.webhook_fastapi --port 8102
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import stripe
from fastapi import FastAPI, Header, HTTPException, Request
from sqlalchemy import Boolean, Column, DateTime, MetaData, Table, Text, func, update
from sqlalchemy.dialects.postgresql import BIGINT, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.schema import CreateSchema, DropSchema

from bench.baseline_app import serve

WEBHOOK_PATH = "/api/v1/subscription/webhook/stripe"
READY_PATH = "/ready"
SCHEMA = "peer"
# The project's pool per worker (DATABASE_POOL_MAX_SIZE's default), with no overflow beyond it.
POOL_SIZE = 10

metadata = MetaData(schema=SCHEMA)
events = Table(
    "stripe_events",
    metadata,
    Column("id", BIGINT, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("customer", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("price_lookup_key", Text),
    Column("current_period_end", DateTime(timezone=True)),
    Column("cancel_at_period_end", Boolean, nullable=False, server_default="false"),
    Column("latest_event_id", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def engine_for(database_url: str) -> AsyncEngine:
    """postgresql://... as SQLAlchemy's asyncpg URL."""
    url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    return create_async_engine(url, pool_size=POOL_SIZE, max_overflow=0)


async def create_tables(database_url: str) -> None:
    """Schema `peer` and its tables, afresh."""
    engine = engine_for(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(DropSchema(SCHEMA, cascade=True, if_exists=True))
            await conn.execute(CreateSchema(SCHEMA))
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


def _timestamp(value: Any) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromtimestamp(value, datetime.UTC)


def create_app(database_url: str, webhook_secret: str) -> FastAPI:
    engine = engine_for(database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def disposing(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=disposing)
    app.state.engine = engine

    @app.post(WEBHOOK_PATH)
    async def stripe_webhook(request: Request, stripe_signature: str = Header(default="")) -> dict[str, str]:
        payload = await request.body()
        try:
            event = stripe.Webhook.construct_event(payload, stripe_signature, webhook_secret)
        except (ValueError, stripe.SignatureVerificationError):
            raise HTTPException(status_code=400, detail="invalid payload or signature") from None
        subscription = event.data.object
        item = subscription["items"]["data"][0]
        async with sessions.begin() as session:
            inserted = await session.scalar(
                insert(events)
                .values(event_id=event.id, type=event.type, payload=json.loads(payload))
                .on_conflict_do_nothing(index_elements=[events.c.event_id])
                .returning(events.c.id)
            )
            if inserted is None:
                return {"outcome": "duplicate"}
            await session.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription["id"])
                .values(
                    status=subscription["status"],
                    price_lookup_key=item["price"]["lookup_key"],
                    current_period_end=_timestamp(item["current_period_end"]),
                    cancel_at_period_end=subscription["cancel_at_period_end"],
                    latest_event_id=event.id,
                    updated_at=func.now(),
                )
            )
        return {"outcome": "processed"}

    @app.get(READY_PATH)
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_from_environment() -> FastAPI:
    """The app in a granian worker: its settings from the environment the bench started the server with."""
    return create_app(os.environ["PEER_DATABASE_URL"], os.environ["PEER_STRIPE_WEBHOOK_SECRET"])


if __name__ == "__main__":
    description = __doc__.splitlines()[0] if __doc__ else None
    serve("bench.peers.webhook_fastapi:app_from_environment", description, factory=True)
