"""The payment scenarios' data and their correctness checks.

- Stripe webhooks: `customer.subscription.updated` events signed as Stripe signs them (HMAC-SHA256 over
  "timestamp.body", header `t=..,v1=..`) for users created straight in the bench database. The signatures are
  made right before each wrk invocation, since the app refuses a timestamp older than its tolerance (300 s).
- StoreKit 2: transactions signed by a fake Apple chain (tests/fakes/apple.py) whose root the app trusts through
  APPLE_ROOT_CERTIFICATES, each validated by the account it was bought for (bearer tokens from sign-ups over HTTP).

Each probe prepares its scenario's request file right before the warm-up and the measured run, and afterwards reads
the database to say whether every request had its effect: one line per check, with the numbers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
import httpx
import msgspec

from app.billing.stores.validation import VALIDATION_LIMIT
from app.settings import StripeSettings
from bench.report import Check
from bench.scenarios import VALIDATE_PATH, WEBHOOK_PATH, Fixtures
from bench.wrk import WrkResult
from tests.fakes.apple import AppleSigner

# A throwaway signing secret for a throwaway server; the bench signs with it and the app verifies with it.
STRIPE_WEBHOOK_SECRET = "whsec_bench_" + "not-a-secret" * 3
STRIPE_TOLERANCE_SECONDS = StripeSettings().webhook_tolerance_seconds
# Signing happens right before each wrk run; this much of the tolerance is kept for the signing and the settling.
SIGNING_MARGIN_SECONDS = 30
EVENT_TYPE = "customer.subscription.updated"
# The unique-event pool per second of load: about the 25 %-of-baseline target on this machine (baseline 21-30k
# requests/s), ten times what the app reaches, so the pool is not what caps a run. A run that does exhaust it
# says so and exits non-zero; no id is ever sent twice.
STRIPE_EVENTS_PER_SECOND = 8_000
MIN_STRIPE_EVENTS = 40_000
# Each thread's events cycle over its own users (event i goes to thread i mod threads and to user i mod users,
# with users a multiple of threads), so one subscription's events are sent in order by one thread, a thousand
# events apart: no two are in flight together and none arrives after a newer one.
STRIPE_USERS_PER_THREAD = 1_000
DUPLICATE_EVENTS = 100
# The scenarios whose requests carry Stripe signatures made before wrk starts (the peer's included, bench/peers/).
SIGNED_WEBHOOK_KEYS = frozenset(
    {"stripe-webhook-unique", "stripe-webhook-duplicates", "peer-webhook-fastapi", "peer-webhook-fastapi-duplicates"}
)
# Validations per second the StoreKit accounts are sized for without meeting the per-account limit
# (VALIDATION_LIMIT, 20 a minute): about twice what this machine reaches (~370/s), since each account costs a
# sign-up (argon2id) before the run. A faster run would show 429s, reported as non-2xx.
STOREKIT_VALIDATIONS_PER_SECOND = 750
SIGNUP_CONCURRENCY = 8
SETTLE_POLL_SECONDS = 0.5
SETTLE_TIMEOUT_SECONDS = 20.0
# A throwaway account password in a throwaway database.
BENCH_PASSWORD = "bench-password-not-secret"

T = TypeVar("T")


def server_environment(root_file: Path, signer: AppleSigner) -> dict[str, str]:
    """What the app needs for the payment scenarios: the webhook secret (no STRIPE_SECRET_KEY: subscription events
    never call Stripe's API) and the fake Apple root, written to `root_file`."""
    signer.write_root(root_file)
    return {"STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET, "APPLE_ROOT_CERTIFICATES": str(root_file)}


def stripe_signature(payload: bytes, timestamp: int, secret: str = STRIPE_WEBHOOK_SECRET) -> str:
    signed = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signed}"


def _subscription(subscription_id: str, user_id: uuid.UUID, index: int, round_: int) -> dict[str, Any]:
    """A Stripe subscription object as a `customer.subscription.updated` event carries it (the fields Stripe always
    sends for a one-item subscription; expanded objects such as the product are ids, as Stripe sends them)."""
    creator = round_ % 2 == 1
    tier = "creator" if creator else "regular"
    now = int(time.time())
    start = now - 86_400 * 3
    price = {
        "id": f"price_bench_{tier}_monthly",
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "currency": "usd",
        "livemode": False,
        "lookup_key": f"cookcam_{tier}_monthly",
        "product": f"prod_bench_{tier}",
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
        "type": "recurring",
        "unit_amount": 999 if creator else 399,
    }
    return {
        "id": subscription_id,
        "object": "subscription",
        "billing_cycle_anchor": start,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "collection_method": "charge_automatically",
        "created": start,
        "currency": "usd",
        "customer": f"cus_bench_{index:07d}",
        "default_payment_method": f"pm_bench_{index:07d}",
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_bench_{index:07d}",
                    "object": "subscription_item",
                    "created": start,
                    "current_period_start": start,
                    "current_period_end": start + 30 * 86_400,
                    "price": price,
                    "quantity": 1,
                    "subscription": subscription_id,
                }
            ],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": f"in_bench_{index:07d}_{round_}",
        "livemode": False,
        "metadata": {"user_id": str(user_id)},
        "start_date": start,
        "status": "active",
        "trial_end": None,
    }


