"""The peers beside the app (bench/peers/): their servers, started once the app runs and its bench account exists,
and the FastAPI webhook peer's data and checks. The webhook peer is fed the same kind of signed unique events as
`stripe-webhook-unique` and the same kind of duplicate set as `stripe-webhook-duplicates` (bench/payments.py's
generators), for subscriptions of its own (schema `peer`); afterwards the database says whether every event that
reached it was recorded once and applied, as the project's probes do."""

from __future__ import annotations

import asyncio
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path

import asyncpg

from bench.payments import (
    DUPLICATE_EVENTS,
    STRIPE_WEBHOOK_SECRET,
    DuplicateEvents,
    Probe,
    StripeUsers,
    UniqueEvents,
    settled,
)
from bench.peers.webhook_fastapi import SCHEMA, create_tables
from bench.report import Check
from bench.scenarios import Fixtures, Scenario
from bench.servers import ServerProcess, peer_server
from bench.wrk import WrkResult
from bench.ws_fanout import worker_settings

UNIQUE_KEY = "peer-webhook-fastapi"
DUPLICATES_KEY = "peer-webhook-fastapi-duplicates"


def start_peers(
    stack: ExitStack, scenarios: list[Scenario], app: ServerProcess, dsn: str, log_dir: Path, workers: int
) -> dict[str, ServerProcess]:
    """Each peer the chosen scenarios name, by module, running until `stack` closes."""
    settings = worker_settings(app)
    environments = {
        # The app's own signing settings, so the bench's access token is valid on both.
        "me_minimal": {
            "PEER_DATABASE_URL": dsn,
            "PEER_JWT_SECRET": settings.jwt.secret,
            "PEER_JWT_ISSUER": settings.jwt.issuer,
        },
        "webhook_fastapi": {"PEER_DATABASE_URL": dsn, "PEER_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET},
    }
    modules = dict.fromkeys(scenario.peer for scenario in scenarios if scenario.peer)
    if "webhook_fastapi" in modules:
        asyncio.run(create_tables(dsn))
    return {
        module: stack.enter_context(peer_server(module, log_dir, workers, environments[module])) for module in modules
    }


def peer_probes(
    keys: set[str], dsn: str, peers: dict[str, ServerProcess], fixtures: Fixtures, warmup: int, duration: int
) -> dict[str, Probe]:
    probes: dict[str, Probe] = {}
    if UNIQUE_KEY in keys:
        probes[UNIQUE_KEY] = PeerUniqueProbe(dsn, fixtures, warmup, duration)
    if DUPLICATES_KEY in keys:
        probes[DUPLICATES_KEY] = PeerDuplicatesProbe(dsn, peers["webhook_fastapi"].base_url, fixtures)
    return probes


def create_peer_subscriptions(dsn: str, count: int, tag: str) -> StripeUsers:
    """`count` active subscriptions in the peer's table, for the events bench/payments.py generates (the user ids
    in their metadata mean nothing to the peer)."""
    users = StripeUsers(tuple(uuid.uuid4() for _ in range(count)), tag)
    records = [(users.subscription_id(i), f"cus_bench_{i:07d}", "active") for i in range(count)]

    async def insert() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.copy_records_to_table(
                "subscriptions", schema_name=SCHEMA, records=records, columns=["id", "customer", "status"]
            )
            await conn.execute(f"analyze {SCHEMA}.subscriptions")
        finally:
            await conn.close()

    asyncio.run(insert())
    return users


async def _peer_counts(dsn: str, prefix: str) -> tuple[int, int, int]:
    """The peer's event rows for one set of events, the subscriptions they name, and how many of those carry one of
    them as their latest event (every recorded event updates its subscription)."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            f"""
            with recorded as (
                select payload -> 'data' -> 'object' ->> 'id' as subscription_id
                from {SCHEMA}.stripe_events where starts_with(event_id, $1)
            )
            select (select count(*) from recorded),
                   (select count(distinct subscription_id) from recorded),
                   (select count(*) from {SCHEMA}.subscriptions where starts_with(latest_event_id, $1))
            """,
            prefix,
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        await conn.close()


def peer_counts(dsn: str, prefix: str) -> tuple[int, int, int]:
    return asyncio.run(_peer_counts(dsn, prefix))


def _five_xx(result: WrkResult) -> int:
    return sum(n for status, n in result.statuses.items() if status >= 500)


class PeerUniqueProbe:
    """Every event id sent once (the peer has no access log: what reached it is read from its table)."""

    KEY = UNIQUE_KEY

    def __init__(self, dsn: str, fixtures: Fixtures, warmup: int, duration: int) -> None:
        self._dsn = dsn
        self.file, self.warmup_file = fixtures.peer_stripe_unique_file, fixtures.warmup_peer_stripe_unique_file
        print("   creating the webhook peer's subscriptions ...", file=sys.stderr)
        self._plan = UniqueEvents.create(dsn, create_peer_subscriptions, "p", fixtures.wrk_threads, warmup, duration)
        self._before = 0

    @property
    def _prefix(self) -> str:
        return self._plan.measured_prefix

    def before_warmup(self) -> None:
        self._plan.write_warmup(self.warmup_file)

    def before_measured(self) -> None:
        self._before = settled(lambda: peer_counts(self._dsn, self._prefix))[0]
        print(f"   signing {self._plan.count:,} unique Stripe events for the peer ...", file=sys.stderr)
        self._plan.write_measured(self.file)

    def after_measured(self, result: WrkResult) -> tuple[Check, ...]:
        rows, subscriptions, latest = settled(lambda: peer_counts(self._dsn, self._prefix))
        recorded = rows - self._before
        sent, read = result.counters.get("sent", 0), sum(result.statuses.values())
        read_2xx = read - result.non_2xx
        outcome_processed = result.counters.get("outcome_processed", 0)
        placeholders = result.pool_misses
        unexpected = {status: n for status, n in result.statuses.items() if status != 200}
        return (
            Check(
                read_2xx == outcome_processed <= recorded <= sent,
                f"`{self.KEY}`: {recorded:,} event rows recorded for {sent:,} distinct events wrk sent; it read "
                f"{read:,} answers, {outcome_processed:,} of them `processed`"
                + (
                    f"; {sent - recorded:,} sent at wrk's deadline never reached the peer (no row)"
                    if sent > recorded
                    else ""
                ),
            ),
            Check(
                latest == subscriptions,
                f"`{self.KEY}`: {latest:,} of the {subscriptions:,} subscriptions the recorded events name carry one "
                "of them as their latest event (the update ran in the event's transaction)",
            ),
            Check(
                _five_xx(result) == 0 and sum(unexpected.values()) == placeholders,
                f"`{self.KEY}`: {_five_xx(result)} 5xx read by wrk; answers other than 200: "
                + (", ".join(f"{n:,} x {status}" for status, n in sorted(unexpected.items())) or "none")
                + (f" ({placeholders:,} placeholders once wrk's file ran out)" if placeholders else ""),
            ),
        )


class PeerDuplicatesProbe:
    """The duplicate set recorded once before the scenario, then replayed over and over."""

    KEY = DUPLICATES_KEY

    def __init__(self, dsn: str, base_url: str, fixtures: Fixtures) -> None:
        self._dsn, self._base_url = dsn, base_url
        self.file = fixtures.peer_stripe_duplicates_file
        self._plan = DuplicateEvents.create(dsn, create_peer_subscriptions, "pd", fixtures.wrk_threads)
        self._first_outcomes: dict[str, int] = {}
        self._before = (0, 0, 0)

    @property
    def _prefix(self) -> str:
        return self._plan.prefix

    def before_warmup(self) -> None:
        self._first_outcomes = self._plan.deliver_and_write(self._base_url, self.file)
        self._before = settled(lambda: peer_counts(self._dsn, self._prefix))

    def before_measured(self) -> None:
        """The duplicates are the same set in the warm-up and the measured run."""

    def after_measured(self, result: WrkResult) -> tuple[Check, ...]:
        after = settled(lambda: peer_counts(self._dsn, self._prefix))
        read = sum(result.statuses.values())
        duplicates = result.counters.get("outcome_duplicate", 0)
        first = ", ".join(f"{n} `{outcome}`" for outcome, n in sorted(self._first_outcomes.items()))
        return (
            Check(
                self._first_outcomes == {"processed": DUPLICATE_EVENTS} and self._before[0] == DUPLICATE_EVENTS,
                f"`{self.KEY}`: the {DUPLICATE_EVENTS} events' first deliveries, before the warm-up: {first}",
            ),
            Check(
                after == self._before,
                f"`{self.KEY}`: event rows {self._before[0]} before the warm-up and {after[0]} after the run: "
                + ("no new rows" if after == self._before else "the replays changed the store"),
            ),
            Check(
                duplicates == read and _five_xx(result) == 0,
                f"`{self.KEY}`: {duplicates:,} of {read:,} answers read had outcome `duplicate`; "
                f"{_five_xx(result)} 5xx",
            ),
        )
