"""What each scenario sends, which server it hits, and which answers it expects."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from bench.wrk import Request

# Wrong types for both fields: fails msgspec validation before the handler (and its rate limiter) runs.
MALFORMED_SIGNIN_BODY = '{"email": 42, "password": false}'
JSON = ("Content-Type", "application/json")
# As Stripe sends webhooks.
STRIPE_JSON = ("Content-Type", "application/json; charset=utf-8")
WEBHOOK_PATH = "/api/v1/subscription/webhook/stripe"
VALIDATE_PATH = "/api/v1/iap/validate-receipt"
GENERATE_PATH = "/api/v1/recipes/generate-previews"
SCAN_PATH = "/api/v1/scan/analyze"
SUGGEST_PATH = "/api/v1/recipes/suggestions"
# Five common non-staple ingredients of the shipped ingredient table (bench/cooking.py checks they are).
SUGGEST_INGREDIENTS = ["tomato", "chicken breast", "carrot", "bell pepper", "potato"]
SUGGEST_LIMIT = 5
# A misspelt name, so the search ranks by trigram similarity rather than stopping at an exact match.
INGREDIENT_SEARCH_PATH = "/api/v1/ingredients/search?q=tomatoe&limit=10"
LEADERBOARD_PATH = "/api/v1/gamification/leaderboard"
# The leaderboard scenario's callers (signed up over HTTP, given XP at a spread of positions), page size and the
# deeper page a quarter of them ask for (bench/leaderboards.py).
LEADERBOARD_CALLERS = 64
LEADERBOARD_LIMIT = 50
LEADERBOARD_DEEP_OFFSET = 1000


@dataclass(frozen=True)
class Fixtures:
    """Data the app scenarios need, prepared before any of them runs."""

    access_token: str
    wrk_threads: int
    # Two disjoint token files: each wrk invocation reads its file from the top, so the warm-up needs its own.
    refresh_token_file: Path
    warmup_refresh_token_file: Path
    # Request files for bench/lua/lines.lua (one per wrk thread: the path plus ".0", ".1", ...), written by
    # bench/payments.py right before each wrk run. The unique Stripe events and the StoreKit accounts have separate
    # warm-up files; the duplicates are the same set.
    stripe_unique_file: Path
    warmup_stripe_unique_file: Path
    stripe_duplicates_file: Path
    # The same for the FastAPI webhook peer (bench/peer_runs.py), which gets events of its own.
    peer_stripe_unique_file: Path
    warmup_peer_stripe_unique_file: Path
    peer_stripe_duplicates_file: Path
    storekit_file: Path
    warmup_storekit_file: Path
    # The cooking scenarios' request files (bench/cooking.py): one line per paid account, sent round and round by
    # the warm-up and the measured run alike.
    generate_file: Path
    scan_file: Path
    # The leaderboard scenario's request file (bench/leaderboards.py, bench/lua/gets.lua): one line per caller and
    # board, a bearer token and a path, sent round and round by the warm-up and the measured run alike.
    leaderboard_file: Path

    def for_warmup(self) -> Fixtures:
        return replace(
            self,
            refresh_token_file=self.warmup_refresh_token_file,
            stripe_unique_file=self.warmup_stripe_unique_file,
            peer_stripe_unique_file=self.warmup_peer_stripe_unique_file,
            storekit_file=self.warmup_storekit_file,
        )


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    # "peer": one of bench/peers/, run beside the app against its database (bench/peer_runs.py).
    server: Literal["baseline", "app", "peer"]
    description: str
    # Statuses that are the point of the scenario; anything else is reported as unexpected.
    expected_statuses: frozenset[int] = frozenset({200})
    # False for a scenario with a client of its own instead of wrk (bench/ws_fanout.py): reported beside the table.
    wrk: bool = True
    # Anonymous GETs that change nothing on the server (no row, no counter, no log beyond the access line) and need
    # no account or prepared data: the only scenarios `--target URL` aims at a deployed instance.
    read_only: bool = False
    # For a peer scenario, its module in bench/peers/.
    peer: str | None = None

    @property
    def expects_errors(self) -> bool:
        return any(not 200 <= status < 300 for status in self.expected_statuses)

    def request(self, fixtures: Fixtures | None) -> Request:
        if self.server == "baseline":
            return Request("/")
        if self.key in _PUBLIC_REQUESTS:
            return _PUBLIC_REQUESTS[self.key]
        assert fixtures is not None, "app scenarios need their fixtures"
        return _APP_REQUESTS[self.key](fixtures)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("baseline", "baseline: bare Litestar `GET /`", "baseline", "bench/baseline_app.py, one small JSON route"),
    Scenario("health", "`GET /health`", "app", "the full middleware stack, no database", read_only=True),
    Scenario(
        "tiers",
        "`GET /api/v1/subscription/tiers`",
        "app",
        "the public plan list: one small query, no sign-in",
        read_only=True,
    ),
    Scenario(
        "ingredients-search",
        "`GET /api/v1/ingredients/search` (misspelt name)",
        "app",
        f"`{INGREDIENT_SEARCH_PATH.rpartition('/')[2]}`: a trigram search of the shipped ingredient table (GIN "
        "index, ranked by similarity), no sign-in",
        read_only=True,
    ),
    Scenario("me", "`GET /api/v1/auth/me`", "app", "JWT validation + one query (session joined to its user)"),
    Scenario(
        "peer-me-minimal",
        "peer: minimal Litestar `GET /api/v1/auth/me`",
        "peer",
        "bench/peers/me_minimal.py: Litestar + asyncpg + pyjwt doing /auth/me's work and nothing else (JWT decoded "
        "on every request, the same session-and-user query, msgspec out), the same access token",
        peer="me_minimal",
    ),
    Scenario(
        "signin-invalid",
        "`POST /api/v1/auth/signin` (invalid body)",
        "app",
        f"body `{MALFORMED_SIGNIN_BODY}`: the validation path, 422 expected",
        expected_statuses=frozenset({422}),
    ),
    Scenario(
        "refresh",
        "`POST /api/v1/auth/refresh`",
        "app",
        "one rate-limit statement, one rotation statement (spend + successor), one read; each token used once",
    ),
    Scenario(
        "stripe-webhook-unique",
        "`POST /api/v1/subscription/webhook/stripe` (unique events)",
        "app",
        "signed `customer.subscription.updated` events (~1.5 KB), each id sent once: signature check, then one "
        "statement: event stored processed, subscription updated with a history row, the revenue share's trigger and "
        "a real-time notice",
    ),
    Scenario(
        "peer-webhook-fastapi",
        "peer: FastAPI + SQLAlchemy Stripe webhook (unique events)",
        "peer",
        "bench/peers/webhook_fastapi.py: the same kind of signed unique events; stripe library signature check, "
        "then one transaction: `insert ... on conflict do nothing returning id` into its events table and one "
        "`update` of its subscription row",
        peer="webhook_fastapi",
    ),
    Scenario(
        "stripe-webhook-duplicates",
        "`POST /api/v1/subscription/webhook/stripe` (duplicates)",
        "app",
        "100 already-processed events replayed round and round: signature check, claim refused, status read, "
        "outcome `duplicate`",
    ),
    Scenario(
        "peer-webhook-fastapi-duplicates",
        "peer: FastAPI + SQLAlchemy Stripe webhook (duplicates)",
        "peer",
        "the same peer with 100 already-recorded events replayed round and round: signature check, the insert "
        "finds the event, outcome `duplicate`",
        peer="webhook_fastapi",
    ),
    Scenario(
        "storekit-validate",
        "`POST /api/v1/iap/validate-receipt` (StoreKit 2)",
        "app",
        "each account validating its own signed transaction: JWT check, rate-limit counter, JWS chain check, "
        "subscription recorded, proof stored encrypted, history row, entitlement read",
    ),
    Scenario(
        "generate-cached",
        "`POST /api/v1/recipes/generate-previews` (cache hits)",
        "app",
        "identical preview requests by 32 paid accounts after one priming request: entitlement read, monthly "
        "generation counter, cache hit (one `update ... hits + 1` on the same row), recipe session stored; no model "
        "call",
    ),
    Scenario(
        "scan",
        "`POST /api/v1/scan/analyze` (320x240 JPEG)",
        "app",
        "a ~20 KB base64 JPEG by 32 paid accounts: decode and downscale check, entitlement read, daily scan counter, "
        "a call to the loopback fake AI provider (a Python http.server in the bench process), scan stored",
    ),
    Scenario(
        "suggest-100k",
        "`POST /api/v1/recipes/suggestions` (100k catalog)",
        "app",
        f"{len(SUGGEST_INGREDIENTS)} non-staple ingredients, limit {SUGGEST_LIMIT}, over 100,000 synthetic catalog "
        "recipes (6-10 ingredient links each): name lookup, overlap ranking, the 5 recipes read",
    ),
    Scenario(
        "leaderboard-1m",
        "`GET /api/v1/gamification/leaderboard` (1M users)",
        "app",
        f"{LEADERBOARD_CALLERS} callers at a spread of positions asking for the daily, weekly, monthly and all-time "
        f"boards (limit {LEADERBOARD_LIMIT}, offset 0; a quarter of them offset {LEADERBOARD_DEEP_OFFSET:,}) over "
        "1,000,000 synthetic users and 20,000,000 ledger rows: two queries in one repeatable-read snapshot, the "
        "page (a walk down the board's index) with its first row's rank, and the caller's XP, name and rank (ranks "
        "summed from the board's users per XP value)",
    ),
    Scenario(
        "ws-fanout",
        "`/api/v1/ws` fan-out (10,000 sockets)",
        "app",
        "10,000 WebSockets held by Python clients, events published through pg_notify as the app publishes them: "
        "connections held, memory per socket, delivery latency at a steady rate and for one event to every socket",
        wrk=False,
    ),
)
SCENARIO_KEYS = tuple(scenario.key for scenario in SCENARIOS)
# Scenarios run only when named in --scenarios: building their data takes minutes (bench/leaderboards.py).
OPT_IN_KEYS = frozenset({"leaderboard-1m"})
DEFAULT_KEYS = tuple(key for key in SCENARIO_KEYS if key not in OPT_IN_KEYS)
# What `--target URL` may run: the read-only scenarios (the baseline is a process on this machine, not the target's).
TARGET_KEYS = tuple(scenario.key for scenario in SCENARIOS if scenario.read_only)
BY_KEY = {scenario.key: scenario for scenario in SCENARIOS}
# The report's "vs peer" column: each project scenario and the peer doing the same work in the same run.
PEER_OF = {
    "me": "peer-me-minimal",
    "stripe-webhook-unique": "peer-webhook-fastapi",
    "stripe-webhook-duplicates": "peer-webhook-fastapi-duplicates",
}


def _me(fixtures: Fixtures) -> Request:
    return Request("/api/v1/auth/me", headers=(("Authorization", f"Bearer {fixtures.access_token}"),))


def _signin_invalid(_: Fixtures) -> Request:
    return Request("/api/v1/auth/signin", method="POST", body=MALFORMED_SIGNIN_BODY, headers=(JSON,))


def _refresh(fixtures: Fixtures) -> Request:
    return Request(
        "/api/v1/auth/refresh",
        method="POST",
        headers=(JSON,),
        dynamic_lua="refresh.lua",
        script_args=(str(fixtures.refresh_token_file), str(fixtures.wrk_threads)),
    )


def _lines(path: str, files: Path, header: str, mode: str, content_type: tuple[str, str]) -> Request:
    """A request a line from per-thread files (`files.0`, `files.1`, ...; see bench/lua/lines.lua)."""
    return Request(
        path,
        method="POST",
        headers=(content_type,),
        dynamic_lua="lines.lua",
        script_args=(str(files), header, mode),
    )


def _stripe_unique(fixtures: Fixtures) -> Request:
    return _lines(WEBHOOK_PATH, fixtures.stripe_unique_file, "Stripe-Signature", "once", STRIPE_JSON)


def _stripe_duplicates(fixtures: Fixtures) -> Request:
    return _lines(WEBHOOK_PATH, fixtures.stripe_duplicates_file, "Stripe-Signature", "cycle", STRIPE_JSON)


def _peer_stripe_unique(fixtures: Fixtures) -> Request:
    return _lines(WEBHOOK_PATH, fixtures.peer_stripe_unique_file, "Stripe-Signature", "once", STRIPE_JSON)


def _peer_stripe_duplicates(fixtures: Fixtures) -> Request:
    return _lines(WEBHOOK_PATH, fixtures.peer_stripe_duplicates_file, "Stripe-Signature", "cycle", STRIPE_JSON)


def _storekit(fixtures: Fixtures) -> Request:
    return _lines(VALIDATE_PATH, fixtures.storekit_file, "Authorization", "cycle", JSON)


def _generate(fixtures: Fixtures) -> Request:
    return _lines(GENERATE_PATH, fixtures.generate_file, "Authorization", "cycle", JSON)


def _scan(fixtures: Fixtures) -> Request:
    return _lines(SCAN_PATH, fixtures.scan_file, "Authorization", "cycle", JSON)


def _suggest(fixtures: Fixtures) -> Request:
    body = json.dumps({"ingredients": SUGGEST_INGREDIENTS, "limit": SUGGEST_LIMIT})
    return Request(
        SUGGEST_PATH,
        method="POST",
        body=body,
        headers=(JSON, ("Authorization", f"Bearer {fixtures.access_token}")),
        dynamic_lua="suggestions.lua",
    )


def _leaderboard(fixtures: Fixtures) -> Request:
    # GET requests whose path and bearer token come from per-thread files (see bench/lua/gets.lua).
    return Request(
        LEADERBOARD_PATH, dynamic_lua="gets.lua", script_args=(str(fixtures.leaderboard_file), str(LEADERBOARD_LIMIT))
    )


# The read-only scenarios' requests: fixed, so they need no fixtures (and no database) to build.
_PUBLIC_REQUESTS = {
    "health": Request("/health"),
    "tiers": Request("/api/v1/subscription/tiers"),
    "ingredients-search": Request(INGREDIENT_SEARCH_PATH),
}
_APP_REQUESTS = {
    "me": _me,
    "peer-me-minimal": _me,
    "signin-invalid": _signin_invalid,
    "refresh": _refresh,
    "stripe-webhook-unique": _stripe_unique,
    "stripe-webhook-duplicates": _stripe_duplicates,
    "peer-webhook-fastapi": _peer_stripe_unique,
    "peer-webhook-fastapi-duplicates": _peer_stripe_duplicates,
    "storekit-validate": _storekit,
    "generate-cached": _generate,
    "scan": _scan,
    "suggest-100k": _suggest,
    "leaderboard-1m": _leaderboard,
}
PAYMENT_KEYS = frozenset({"stripe-webhook-unique", "stripe-webhook-duplicates", "storekit-validate"})