@dataclass(frozen=True)
class StripeUsers:
    """Accounts created in the database for webhook events, each with its own Stripe subscription id."""

    ids: tuple[uuid.UUID, ...]
    tag: str

    def subscription_id(self, index: int) -> str:
        return f"sub_bench_{self.tag}_{index:07d}"


def create_stripe_users(dsn: str, count: int, tag: str) -> StripeUsers:
    """`count` users inserted with COPY (they never sign in: the password hash is unusable)."""
    ids = tuple(uuid.uuid4() for _ in range(count))
    records = [(user_id, f"bench-stripe-{tag}-{i}@example.com", "!unusable", "Bench") for i, user_id in enumerate(ids)]

    async def insert() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.copy_records_to_table("users", records=records, columns=["id", "email", "password_hash", "name"])
            await conn.execute("analyze users")
        finally:
            await conn.close()

    asyncio.run(insert())
    return StripeUsers(ids, tag)


def stripe_events(users: StripeUsers, first: int, count: int, run_tag: str) -> list[bytes]:
    """Events `first` .. `first + count - 1` of one sequence: event i updates user i mod len(users), alternating the
    subscription between the regular and creator tiers from one round to the next, so every event changes its
    subscription (and writes a history row). `created` grows with the round, in the past."""
    per_round = len(users.ids)
    last_round = (first + count) // per_round + 1
    base = int(time.time()) - last_round - 60
    events = []
    for i in range(first, first + count):
        user, round_ = i % per_round, i // per_round
        subscription = _subscription(users.subscription_id(user), users.ids[user], user, round_)
        previous_lookup_key = f"cookcam_{'regular' if round_ % 2 == 1 else 'creator'}_monthly"
        events.append(
            msgspec.json.encode(
                {
                    "id": f"evt_bench_{run_tag}_{users.tag}_{i:08d}",
                    "object": "event",
                    "api_version": "2025-03-31.basil",
                    "created": base + round_,
                    "data": {
                        "object": subscription,
                        "previous_attributes": {"items": {"data": [{"price": {"lookup_key": previous_lookup_key}}]}},
                    },
                    "livemode": False,
                    "pending_webhooks": 1,
                    "request": {"id": None, "idempotency_key": None},
                    "type": EVENT_TYPE,
                }
            )
        )
    return events


