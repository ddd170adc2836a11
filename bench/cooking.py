"""The cooking scenarios' data and their correctness checks.

- `generate-cached`: paid accounts asking for recipe previews of the same ingredients and preferences, against a
  loopback fake of the OpenAI-compatible provider (tests/fakes/openai.py); one priming request fills the
  generation cache before the warm-up, so every measured request is a cache hit with no model call.
- `scan`: paid accounts sending a small JPEG to the scan endpoint, the fake provider answering one ingredient.
- `suggest-100k`: 100,000 synthetic catalog recipes inserted straight into the bench database, then catalog
  suggestions for five common non-staple ingredients.

The accounts are paid (a `creator` Stripe subscription inserted directly), so their limits are the fair-use caps
from settings, which the bench server sets high (COOKING_FAIR_USE); the usage counters are still updated on every
request.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import io
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
from PIL import Image

from app.recipes.ranking import CatalogRanking
from bench.payments import (
    AccessLog,
    Probe,
    SignedInUser,
    _five_xx,
    _query,
    _sign_up_many,
    _status_text,
    settled,
    write_request_lines,
)
from bench.report import Check, percentiles
from bench.scenarios import GENERATE_PATH, SCAN_PATH, SUGGEST_INGREDIENTS, SUGGEST_LIMIT, Fixtures
from bench.wrk import WrkResult
from tests.fakes.openai import API_KEY, FakeOpenAI

AI_KEYS = frozenset({"generate-cached", "scan"})
COOKING_KEYS = AI_KEYS | {"suggest-100k"}
# The paid tiers' fair-use caps for the bench server: far above what a run can send, so no request is refused for
# them (the counters are still consumed on every request, cache hits included).
COOKING_FAIR_USE = "100000000"
# Accounts per wrk thread: each thread cycles over its own, so concurrent requests mostly count against different
# accounts' usage rows, as real users would.
ACCOUNTS_PER_THREAD = 16
SYNTHETIC_RECIPES = 100_000
QUERY_SAMPLES = 200
PREVIEWS_REQUEST = {
    "detected_ingredients": ["chicken thigh", "coconut milk", "lime", "rice", "garlic"],
    "user_preferences": {"serving_size": 2, "cuisine_preferences": ["thai"], "time_available": 30},
}


def cooking_environment(fake: FakeOpenAI) -> dict[str, str]:
    """The AI provider (the fake), the paid tiers' fair-use caps and the per-account scan attempts a minute."""
    return {
        "AI_BASE_URL": fake.base_url,
        "AI_API_KEY": API_KEY,
        "RECIPES_GENERATIONS_FAIR_USE_PER_MONTH": COOKING_FAIR_USE,
        "SCAN_FAIR_USE_PER_DAY": COOKING_FAIR_USE,
        "SCAN_ATTEMPTS_PER_MINUTE": COOKING_FAIR_USE,
    }


def preview_ideas() -> dict[str, Any]:
    """Three valid previews (the shape tests/integration/recipes/test_generation.py scripts)."""
    idea = {
        "description": "Quick and bright.",
        "estimated_time": 30,
        "difficulty": "easy",
        "cuisine_type": "thai",
        "main_ingredients": ["chicken thigh", "coconut milk"],
        "appeal_factors": ["fast", "one pan"],
    }
    return {"previews": [{"title": f"Bench idea {n}", **idea} for n in range(1, 4)]}


def scan_reply() -> dict[str, Any]:
    ingredient = {
        "name": "tomato",
        "category": "vegetable",
        "confidence": 0.9,
        "variety": None,
        "quantity": None,
        "unit": None,
    }
    return {"ingredients": [ingredient]}


def small_jpeg() -> str:
    """A 320x240 JPEG (a gradient, so it is not trivially compressible), base64."""
    image = Image.new("RGB", (320, 240))
    image.putdata([(x % 256, y % 256, (x + y) % 256) for y in range(240) for x in range(320)])
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return base64.b64encode(out.getvalue()).decode()


