"""The results as markdown: a table, the facts needed to compare runs, the correctness checks of the payment
scenarios, the verdicts on the /auth/me and payment targets, and the "Latest results" section of
docs/benchmarks.md."""

from __future__ import annotations

import math
import os
import platform
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from bench.scenarios import PEER_OF, Scenario
from bench.wrk import WrkResult

DOCS_FILE = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
LATEST_HEADING = "## Latest results"
# The project's target for GET /api/v1/auth/me, measured here and never asserted by the tests.
TARGET_SHARE_OF_BASELINE = 0.5
TARGET_P99_MS = 20.0
TARGET_CONNECTIONS = 32
TARGET_CORES = 2
# The payment targets (from the issue): Stripe webhooks, unique events and duplicate deliveries.
PAYMENT_TARGETS = (("stripe-webhook-unique", 0.25), ("stripe-webhook-duplicates", 0.5))
PAYMENT_TARGET_P99_MS = 50.0
# The cooking targets (from the issue): cached previews; the 100k-recipe ranking "stays fast" (p99 reported only).
GENERATE_TARGET_SHARE = 0.4
GENERATE_TARGET_P99_MS = 25.0
COOKING_SCENARIOS = frozenset({"generate-cached", "scan", "suggest-100k"})
LEADERBOARD_SCENARIOS = frozenset({"leaderboard-1m"})


@dataclass(frozen=True)
class Check:
    """One correctness check of a scenario, read from the database after it ran."""

    ok: bool
    text: str

    def __str__(self) -> str:
        return f"{self.text} {'✓' if self.ok else '✗'}"


@dataclass(frozen=True)
class Measured:
    scenario: Scenario
    result: WrkResult
    checks: tuple[Check, ...] = ()
    # The scenario's own verdict on its target, from its probe (bench/leaderboards.py), shown under the checks.
    verdict: str | None = None


@dataclass(frozen=True)
class OwnClient:
    """A scenario measured by a client of its own, not wrk (bench/ws_fanout.py): its figures as text, its checks."""

    key: str
    figures: tuple[str, ...]
    checks: tuple[Check, ...]


@runtime_checkable
class JudgesTarget(Protocol):
    """A probe that assesses its scenario's target itself, from what it measured beside wrk."""

    def verdict(self, result: WrkResult) -> str: ...


@dataclass(frozen=True)
class RunFacts:
    command: str
    date: str
    workers: int
    connections: int
    threads: int
    duration_seconds: int
    warmup_seconds: int
    wrk_version: str
    database: str
    machine: Machine
    notes: tuple[str, ...]
    # Results of the scenarios that are not wrk's (bench/ws_fanout.py), each a block of markdown.
    sections: tuple[str, ...] = ()
    own_clients: tuple[OwnClient, ...] = ()
    # The code measured: HEAD when the run started, and whether the work tree differed from it.
    git_commit: str | None = None
    git_dirty: bool | None = None
    # A deployed instance loaded with --target (None: the servers this run started).
    target: str | None = None
    # False when a check failed or the run found a problem (the run exits non-zero).
    ok: bool = True


def percentiles(samples: list[float]) -> tuple[float, float]:
    """The median and the p99 of `samples` (with fewer than 100, the p99 is the largest)."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass(frozen=True)
class Machine:
    """The load generator's machine, read when the run starts (results.json keeps these as numbers)."""

    cpu_model: str
    logical_cores: int
    usable_cores: int
    memory_total_gib: float
    memory_available_gib: float
    os: str
    python: str
    # Share of CPU time idle in the second before the run, and the load averages then: was something else busy?
    cpu_idle_share: float
    load_average: tuple[float, float, float]

    def lines(self) -> tuple[str, ...]:
        return (
            f"CPU: {self.cpu_model}, {self.logical_cores} logical cores (`nproc`: {self.usable_cores})",
            f"Memory: {self.memory_total_gib:.1f} GiB total, {self.memory_available_gib:.1f} GiB available at start",
            f"OS: {self.os}; Python {self.python}",
            f"CPU idle in the second before the run: {self.cpu_idle_share:.0%} "
            "(anything less means something else was busy)",
        )


def machine_facts() -> Machine:
    return Machine(
        cpu_model=_cpu_model(),
        logical_cores=os.cpu_count() or 0,
        usable_cores=len(os.sched_getaffinity(0)),
        memory_total_gib=_meminfo_gib("MemTotal"),
        memory_available_gib=_meminfo_gib("MemAvailable"),
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        cpu_idle_share=_idle_share(),
        load_average=os.getloadavg(),
    )