def deliver_once(base_url: str, events: list[bytes]) -> dict[str, int]:
    """Deliver each signed event once, as Stripe's first delivery, before the duplicates are replayed: the count of
    each outcome the webhook answered."""
    outcomes: dict[str, int] = {}
    now = int(time.time())
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for payload in events:
            response = client.post(
                WEBHOOK_PATH,
                content=payload,
                headers={"Content-Type": "application/json", "Stripe-Signature": stripe_signature(payload, now)},
            )
            response.raise_for_status()
            outcome = str(response.json()["outcome"])
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def write_request_lines(prefix: Path, lines: Iterable[bytes], threads: int) -> None:
    """bench/lua/lines.lua's request files, one per wrk thread (`prefix.0`, `prefix.1`, ...): line i goes to thread
    i mod threads, one request a line (a header value, a tab, the body)."""
    with ExitStack() as stack:
        files = [stack.enter_context(Path(f"{prefix}.{thread}").open("wb")) for thread in range(threads)]
        for i, line in enumerate(lines):
            files[i % threads].write(line + b"\n")


def write_signed(prefix: Path, events: list[bytes], threads: int) -> None:
    """Stripe events as request lines: the Stripe-Signature value, a tab, the body; all signed now."""
    now = int(time.time())
    lines = (stripe_signature(payload, now).encode() + b"\t" + payload for payload in events)
    write_request_lines(prefix, lines, threads)


# ---------------------------------------------------------------------------------------------------------------------
# Database counts