def paid_accounts(dsn: str, base_url: str, count: int) -> list[SignedInUser]:
    """`count` accounts signed up over HTTP, each given an active `creator` Stripe subscription in the database."""
    users = asyncio.run(_sign_up_many(base_url, count))
    now = datetime.datetime.now(datetime.UTC)
    records = [
        (
            user.user_id,
            "stripe",
            f"sub_bench_cooking_{user.user_id.hex}",
            "creator",
            "active",
            "monthly",
            now - datetime.timedelta(days=1),
            now + datetime.timedelta(days=29),
            now,
        )
        for user in users
    ]

    async def insert() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.copy_records_to_table(
                "subscriptions",
                records=records,
                columns=[
                    "user_id",
                    "provider",
                    "provider_subscription_id",
                    "tier_slug",
                    "status",
                    "billing_period",
                    "current_period_start",
                    "current_period_end",
                    "provider_updated_at",
                ],
            )
        finally:
            await conn.close()

    asyncio.run(insert())
    return users


def write_account_lines(prefix: Path, users: list[SignedInUser], body: bytes, threads: int) -> None:
    write_request_lines(prefix, (f"Bearer {user.access_token}\t".encode() + body for user in users), threads)


def cooking_probes(
    keys: set[str], dsn: str, base_url: str, access_log: Path, fixtures: Fixtures, fake: FakeOpenAI | None
) -> dict[str, Probe]:
    log = AccessLog(access_log)
    probes: dict[str, Probe] = {}
    if "generate-cached" in keys:
        assert fake is not None
        probes["generate-cached"] = GenerateCachedProbe(dsn, log, base_url, fixtures, fake)
    if "scan" in keys:
        assert fake is not None
        probes["scan"] = ScanProbe(dsn, log, base_url, fixtures, fake)
    if "suggest-100k" in keys:
        probes["suggest-100k"] = SuggestProbe(dsn, log, fixtures)
    return probes


class GenerateCachedProbe:
    """One priming request generates (one model call); every later identical request is a cache hit."""

    KEY = "generate-cached"

    def __init__(self, dsn: str, log: AccessLog, base_url: str, fixtures: Fixtures, fake: FakeOpenAI) -> None:
        self._dsn, self._log, self._base_url, self._fake = dsn, log, base_url, fake
        self.file, self._threads = fixtures.generate_file, fixtures.wrk_threads
        self._model_calls_before = 0
        self._prime_status = 0
        self._mark = 0
        self._hits_before = 0

    def before_warmup(self) -> None:
        count = ACCOUNTS_PER_THREAD * self._threads
        print(f"   signing up {count} paid accounts for {self.KEY} ...", file=sys.stderr)
        users = paid_accounts(self._dsn, self._base_url, count)
        self._fake.respond = lambda _body: preview_ideas()
        self._model_calls_before = len(self._fake.requests)
        body = msgspec.json.encode(PREVIEWS_REQUEST)
        response = httpx.post(
            self._base_url + GENERATE_PATH,
            content=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {users[0].access_token}"},
            timeout=60,
        )
        self._prime_status = response.status_code
        if response.status_code != 200 or response.json().get("source") != "ai":
            print(f"   !! priming answered {response.status_code}: {response.text[:300]}", file=sys.stderr)
        write_account_lines(self.file, users, body, self._threads)

    def before_measured(self) -> None:
        self._mark = settled(self._log.mark)
        self._hits_before = self._hits()

    def _cache_rows(self) -> list[str]:
        return [str(r[0]) for r in _query(self._dsn, "select status from generation_cache")]

    def _hits(self) -> int:
        """Cache hits for previews, summed over the app's workers by its /metrics."""
        text = httpx.get(self._base_url + "/metrics", timeout=30).text
        pattern = r'^cookcam_generation_cache_total\{kind="previews",outcome="hit"\} ([0-9.e+]+)$'
        found = re.search(pattern, text, re.MULTILINE)
        return int(float(found.group(1))) if found else 0

    def after_measured(self, result: WrkResult) -> tuple[Check, ...]:
        settled(self._log.mark)
        app = self._log.statuses(self._mark, GENERATE_PATH)
        calls = len(self._fake.requests) - self._model_calls_before
        rows = self._cache_rows()
        hits = self._hits()
        answered = app.get(200, 0)
        read_2xx = sum(n for status, n in result.statuses.items() if 200 <= status < 300)
        return (
            Check(
                calls == 1 and self._prime_status == 200,
                f"`{self.KEY}`: the fake provider received {calls} request(s) in all, the priming one answered "
                f"{self._prime_status} (expected exactly 1 model call)",
            ),
            Check(
                len(rows) == 1 and rows[0] == "ready" and hits - self._hits_before >= answered,
                f"`{self.KEY}`: generation_cache holds {len(rows)} row(s) ({', '.join(rows)}), "
                f"/metrics counts {hits:,} hits in all, {hits - self._hits_before:,} during the measured run "
                f"for the app's {answered:,} 200 answers (wrk read {read_2xx:,} 2xx); "
                f"the app's answers: {_status_text(app)}",
            ),
            Check(
                _five_xx(result.statuses) == 0 and _five_xx(app) == 0,
                f"`{self.KEY}`: 5xx: {_five_xx(result.statuses)} read by wrk, {_five_xx(app)} logged by the app",
            ),
        )