def _idle_share(seconds: float = 1.0) -> float:
    # A one-second sample of /proc/stat; this VM's load average stays above 2 even when idle, so it says little.
    def sample() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total

    idle_before, total_before = sample()
    time.sleep(seconds)
    idle_after, total_after = sample()
    return (idle_after - idle_before) / max(1, total_after - total_before)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _meminfo_gib(field: str) -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024 / 1024, 2)
    return float("nan")


def baseline_rps(measured: list[Measured]) -> float | None:
    for row in measured:
        if row.scenario.server == "baseline":
            return row.result.requests_per_second
    return None


def peer_ratios(measured: list[Measured]) -> dict[str, float]:
    """Each project scenario's requests/s over its peer's (PEER_OF), for the pairs both measured in this run."""
    rps = {row.scenario.key: row.result.requests_per_second for row in measured}
    return {key: rps[key] / rps[peer] for key, peer in PEER_OF.items() if key in rps and rps.get(peer)}


def _peer_cell(key: str, ratios: dict[str, float]) -> str:
    """The ratio and the peer (`1.25x` and its key); blank without a peer, n/a when the peer did not run."""
    if key not in PEER_OF:
        return ""
    return f"{ratios[key]:.2f}x `{PEER_OF[key]}`" if key in ratios else "n/a"


def _non_2xx_cell(row: Measured) -> str:
    """The non-2xx count; for a scenario that exists to be refused, split into expected and unexpected answers."""
    result, scenario = row.result, row.scenario
    unexpected = {status: n for status, n in result.statuses.items() if status not in scenario.expected_statuses}
    if not scenario.expects_errors:
        return f"{result.non_2xx} ({_status_list(unexpected)})" if unexpected else str(result.non_2xx)
    expected = sum(n for status, n in result.statuses.items() if status in scenario.expected_statuses)
    cell = f"{expected:,} expected ({'/'.join(map(str, sorted(scenario.expected_statuses)))})"
    return cell + (f"; unexpected: {_status_list(unexpected)}" if unexpected else "")