@dataclass(frozen=True)
class UniqueEvents:
    """The unique events of a webhook scenario (the app's or a peer's): separate accounts for the warm-up, so the
    measured events' effects are counted from a clean slate, each event sent once."""

    run_tag: str
    tag: str  # "" for the app's accounts, "p" for the peer's
    threads: int
    warmup_count: int
    count: int
    warmup_users: StripeUsers
    users: StripeUsers

    @classmethod
    def create(
        cls,
        dsn: str,
        make_users: Callable[[str, int, str], StripeUsers],
        tag: str,
        threads: int,
        warmup: int,
        duration: int,
    ) -> UniqueEvents:
        return cls(
            run_tag=uuid.uuid4().hex[:8],
            tag=tag,
            threads=threads,
            warmup_count=STRIPE_EVENTS_PER_SECOND * warmup,
            count=max(MIN_STRIPE_EVENTS, STRIPE_EVENTS_PER_SECOND * duration),
            warmup_users=make_users(dsn, threads * STRIPE_USERS_PER_THREAD // 2, f"{tag}w"),
            users=make_users(dsn, threads * STRIPE_USERS_PER_THREAD, f"{tag}m"),
        )

    @property
    def measured_prefix(self) -> str:
        """The ids of the measured run's events."""
        return f"evt_bench_{self.run_tag}_{self.tag}m_"

    def write_warmup(self, prefix: Path) -> None:
        write_signed(prefix, stripe_events(self.warmup_users, 0, self.warmup_count, self.run_tag), self.threads)

    def write_measured(self, prefix: Path) -> None:
        write_signed(prefix, stripe_events(self.users, 0, self.count, self.run_tag), self.threads)


@dataclass(frozen=True)
class DuplicateEvents:
    """The duplicates of a webhook scenario (the app's or a peer's): DUPLICATE_EVENTS events, each delivered once
    before the warm-up, then replayed round and round."""

    run_tag: str
    threads: int
    users: StripeUsers

    @classmethod
    def create(
        cls, dsn: str, make_users: Callable[[str, int, str], StripeUsers], tag: str, threads: int
    ) -> DuplicateEvents:
        return cls(uuid.uuid4().hex[:8], threads, make_users(dsn, DUPLICATE_EVENTS, tag))

    @property
    def prefix(self) -> str:
        return f"evt_bench_{self.run_tag}_"

    def deliver_and_write(self, base_url: str, replays: Path) -> dict[str, int]:
        """Deliver each event once (their first outcomes, answered) and write the replays, signed afresh as Stripe
        signs each redelivery."""
        events = stripe_events(self.users, 0, DUPLICATE_EVENTS, self.run_tag)
        first_outcomes = deliver_once(base_url, events)
        write_signed(replays, events, self.threads)
        return first_outcomes


def _query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def fetch() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(fetch())


@dataclass(frozen=True)
class EventCounts:
    """provider_events for one set of events (by id prefix), and the history rows their effects wrote."""

    by_status: dict[str, int]
    attempts: int
    history: int

    @property
    def rows(self) -> int:
        return sum(self.by_status.values())

    @property
    def processed(self) -> int:
        return self.by_status.get("processed", 0)

    @property
    def unfinished(self) -> int:
        return self.rows - self.processed


def event_counts(dsn: str, id_prefix: str) -> EventCounts:
    statuses = _query(
        dsn,
        "select status, count(*), sum(attempts) from provider_events "
        "where provider = 'stripe' and starts_with(event_id, $1) group by status",
        id_prefix,
    )
    history = _query(
        dsn,
        "select count(*) from subscription_status_history where cause_kind = 'stripe_event' "
        "and starts_with(cause_ref, $1)",
        id_prefix,
    )
    return EventCounts(
        by_status={row[0]: int(row[1]) for row in statuses},
        attempts=sum(int(row[2]) for row in statuses),
        history=int(history[0][0]),
    )


@dataclass(frozen=True)
class ValidationCounts:
    by_outcome: dict[str, int]
    # Accounts with at least one valid validation, and App Store subscriptions recorded for them.
    validated_accounts: int
    subscriptions: int

    @property
    def valid(self) -> int:
        return self.by_outcome.get("valid", 0)


def validation_counts(dsn: str, user_ids: list[uuid.UUID]) -> ValidationCounts:
    outcomes = _query(
        dsn,
        "select outcome, count(*) from purchase_validations where user_id = any($1::uuid[]) group by outcome",
        user_ids,
    )
    accounts = _query(
        dsn,
        "select (select count(distinct user_id) from purchase_validations "
        "        where outcome = 'valid' and user_id = any($1::uuid[])), "
        "       (select count(*) from subscriptions where provider = 'apple' and user_id = any($1::uuid[]))",
        user_ids,
    )
    return ValidationCounts({row[0]: int(row[1]) for row in outcomes}, int(accounts[0][0]), int(accounts[0][1]))


def settled(count: Callable[[], T], done: Callable[[T], bool] = lambda _: True) -> T:
    """The counts once requests still running in the app (wrk stops with some in flight) have finished: the same
    twice in a row and `done`; after SETTLE_TIMEOUT_SECONDS, whatever they are."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    previous = count()
    while time.monotonic() < deadline:
        time.sleep(SETTLE_POLL_SECONDS)
        current = count()
        if current == previous and done(current):
            return current
        previous = current
    return previous


class AccessLog:
    """The app's access log (one `cookcam.access` line per HTTP answer, flushed as written): what the app itself
    answered on one route between two marks, whether or not wrk was still there to read it."""

    LINE = re.compile(r" cookcam\.access: (?P<method>[A-Z]+) (?P<route>\S+) (?P<status>\d{3}) ")

    def __init__(self, path: Path) -> None:
        self._path = path

    def mark(self) -> int:
        return self._path.stat().st_size

    def statuses(self, since: int, route: str) -> dict[int, int]:
        with self._path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        counts: dict[int, int] = {}
        for match in self.LINE.finditer(text):
            if match["route"] == route:
                status = int(match["status"])
                counts[status] = counts.get(status, 0) + 1
        return counts


def _five_xx(statuses: dict[int, int]) -> int:
    return sum(n for status, n in statuses.items() if status >= 500)


def _status_text(statuses: dict[int, int]) -> str:
    return ", ".join(f"{n:,} x {status}" for status, n in sorted(statuses.items())) or "none"


# ---------------------------------------------------------------------------------------------------------------------
# Probes: prepare a scenario's requests, then check its effect


class Probe(Protocol):
    def before_warmup(self) -> None:
        """Write the warm-up's requests (and prepare what the scenario needs)."""

    def before_measured(self) -> None:
        """Count what the database holds once the warm-up settled; write the measured run's requests."""

    def after_measured(self, result: WrkResult) -> tuple[Check, ...]:
        """Count again once the run settled and compare with what wrk sent and read and the app answered."""


def payment_probes(
    keys: set[str],
    dsn: str,
    base_url: str,
    access_log: Path,
    fixtures: Fixtures,
    signer: AppleSigner,
    warmup: int,
    duration: int,
) -> dict[str, Probe]:
    """A probe for each payment scenario chosen, its data prepared (users created) before any scenario runs."""
    log = AccessLog(access_log)
    probes: dict[str, Probe] = {}
    if "stripe-webhook-unique" in keys:
        probes["stripe-webhook-unique"] = StripeUniqueProbe(dsn, log, fixtures, warmup, duration)
    if "stripe-webhook-duplicates" in keys:
        probes["stripe-webhook-duplicates"] = StripeDuplicatesProbe(dsn, log, base_url, fixtures)
    if "storekit-validate" in keys:
        probes["storekit-validate"] = StoreKitProbe(dsn, log, base_url, fixtures, signer, warmup, duration)
    return probes


class StripeUniqueProbe:
    """Every event id sent once; afterwards, each event the app acknowledged processed once, with its effect."""

    KEY = "stripe-webhook-unique"

    def __init__(self, dsn: str, log: AccessLog, fixtures: Fixtures, warmup: int, duration: int) -> None:
        self._dsn, self._log = dsn, log
        self.file, self.warmup_file = fixtures.stripe_unique_file, fixtures.warmup_stripe_unique_file
        print("   creating the Stripe webhook users ...", file=sys.stderr)
        self._plan = UniqueEvents.create(dsn, create_stripe_users, "", fixtures.wrk_threads, warmup, duration)
        self._before: EventCounts | None = None
        self._mark = 0

    @property
    def _prefix(self) -> str:
        return self._plan.measured_prefix

    def before_warmup(self) -> None:
        self._plan.write_warmup(self.warmup_file)

    def before_measured(self) -> None:
        self._before = settled(lambda: event_counts(self._dsn, self._prefix), lambda c: c.unfinished == 0)
        print(f"   signing {self._plan.count:,} unique Stripe events ...", file=sys.stderr)
        self._plan.write_measured(self.file)
        self._mark = settled(self._log.mark)

    def after_measured(self, result: WrkResult) -> tuple[Check, ...]:
        assert self._before is not None
        after = settled(lambda: event_counts(self._dsn, self._prefix), lambda c: c.unfinished == 0)
        settled(self._log.mark)  # the last access lines follow the last commits
        app = self._log.statuses(self._mark, WEBHOOK_PATH)
        processed = after.processed - self._before.processed
        history = after.history - self._before.history
        sent, read = result.counters.get("sent", 0), sum(result.statuses.values())
        read_2xx = read - result.non_2xx
        outcome_processed = result.counters.get("outcome_processed", 0)
        acknowledged = app.get(200, 0)
        # Requests sent after the file ran out carry no event (bench/lua/lines.lua); the app refuses them.
        placeholders = result.pool_misses
        unanswered = sent + placeholders - sum(app.values())
        return (
            Check(
                processed == acknowledged
                and sum(app.values()) - acknowledged == placeholders
                and read_2xx <= processed <= sent,
                f"`{self.KEY}`: {processed:,} provider_events rows processed for {acknowledged:,} events the app "
                f"acknowledged (its answers: {_status_text(app)}); wrk sent {sent:,} distinct events"
                + (f" and {placeholders:,} placeholders once its file ran out" if placeholders else "")
                + f" and read {read:,} answers, {outcome_processed:,} of them `processed`"
                + (
                    f"; {unanswered:,} sent at wrk's deadline never reached the app (no answer logged, no row)"
                    if unanswered
                    else ""
                ),
            ),
            Check(
                after.unfinished == 0 and outcome_processed == read_2xx,
                f"`{self.KEY}`: {after.unfinished} events left 'processing' or 'failed'; "
                f"{read_2xx - outcome_processed} 2xx answers read other than `processed`",
            ),
            Check(
                history == processed,
                f"`{self.KEY}`: {history:,} subscription history rows for {processed:,} processed events (every "
                "event moves its subscription to the other tier, so each must write one)",
            ),
            Check(
                _five_xx(result.statuses) == 0 and _five_xx(app) == 0,
                f"`{self.KEY}`: 5xx: {_five_xx(result.statuses)} read by wrk, {_five_xx(app)} logged by the app",
            ),
        )


class StripeDuplicatesProbe:
    """A small set of events, processed once before the scenario, then replayed over and over."""

    KEY = "stripe-webhook-duplicates"

    def __init__(self, dsn: str, log: AccessLog, base_url: str, fixtures: Fixtures) -> None:
        self._dsn, self._log, self._base_url = dsn, log, base_url
        self.file = fixtures.stripe_duplicates_file
        self._plan = DuplicateEvents.create(dsn, create_stripe_users, "d", fixtures.wrk_threads)
        self._before: EventCounts | None = None
        self._first_outcomes: dict[str, int] = {}
        self._mark = 0

    @property
    def _prefix(self) -> str:
        return self._plan.prefix

    def before_warmup(self) -> None:
        self._first_outcomes = self._plan.deliver_and_write(self._base_url, self.file)
        self._before = settled(lambda: event_counts(self._dsn, self._prefix))

    def before_measured(self) -> None:
        self._mark = settled(self._log.mark)

    def after_measured(self, result: WrkResult) -> tuple[Check, ...]:
        assert self._before is not None
        after = settled(lambda: event_counts(self._dsn, self._prefix))
        settled(self._log.mark)  # the last access lines follow the last commits
        app = self._log.statuses(self._mark, WEBHOOK_PATH)
        read = sum(result.statuses.values())
        duplicates = result.counters.get("outcome_duplicate", 0)
        first = ", ".join(f"{n} `{outcome}`" for outcome, n in sorted(self._first_outcomes.items()))
        before, unchanged = self._before, after == self._before
        return (
            Check(
                self._first_outcomes == {"processed": DUPLICATE_EVENTS} and before.processed == DUPLICATE_EVENTS,
                f"`{self.KEY}`: the {DUPLICATE_EVENTS} events' first deliveries, before the warm-up: {first}",
            ),
            Check(
                unchanged,
                f"`{self.KEY}`: provider_events rows {before.rows} before the warm-up and {after.rows} after the run, "
                f"attempts {before.attempts} → {after.attempts}, history rows {before.history} → {after.history}: "
                + ("no new rows, no new effects" if unchanged else f"the replays changed the store: {after}"),
            ),
            Check(
                duplicates == read and set(app) <= {200},
                f"`{self.KEY}`: {duplicates:,} of {read:,} answers read had outcome `duplicate`; the app's answers: "
                f"{_status_text(app)}",
            ),
        )


@dataclass(frozen=True)
class SignedInUser:
    user_id: uuid.UUID
    access_token: str


async def _sign_up_many(base_url: str, count: int) -> list[SignedInUser]:
    semaphore = asyncio.Semaphore(SIGNUP_CONCURRENCY)

    async def sign_up(client: httpx.AsyncClient) -> SignedInUser:
        async with semaphore:
            response = await client.post(
                "/api/v1/auth/signup",
                json={"email": f"bench-{uuid.uuid4().hex[:12]}@example.com", "password": BENCH_PASSWORD, "name": "B"},
            )
        response.raise_for_status()
        body = response.json()
        return SignedInUser(uuid.UUID(body["user"]["id"]), body["access_token"])

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        return list(await asyncio.gather(*(sign_up(client) for _ in range(count))))


def storekit_users_needed(seconds: int) -> int:
    """Accounts enough that STOREKIT_VALIDATIONS_PER_SECOND, spread evenly, stays within the per-account limit in
    any one of its fixed windows (a run shorter than a window may fall within one)."""
    per_window = STOREKIT_VALIDATIONS_PER_SECOND * min(seconds, VALIDATION_LIMIT.window_seconds)
    return math.ceil(per_window / VALIDATION_LIMIT.limit)


class StoreKitProbe:
    """Signed-in accounts, each validating its own StoreKit 2 transaction; afterwards, one valid history row per
    validation the app answered with 200, and one App Store subscription per account."""

    KEY = "storekit-validate"

    def __init__(
        self,
        dsn: str,
        log: AccessLog,
        base_url: str,
        fixtures: Fixtures,
        signer: AppleSigner,
        warmup: int,
        duration: int,
    ) -> None:
        self._dsn, self._log, self._base_url, self._signer = dsn, log, base_url, signer
        self.file, self.warmup_file = fixtures.storekit_file, fixtures.warmup_storekit_file
        self._threads = fixtures.wrk_threads
        # Separate accounts for the warm-up, so it spends none of the measured accounts' allowance.
        self._warmup_count = storekit_users_needed(warmup) if warmup else 0
        self._count = storekit_users_needed(duration)
        self._users: list[SignedInUser] = []
        self._before: ValidationCounts | None = None
        self._mark = 0

    def before_warmup(self) -> None:
        total = self._warmup_count + self._count
        print(f"   signing up {total:,} StoreKit accounts over HTTP ...", file=sys.stderr)
        users = asyncio.run(_sign_up_many(self._base_url, total))
        self._write(self.warmup_file, users[: self._warmup_count])
        self._users = users[self._warmup_count :]
        self._write(self.file, self._users)

    def _write(self, prefix: Path, users: list[SignedInUser]) -> None:
        """One line per account: its bearer token, a tab, the body with a transaction bought for it."""
        lines = []
        for user in users:
            jws = self._signer.sign(self._signer.transaction(appAccountToken=str(user.user_id)))
            body = msgspec.json.encode({"platform": "ios", "signed_transaction": jws})
            lines.append(f"Bearer {user.access_token}\t".encode() + body)
        write_request_lines(prefix, lines, self._threads)

    def before_measured(self) -> None:
        ids = [user.user_id for user in self._users]
        self._before = settled(lambda: validation_counts(self._dsn, ids))
        self._mark = settled(self._log.mark)

    def after_measured(self, result: WrkResult) -> tuple[Check, ...]:
        assert self._before is not None
        ids = [user.user_id for user in self._users]
        after = settled(lambda: validation_counts(self._dsn, ids))
        settled(self._log.mark)  # the last access lines follow the last commits
        app = self._log.statuses(self._mark, VALIDATE_PATH)
        before = self._before.by_outcome
        recorded = {o: n - before.get(o, 0) for o, n in after.by_outcome.items() if n != before.get(o, 0)}
        valid = recorded.get("valid", 0)
        others = ", ".join(f"{n:,} {outcome}" for outcome, n in sorted(recorded.items()) if outcome != "valid")
        sent, read = result.counters.get("sent", 0), sum(result.statuses.values())
        unanswered = sent - sum(app.values())
        return (
            Check(
                valid == app.get(200, 0) == sum(app.values()) and not others,
                f"`{self.KEY}`: {valid:,} validations recorded valid{f' (and {others})' if others else ''} for "
                f"{sent:,} requests sent by {len(self._users):,} accounts; the app's answers: {_status_text(app)}; "
                f"wrk read {read:,}, {result.statuses.get(429, 0):,} of them 429 (limit "
                f"{VALIDATION_LIMIT.limit} a minute per account)"
                + (
                    f"; {unanswered:,} sent at wrk's deadline never reached the app (no answer logged, no row)"
                    if unanswered
                    else ""
                ),
            ),
            Check(
                after.subscriptions == after.validated_accounts,
                f"`{self.KEY}`: {after.subscriptions:,} App Store subscriptions for the {after.validated_accounts:,} "
                "accounts that validated (one each, however often they validated)",
            ),
            Check(
                _five_xx(result.statuses) == 0 and _five_xx(app) == 0,
                f"`{self.KEY}`: 5xx: {_five_xx(result.statuses)} read by wrk, {_five_xx(app)} logged by the app",
            ),
        )