class ScanProbe:
    """Every 2xx answer stored one scan for its account: counted from before the warm-up (the accounts are new),
    so that warm-up requests still finishing when the measured run starts cannot blur the count."""

    KEY = "scan"

    def __init__(self, dsn: str, log: AccessLog, base_url: str, fixtures: Fixtures, fake: FakeOpenAI) -> None:
        self._dsn, self._log, self._base_url, self._fake = dsn, log, base_url, fake
        self.file, self._threads = fixtures.scan_file, fixtures.wrk_threads
        self._ids: list[uuid.UUID] = []
        self._before = 0
        self._mark = 0
        self._calls_before = 0

    def _scans(self) -> int:
        return int(_query(self._dsn, "select count(*) from scans where user_id = any($1::uuid[])", self._ids)[0][0])

    def before_warmup(self) -> None:
        count = ACCOUNTS_PER_THREAD * self._threads
        print(f"   signing up {count} paid accounts for {self.KEY} ...", file=sys.stderr)
        users = paid_accounts(self._dsn, self._base_url, count)
        self._ids = [user.user_id for user in users]
        self._fake.respond = lambda _body: scan_reply()
        body = msgspec.json.encode({"image_data": small_jpeg()})
        write_account_lines(self.file, users, body, self._threads)
        self._before = self._scans()
        self._mark = self._log.mark()
        self._calls_before = len(self._fake.requests)

    def before_measured(self) -> None:
        pass

    def after_measured(self, result: WrkResult) -> tuple[Check, ...]:
        def counts() -> tuple[int, dict[int, int]]:
            return self._scans() - self._before, self._log.statuses(self._mark, SCAN_PATH)

        # Requests still queued on the fake provider may stay quiet for a poll or two: settled means the stored
        # scans match the logged answers (or SETTLE_TIMEOUT_SECONDS passed).
        stored, app = settled(counts, lambda c: c[0] == sum(n for s, n in c[1].items() if 200 <= s < 300))
        app_2xx = sum(n for status, n in app.items() if 200 <= status < 300)
        read_2xx = sum(n for status, n in result.statuses.items() if 200 <= status < 300)
        calls = len(self._fake.requests) - self._calls_before
        return (
            Check(
                # A refusal (429 from a cap the harness did not lift) would be measured instead of a scan.
                stored == app_2xx and read_2xx <= stored and app_2xx == sum(app.values()),
                f"`{self.KEY}`: {stored:,} scans stored for the app's {app_2xx:,} 2xx answers, warm-up included "
                f"(wrk read {read_2xx:,} in the measured run); {calls:,} model calls; the app's answers: "
                f"{_status_text(app)}",
            ),
            Check(
                _five_xx(result.statuses) == 0 and _five_xx(app) == 0,
                f"`{self.KEY}`: 5xx: {_five_xx(result.statuses)} read by wrk, {_five_xx(app)} logged by the app",
            ),
        )