def _status_list(statuses: dict[int, int]) -> str:
    return ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def results_table(measured: list[Measured]) -> str:
    baseline = baseline_rps(measured)
    ratios = peer_ratios(measured)
    lines = [
        "| scenario | requests/s | p50 ms | p99 ms | non-2xx | socket errors / timeouts | vs baseline | vs peer |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in measured:
        result = row.result
        share = f"{result.requests_per_second / baseline:.0%}" if baseline else "n/a"
        lines.append(
            f"| {row.scenario.label} | {result.requests_per_second:,.0f} | {_ms(result.p50_ms)} | "
            f"{_ms(result.p99_ms)} | {_non_2xx_cell(row)} | {result.socket_errors} / {result.timeouts} | {share} | "
            f"{_peer_cell(row.scenario.key, ratios)} |"
        )
    return "\n".join(lines)


def verdict(measured: list[Measured], connections: int) -> str:
    """Met or not, with the numbers; says why when this run cannot decide."""
    baseline = baseline_rps(measured)
    me = next((row.result for row in measured if row.scenario.key == "me"), None)
    if me is None or baseline is None:
        return "Not assessed: the target needs both the `baseline` and the `me` scenarios in the same run."
    share = me.requests_per_second / baseline
    checks = [
        (share >= TARGET_SHARE_OF_BASELINE, f"{share:.0%} of the baseline's requests/s (target ≥ 50 %)"),
        (me.p99_ms < TARGET_P99_MS, f"p99 {_ms(me.p99_ms)} ms (target < 20 ms)"),
        (
            me.non_2xx == 0 and me.socket_errors + me.timeouts == 0,
            f"{me.non_2xx} non-2xx and {me.socket_errors + me.timeouts} socket errors/timeouts (target 0)",
        ),
    ]
    met = all(ok for ok, _ in checks)
    details = "; ".join(f"{text} {'✓' if ok else '✗'}" for ok, text in checks)
    caveat = ""
    if connections != TARGET_CONNECTIONS:
        caveat += f" This run used {connections} connections, not the target's {TARGET_CONNECTIONS}: indicative only."
    if os.cpu_count() != TARGET_CORES:
        caveat += f" The target is set for a {TARGET_CORES}-core machine; this one has {os.cpu_count()}."
    word = "**met**" if met else "**not met**"
    return f"`GET /api/v1/auth/me` target {word}: {me.requests_per_second:,.0f} requests/s, {details}.{caveat}"


def payment_verdict(measured: list[Measured], connections: int) -> str | None:
    """The Stripe webhook targets, one line per scenario measured; None when neither ran."""
    baseline = baseline_rps(measured)
    lines = []
    for key, share_target in PAYMENT_TARGETS:
        row = next((row for row in measured if row.scenario.key == key), None)
        if row is None:
            continue
        if baseline is None:
            lines.append(f"`{key}` target not assessed: it needs the `baseline` scenario in the same run.")
            continue
        result = row.result
        share = result.requests_per_second / baseline
        five_xx = sum(n for status, n in result.statuses.items() if status >= 500)
        checks = [
            (share >= share_target, f"{share:.0%} of the baseline's requests/s (target ≥ {share_target:.0%})"),
            (result.p99_ms < PAYMENT_TARGET_P99_MS, f"p99 {_ms(result.p99_ms)} ms (target < 50 ms)"),
            (five_xx == 0, f"{five_xx} 5xx (target 0)"),
            _checks_passed(row),
        ]
        met = all(ok for ok, _ in checks)
        details = "; ".join(f"{text} {'✓' if ok else '✗'}" for ok, text in checks)
        caveat = (
            f" This run used {connections} connections, not the target's {TARGET_CONNECTIONS}: indicative only."
            if connections != TARGET_CONNECTIONS
            else ""
        )
        word = "**met**" if met else "**not met**"
        lines.append(f"`{key}` target {word}: {result.requests_per_second:,.0f} requests/s, {details}.{caveat}")
    return "\n\n".join(lines) if lines else None


def cooking_verdict(measured: list[Measured], connections: int) -> str | None:
    """The cached-previews target, and the 100k ranking's latency (no number was set for it); None when neither
    ran."""
    baseline = baseline_rps(measured)
    caveat = (
        f" This run used {connections} connections, not the target's {TARGET_CONNECTIONS}: indicative only."
        if connections != TARGET_CONNECTIONS
        else ""
    )
    lines = []
    generate = next((row for row in measured if row.scenario.key == "generate-cached"), None)
    if generate is not None and baseline is None:
        lines.append("`generate-cached` target not assessed: it needs the `baseline` scenario in the same run.")
    elif generate is not None and baseline is not None:
        result = generate.result
        share = result.requests_per_second / baseline
        five_xx = sum(n for status, n in result.statuses.items() if status >= 500)
        checks = [
            (share >= GENERATE_TARGET_SHARE, f"{share:.0%} of the baseline's requests/s (target ≥ 40 %)"),
            (result.p99_ms < GENERATE_TARGET_P99_MS, f"p99 {_ms(result.p99_ms)} ms (target < 25 ms)"),
            (five_xx == 0, f"{five_xx} 5xx (target 0)"),
            _checks_passed(generate),
        ]
        met = all(ok for ok, _ in checks)
        details = "; ".join(f"{text} {'✓' if ok else '✗'}" for ok, text in checks)
        word = "**met**" if met else "**not met**"
        lines.append(
            f"`generate-cached` target {word}: {result.requests_per_second:,.0f} requests/s, {details}.{caveat}"
        )
    suggest = next((row for row in measured if row.scenario.key == "suggest-100k"), None)
    if suggest is not None:
        result = suggest.result
        passed, text = _checks_passed(suggest)
        lines.append(
            f'`suggest-100k` (no numeric target; "stays fast"): {result.requests_per_second:,.0f} requests/s, '
            f"p50 {_ms(result.p50_ms)} ms, p99 {_ms(result.p99_ms)} ms; {text} {'✓' if passed else '✗'}.{caveat}"
        )
    return "\n\n".join(lines) if lines else None


def scenario_verdicts(measured: list[Measured]) -> str | None:
    """The verdicts probes gave on their own targets (the leaderboard's per-query p99); None when there are none."""
    lines = [row.verdict for row in measured if row.verdict]
    return "\n\n".join(lines) if lines else None


def _checks_passed(row: Measured) -> tuple[bool, str]:
    if not row.checks:
        return False, "no database checks ran"
    failed = sum(not check.ok for check in row.checks)
    return failed == 0, "database checks above all passed" if not failed else f"{failed} database check(s) failed"


def checks_section(measured: list[Measured]) -> str | None:
    checks = [check for row in measured for check in row.checks]
    if not checks:
        return None
    return "Correctness, from the database after each scenario (settled: no request still running):\n\n" + "\n".join(
        f"- {check}" for check in checks
    )


def latest_section(facts: RunFacts, measured: list[Measured]) -> str:
    setup = [
        f"Run {facts.date} with `{facts.command}`.",
        "",
        *(f"- {fact}" for fact in facts.machine.lines()),
        f"- Load: {facts.wrk_version}, {facts.connections} connections, {facts.threads} threads, "
        f"{facts.duration_seconds} s per scenario after a {facts.warmup_seconds} s warm-up; "
        "wrk, granian and PostgreSQL share the machine",
        f"- Servers: granian, {facts.workers} worker(s) for the app and for the baseline; "
        f"app with `APP_ENV=test`, default log level (an access line per request, to a file)",
        f"- Database: fresh `cookcam_bench_*` on the {facts.database}, dropped afterwards",
        "- Harness setting: `RATELIMIT_PER_ACCOUNT`, `RATELIMIT_PER_ADDRESS` and `RATELIMIT_REFRESH_PER_ADDRESS` "
        "= 100000000, because every "
        "signin and refresh comes from 127.0.0.1; the counters are still updated on every such request",
    ]
    if any(row.scenario.key in COOKING_SCENARIOS for row in measured):
        setup.append(
            "- Cooking: `AI_BASE_URL`/`AI_API_KEY` point at a loopback fake of the OpenAI-compatible provider "
            "(tests/fakes/openai.py, a Python http.server in the bench process); the generate and scan accounts are "
            "made paid by a `creator` Stripe subscription inserted in the bench database, and "
            "`RECIPES_GENERATIONS_FAIR_USE_PER_MONTH`, `SCAN_FAIR_USE_PER_DAY` and `SCAN_ATTEMPTS_PER_MINUTE` = "
            "100000000 (defaults 1000, 200 and 20) so the paid fair-use caps and the scan attempt limit never "
            "refuse a request; the usage and attempt counters are still updated on every request"
        )
    if any(row.scenario.key in LEADERBOARD_SCENARIOS for row in measured):
        setup.append(
            "- Leaderboards: 1,000,000 synthetic users and 20,000,000 XP ledger rows (with their totals and period "
            "totals) built straight into the bench database before the scenario (bench/leaderboards.py); "
            "the server's own PostgreSQL settings are left as they are"
        )
    if any(
        row.checks
        for row in measured
        if row.scenario.key not in COOKING_SCENARIOS | LEADERBOARD_SCENARIOS and row.scenario.server == "app"
    ):
        setup.append(
            "- Payments: `STRIPE_WEBHOOK_SECRET` set to a throwaway secret (no `STRIPE_SECRET_KEY`: subscription "
            "events never call Stripe) and `APPLE_ROOT_CERTIFICATES` pointing at the root of a fake Apple chain "
            "(tests/fakes/apple.py) that signs the StoreKit transactions; the per-account validation limit "
            "(20 a minute) is left as it is"
        )
    if any(row.scenario.server == "peer" for row in measured):
        setup.append(
            "- Peers (bench/peers/): granian like the baseline (same workers, event loop, no access log), started "
            "beside the app against the same database once its bench account exists; each idle while the others' "
            "scenarios run. \"vs peer\" is a project scenario's requests/s over its peer's in this run"
        )
    scenario_lines = [f"- {row.scenario.label}: {row.scenario.description}" for row in measured]
    parts = [LATEST_HEADING, "\n".join(setup)]
    if measured:
        parts += [results_table(measured), "\n".join(scenario_lines)]
    parts += facts.sections
    checks = checks_section(measured)
    if checks:
        parts.append(checks)
    parts.append(verdict(measured, facts.connections))
    payments = payment_verdict(measured, facts.connections)
    if payments:
        parts.append(payments)
    cooking = cooking_verdict(measured, facts.connections)
    if cooking:
        parts.append(cooking)
    own = scenario_verdicts(measured)
    if own:
        parts.append(own)
    if facts.notes:
        parts.append("\n".join(f"- {note}" for note in facts.notes))
    return "\n\n".join(parts) + "\n"


def write_latest(section: str, docs_file: Path = DOCS_FILE) -> None:
    """Replace the "Latest results" section (up to the next `## ` heading) and keep the rest of the file."""
    text = docs_file.read_text() if docs_file.exists() else ""
    pattern = re.compile(rf"^{re.escape(LATEST_HEADING)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        updated = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        updated = text.rstrip("\n") + ("\n\n" if text else "") + section
    docs_file.parent.mkdir(parents=True, exist_ok=True)
    docs_file.write_text(updated)
