"""The results as markdown: a table, the facts needed to compare runs, the correctness checks of the payment
scenarios, the verdicts on issue 17's targets, and the "Latest results" section of docs/benchmarks.md."""

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
# Issue 17's targets are set for this load on this machine; a run that differs says its verdicts are indicative.
TARGET_CONNECTIONS = 32
TARGET_CORES = 2
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


@dataclass(frozen=True)
class Target:
    """One scenario's target, judged from this run's figures only and never asserted by the tests: requests/s at
    least `ratio` times the `reference` scenario's in the same run (the baseline or the scenario's peer), or at
    least `ratio` requests/s without a reference; and any of a p99 bound, a p99 no worse than the reference's, no
    5xx."""

    key: str
    ratio: float
    reference: str | None = None
    p99_below_ms: float | None = None
    p99_within_reference: bool = False
    no_5xx: bool = False


# Issue 17's targets; they superseded the earlier /auth/me, Stripe webhook and cached-generation ones.
TARGETS = (
    Target("health", 0.65, "baseline"),
    Target("me", 1.0, PEER_OF["me"], p99_within_reference=True),
    Target("stripe-webhook-unique", 1.5, PEER_OF["stripe-webhook-unique"], p99_below_ms=50.0, no_5xx=True),
    Target("stripe-webhook-duplicates", 2.0, PEER_OF["stripe-webhook-duplicates"], p99_below_ms=50.0, no_5xx=True),
    Target("storekit-validate", 1_000.0, no_5xx=True),
    Target("generate-cached", 0.2, "baseline", no_5xx=True),
)


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


def target_verdict(target: Target, measured: list[Measured]) -> str | None:
    """Met or not, each condition with its figure; says what is missing when this run cannot decide; None when the
    scenario did not run."""
    results = {row.scenario.key: row.result for row in measured}
    result = results.get(target.key)
    if result is None:
        return None
    reference = results.get(target.reference) if target.reference else None
    if target.reference and reference is None:
        return f"`{target.key}` target not assessed: it needs the `{target.reference}` scenario in the same run."
    if reference is not None and not reference.requests_per_second:
        return f"`{target.key}` target not assessed: `{target.reference}` finished no request in this run."
    rps = result.requests_per_second
    if reference is None:
        throughput = (rps >= target.ratio, f"target ≥ {target.ratio:,.0f} requests/s")
    else:
        ratio = rps / reference.requests_per_second
        against = (
            f"{ratio:.0%} of the baseline's requests/s (target ≥ {target.ratio:.0%})"
            if target.reference == "baseline"
            else f"{ratio:.2f}x `{target.reference}`'s requests/s (target ≥ {target.ratio:.1f}x)"
        )
        throughput = (ratio >= target.ratio, against)
    conditions = [throughput]
    if target.p99_below_ms is not None:
        conditions.append(
            (result.p99_ms < target.p99_below_ms, f"p99 {_ms(result.p99_ms)} ms (target < {target.p99_below_ms:g} ms)")
        )
    if reference is not None and target.p99_within_reference:
        conditions.append(
            (
                result.p99_ms <= reference.p99_ms,
                f"p99 {_ms(result.p99_ms)} ms, `{target.reference}`'s {_ms(reference.p99_ms)} ms (target no worse)",
            )
        )
    if target.no_5xx:
        five_xx = sum(n for status, n in result.statuses.items() if status >= 500)
        conditions.append((five_xx == 0, f"{five_xx} 5xx (target 0)"))
    word = "**met**" if all(ok for ok, _ in conditions) else "**not met**"
    details = "; ".join(f"{text} {'✓' if ok else '✗'}" for ok, text in conditions)
    return f"`{target.key}` target {word}: {rps:,.0f} requests/s, {details}."


def verdicts(measured: list[Measured], connections: int, cores: int) -> str | None:
    """Issue 17's verdicts for the scenarios this run measured, the 100k ranking's latency (no number was set for
    it), once the caveat when the load or the machine differ from the targets', then the verdicts probes gave on
    their own targets (the leaderboard's per-query p99); None when there is nothing to judge."""
    lines = [line for target in TARGETS if (line := target_verdict(target, measured))]
    suggest = next((row for row in measured if row.scenario.key == "suggest-100k"), None)
    if suggest is not None:
        result = suggest.result
        passed, text = _checks_passed(suggest)
        lines.append(
            f'`suggest-100k` (no numeric target; "stays fast"): {result.requests_per_second:,.0f} requests/s, '
            f"p50 {_ms(result.p50_ms)} ms, p99 {_ms(result.p99_ms)} ms; {text} {'✓' if passed else '✗'}."
        )
    differences = [
        *([f"this run used {connections} connections"] if connections != TARGET_CONNECTIONS else []),
        *([f"this machine has {cores} cores"] if cores != TARGET_CORES else []),
    ]
    if lines and differences:
        lines.append(
            f"The targets are set for {TARGET_CONNECTIONS} connections on a {TARGET_CORES}-core machine; "
            f"{' and '.join(differences)}: indicative only."
        )
    lines += [row.verdict for row in measured if row.verdict]
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
            "(tests/fakes/openai.py, a Python http.server in the bench process, keeping connections alive); the "
            "generate and scan accounts are made paid by a `creator` Stripe subscription inserted in the bench "
            "database, and "
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
    judged = verdicts(measured, facts.connections, facts.machine.logical_cores)
    if judged:
        parts.append(judged)
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