# Synthetic catalog: each recipe links 6-10 distinct ingredients drawn uniformly from the ingredient table (20 draws,
# the first n distinct kept), staple from ingredients.pantry_staple, key_ingredients = its non-staple links.
SYNTHETIC_SQL = """
create temp table bench_synth as
select g, gen_random_uuid() as id, 6 + floor(random() * 5)::int as n from generate_series(1, $1::int) g;

create temp table bench_links as
with ids as (select array_agg(id order by id) as a from ingredients),
picks as (
    select s.id as recipe_id, s.n, k, (ids.a)[1 + floor(random() * array_length(ids.a, 1))::int] as ingredient_id
    from bench_synth s cross join ids cross join generate_series(1, 20) k
),
firsts as (select recipe_id, n, ingredient_id, min(k) as k from picks group by recipe_id, n, ingredient_id),
ranked as (select *, row_number() over (partition by recipe_id order by k) as rn from firsts)
select r.recipe_id, r.ingredient_id, i.pantry_staple as staple, i.name, r.k
from ranked r join ingredients i on i.id = r.ingredient_id
where r.rn <= r.n;

insert into recipes (id, user_id, slug, title, description, cuisine, meal_type, difficulty, prep_minutes,
                     cook_minutes, servings, dietary_tags, ingredients, steps, key_ingredients)
select s.id, null, 'bench-synthetic-' || s.g, 'Bench synthetic recipe ' || s.g, 'A synthetic catalog recipe.',
       (array['thai', 'italian', 'mexican', 'indian', 'french'])[1 + s.g % 5],
       (array['breakfast', 'lunch', 'dinner', 'snack', 'dessert'])[1 + s.g % 5],
       (array['easy', 'medium', 'hard'])[1 + s.g % 3],
       5 + s.g % 30, 10 + s.g % 50, 1 + s.g % 6, '{}',
       l.lines, '["Prepare the ingredients.", "Cook them.", "Serve."]'::jsonb, l.key
from bench_synth s
join (
    select recipe_id,
           jsonb_agg(jsonb_build_object('name', name, 'quantity', 100, 'unit', 'g', 'note', null) order by k) as lines,
           count(*) filter (where not staple)::int as key
    from bench_links group by recipe_id
) l on l.recipe_id = s.id;

insert into recipe_ingredients (recipe_id, ingredient_id, staple)
select recipe_id, ingredient_id, staple from bench_links;

drop table bench_synth;
drop table bench_links;
"""

# The SQL ranking the in-memory index replaced (app/recipes/ranking.py), timed beside it for comparison.
RANK_SQL = """
select r.id, r.title, r.key_ingredients, m.matched::integer as matched, (r.key_ingredients - m.matched)::integer
from (
    select recipe_id, count(*) as matched from recipe_ingredients
    where ingredient_id = any($1::integer[]) and not staple group by recipe_id
) m
join recipes r on r.id = m.recipe_id
where r.user_id is null and r.dietary_tags @> '{}'::text[]
order by m.matched desc, (r.key_ingredients - m.matched), r.title
limit $2
"""


class SuggestProbe:
    """100,000 synthetic catalog recipes, then ranked suggestions: every answer 200 with SUGGEST_LIMIT of them."""

    KEY = "suggest-100k"

    def __init__(self, dsn: str, log: AccessLog, fixtures: Fixtures) -> None:
        self._dsn, self._log = dsn, log
        self._facts: dict[str, Any] = {}
        self._mark = 0

    def before_warmup(self) -> None:
        print(f"   inserting {SYNTHETIC_RECIPES:,} synthetic catalog recipes ...", file=sys.stderr)
        self._facts = asyncio.run(self._insert())

    async def _insert(self) -> dict[str, Any]:
        conn = await asyncpg.connect(self._dsn)
        try:
            started = time.monotonic()
            async with conn.transaction():
                await conn.execute(SYNTHETIC_SQL.replace("$1::int", str(SYNTHETIC_RECIPES)))
            await conn.execute("analyze recipes; analyze recipe_ingredients")
            seconds = time.monotonic() - started
            counts = await conn.fetchrow(
                "select (select count(*) from recipes where user_id is null) as recipes, "
                "(select count(*) from recipe_ingredients) as links, "
                "(select count(*) from recipes where starts_with(slug, 'bench-synthetic-')) as synthetic"
            )
            chosen = await conn.fetch(
                "select id, name, pantry_staple from ingredients where name = any($1::text[])", SUGGEST_INGREDIENTS
            )
            assert counts is not None
            return {"seconds": seconds, **dict(counts), "chosen": [dict(row) for row in chosen]}
        finally:
            await conn.close()

    def before_measured(self) -> None:
        self._mark = settled(self._log.mark)

    async def _timings(self) -> dict[str, Any]:
        """The ranking alone, on an idle server: the index's build, its rank() and the SQL it replaced."""
        ids = [row["id"] for row in self._facts["chosen"]]
        conn = await asyncpg.connect(self._dsn)
        try:
            started = time.perf_counter()
            index = await CatalogRanking().current(conn)
            build = time.perf_counter() - started
            ranked, sql = [], []
            for _ in range(QUERY_SAMPLES):
                started = time.perf_counter()
                index.rank(ids, meal_type=None, required_tags=[], limit=SUGGEST_LIMIT)
                ranked.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await conn.fetch(RANK_SQL, ids, SUGGEST_LIMIT)
                sql.append((time.perf_counter() - started) * 1000)
            return {"build": build, "rank": percentiles(ranked), "sql": percentiles(sql)}
        finally:
            await conn.close()

    def after_measured(self, result: WrkResult) -> tuple[Check, ...]:
        settled(self._log.mark)
        app = self._log.statuses(self._mark, "/api/v1/recipes/suggestions")
        read = sum(result.statuses.values())
        full = result.counters.get(f"suggestions_{SUGGEST_LIMIT}", 0)
        chosen = self._facts["chosen"]
        non_staple = [row["name"] for row in chosen if not row["pantry_staple"]]
        timings = asyncio.run(self._timings())
        return (
            Check(
                self._facts["synthetic"] == SYNTHETIC_RECIPES and len(non_staple) == len(SUGGEST_INGREDIENTS),
                f"`{self.KEY}`: {self._facts['synthetic']:,} synthetic recipes inserted in "
                f"{self._facts['seconds']:.1f} s ({self._facts['recipes']:,} catalog recipes, "
                f"{self._facts['links']:,} ingredient links in all); asked for {', '.join(non_staple)} "
                f"({len(non_staple)} of {len(SUGGEST_INGREDIENTS)} known non-staple ingredients)",
            ),
            Check(
                full == read and set(result.statuses) <= {200} and set(app) <= {200},
                f"`{self.KEY}`: {full:,} of {read:,} answers read were 200 with {SUGGEST_LIMIT} suggestions; "
                f"the app's answers: {_status_text(app)}",
            ),
            Check(
                True,
                f"`{self.KEY}`: the ranking alone, on an idle server after the scenario: building the in-memory "
                f"index {timings['build']:.2f} s; rank() {QUERY_SAMPLES} times p50 {timings['rank'][0]:.2f} ms, "
                f"p99 {timings['rank'][1]:.2f} ms; the SQL ranking it replaced p50 {timings['sql'][0]:.2f} ms, "
                f"p99 {timings['sql'][1]:.2f} ms",
            ),
        )
