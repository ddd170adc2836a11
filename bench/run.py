"""The load benchmark: `bash bench/run.sh [options]` (or `.venv/bin/python -m bench.run`).

Starts the baseline app and then the real app under granian (the latter against a fresh database, with the peers the
chosen scenarios name beside it: bench/peer_runs.py), drives wrk at a fixed concurrency against each scenario,
prints a markdown table and writes it to docs/benchmarks.md, and the run as data (results.json) and a chart to
bench/results/last-run/. The payment scenarios' requests are prepared right before
each wrk run and their effects checked in the database afterwards (bench/payments.py). With `--target URL` it starts
nothing and loads a deployed instance with the read-only scenarios only.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shlex
import shutil
import sys
import tempfile
import time
import urllib.parse
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import cost
from bench.chart import write_chart
from bench.compare import comparison
from bench.cooking import AI_KEYS, cooking_environment, cooking_probes
from bench.database import BenchDatabase, create_refresh_token_pool, fresh_database, spent_pool_tokens
from bench.leaderboards import leaderboard_probes
from bench.payments import (
    SIGNED_WEBHOOK_KEYS,
    SIGNING_MARGIN_SECONDS,
    STRIPE_TOLERANCE_SECONDS,
    Probe,
    payment_probes,
    server_environment,
)
from bench.peer_runs import peer_probes, start_peers
from bench.report import (
    JudgesTarget,
    Machine,
    Measured,
    OwnClient,
    RunFacts,
    checks_section,
    latest_section,
    machine_facts,
    results_table,
    verdicts,
    write_latest,
)
from bench.results import ResultsFileError, git_state, load_results, results_document, write_results
from bench.scenarios import (
    BY_KEY,
    DEFAULT_KEYS,
    OPT_IN_KEYS,
    PAYMENT_KEYS,
    SCENARIO_KEYS,
    TARGET_KEYS,
    Fixtures,
    Scenario,
)
from bench.servers import ServerProcess, app_server, baseline_server
from bench.wrk import LoadSettings, WrkUnavailable, ensure_wrk, parse_result, run_wrk, wrk_version
from bench.ws_fanout import measure as measure_ws_fanout
from bench.ws_fanout import raise_open_file_limit
from tests.fakes.apple import AppleSigner
from tests.fakes.openai import FakeOpenAI, fake_openai

# Refresh tokens per second of load: well above what one 2-core machine can rotate, so the pool cannot run dry;
# a run that does exhaust it says so and fails rather than reuse a token (which would revoke its session).
REFRESH_TOKENS_PER_SECOND = 12_000
MIN_REFRESH_TOKENS = 200_000
SETTLE_SECONDS = 2.0
ERROR_LEVEL = re.compile(r"\bERROR\b")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# A throwaway account in a throwaway database.
BENCH_PASSWORD = "bench-password-not-secret"


@dataclass
class Run:
    """What one invocation accumulates: measurements, and notes that belong next to them in the report."""

    wrk: str
    load: LoadSettings
    warmup_seconds: int
    workers: int
    # Scratch (Lua scripts, token files, the app's DATA_DIR), deleted at the end.
    work_dir: Path
    # Server logs and wrk's own output, kept for a look after the run (bench/results/ is ignored by git).
    log_dir: Path
    measured: list[Measured] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Results of the scenarios that are not wrk's (bench/ws_fanout.py), each a block of markdown, and as data.
    sections: list[str] = field(default_factory=list)
    own_clients: list[OwnClient] = field(default_factory=list)
    failed: bool = False

    def problem(self, note: str) -> None:
        print(f"!! {note}", file=sys.stderr)
        self.notes.append(f"**Problem:** {note}")
        self.failed = True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bash bench/run.sh", description="Load-benchmark the app with wrk.")
    parser.add_argument("--duration", type=_seconds, default=15, help="seconds per scenario (default 15)")
    parser.add_argument("--warmup", type=_seconds, default=2, help="unreported seconds before each one (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="open connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="granian workers for both apps (default 2)")
    parser.add_argument(
        "--scenarios",
        help=f"comma-separated subset of {','.join(SCENARIO_KEYS)} "
        f"(default: all but {', '.join(sorted(OPT_IN_KEYS))}, whose data takes minutes to build; "
        f"with --target: {','.join(TARGET_KEYS)})",
    )
    parser.add_argument("--no-write", action="store_true", help="print the table only; leave docs/benchmarks.md")
    parser.add_argument(
        "--compare",
        metavar="FILE",
        type=_results_file,
        help="a results.json of an earlier run: print each scenario's change (read before last-run/ is cleared)",
    )
    parser.add_argument(
        "--target",
        metavar="URL",
        type=_target_url,
        help=f"load this deployed instance instead of starting servers; read-only scenarios only "
        f"({','.join(TARGET_KEYS)}); never writes docs/benchmarks.md",
    )
    args = parser.parse_args(argv)
    if args.scenarios is None:
        args.scenarios = ",".join(TARGET_KEYS if args.target else DEFAULT_KEYS)
    unknown = set(args.scenarios.split(",")) - set(SCENARIO_KEYS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIO_KEYS)}")
    refused = [key for key in args.scenarios.split(",") if key not in TARGET_KEYS]
    if args.target and refused:
        parser.error(
            f"--target runs only the read-only scenarios ({', '.join(TARGET_KEYS)}); refused: {', '.join(refused)} "
            "(they write, need accounts or data prepared in the target's database, or, for baseline, run here)"
        )
    if args.duration < 1 or min(args.threads, args.workers) < 1 or args.connections < args.threads:
        parser.error("need a duration of 1s or more, a thread and a worker, and no fewer connections than threads")
    stripe = SIGNED_WEBHOOK_KEYS & set(args.scenarios.split(","))
    longest = STRIPE_TOLERANCE_SECONDS - SIGNING_MARGIN_SECONDS
    if stripe and args.duration + args.warmup > longest:
        # The events are signed before wrk starts; the app refuses a signature older than its tolerance.
        parser.error(
            f"{', '.join(sorted(stripe))}: --warmup + --duration must stay within {longest}s "
            f"(Stripe signatures are refused after {STRIPE_TOLERANCE_SECONDS}s)"
        )
    return args


def _seconds(text: str) -> int:
    """Whole seconds, with or without wrk's `s` suffix (`15` or `15s`)."""
    try:
        return int(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None


def _results_file(text: str) -> dict[str, object]:
    try:
        return load_results(Path(text))
    except ResultsFileError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _target_url(text: str) -> str:
    """An http(s) base URL, without the trailing slash (scenario paths start with one)."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"not an http(s) base URL: {text!r} (e.g. https://api.example.com)")
    return text.rstrip("/")


def measure(
    run: Run,
    scenario: Scenario,
    base_url: str,
    fixtures: Fixtures | None,
    probe: Probe | None = None,
    app: tuple[int, str] | None = None,
) -> None:
    """Warm-up, then the measured run; a probe (payment scenarios) writes the requests right before each and checks
    the database afterwards. With the app's process id and database (`app`), what a request cost is noted too
    (bench/cost.py)."""
    print(f"-> {scenario.key}: {run.load.duration_seconds}s at {run.load.connections} connections", file=sys.stderr)
    if probe:
        probe.before_warmup()
    if run.warmup_seconds:
        # Unreported: opens the pool's connections and warms caches so the first seconds do not skew the numbers.
        warmup = scenario.request(fixtures.for_warmup() if fixtures else None)
        run_wrk(run.wrk, base_url, warmup, run.load, run.warmup_seconds, run.work_dir)
    if probe:
        probe.before_measured()
    request = scenario.request(fixtures)
    before = cost.sample(*app) if app else None
    output = run_wrk(run.wrk, base_url, request, run.load, run.load.duration_seconds, run.work_dir)
    (run.log_dir / f"wrk-{scenario.key}.txt").write_text(output)
    result = parse_result(output)
    rps, p50, p99 = result.requests_per_second, result.p50_ms, result.p99_ms
    print(f"   {rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, non-2xx {result.non_2xx}", file=sys.stderr)
    if before is not None and app:
        spent = cost.cost(before, cost.sample(*app), result.requests).line(scenario.key)
        print(f"   {spent}", file=sys.stderr)
        run.notes.append(spent)
    checks = probe.after_measured(result) if probe else ()
    judged = probe.verdict(result) if isinstance(probe, JudgesTarget) else None
    run.measured.append(Measured(scenario, result, checks, judged))
    for check in checks:
        print(f"   {check}", file=sys.stderr)
        if not check.ok:
            # Listed with the other checks under the table; the run exits non-zero.
            run.failed = True
    exhausted = result.counters.get("exhausted_threads", 0)
    if result.pool_misses or exhausted:
        what = "refresh token pool" if scenario.key == "refresh" else "request file"
        run.problem(
            f"the {what} of `{scenario.key}` ran out ({exhausted} wrk thread(s) stopped early): "
            f"{result.pool_misses} requests carried nothing real (nothing is ever sent twice)."
        )


def measure_own_client(run: Run, server: ServerProcess, database: BenchDatabase) -> None:
    """The WebSocket fan-out, the one scenario with a client of its own; its checks fail the run like wrk's."""
    fanout = measure_ws_fanout(server, database.dsn, run.work_dir)
    run.sections.append(fanout.markdown())
    run.own_clients.append(OwnClient("ws-fanout", tuple(fanout.figures()), fanout.checks))
    if not fanout.ok:
        run.failed = True


def run_baseline(run: Run, scenarios: list[Scenario]) -> None:
    with baseline_server(run.log_dir, run.workers) as server:
        for scenario in scenarios:
            measure(run, scenario, server.base_url, None)
    check_clean_exit(run, server)


def run_app(run: Run, scenarios: list[Scenario], database: BenchDatabase) -> None:
    data_dir = run.work_dir / "app-data"
    data_dir.mkdir()
    keys = {scenario.key for scenario in scenarios}
    # The payment settings are set whenever a payment scenario runs; they do not touch the other routes.
    signer = AppleSigner()
    extra_env = server_environment(run.work_dir / "apple-root.cer", signer) if keys & PAYMENT_KEYS else {}
    if not all(scenario.wrk for scenario in scenarios):
        # Thousands of WebSockets: the server's workers inherit this limit.
        raise_open_file_limit()
    with ExitStack() as stack:
        # The AI scenarios' provider: a loopback fake in this process, for the server's whole life, keeping
        # connections alive as the provider does.
        fake: FakeOpenAI | None = stack.enter_context(fake_openai(keep_alive=True)) if keys & AI_KEYS else None
        if fake is not None:
            extra_env |= cooking_environment(fake)
        server = stack.enter_context(app_server(database.dsn, data_dir, run.log_dir, run.workers, extra_env))
        user_id, fixtures = prepare_fixtures(run, server, database, scenarios)
        # Started once the app runs (its bench account's token works on the /auth/me peer); idle while the app's
        # scenarios run, as the app is while theirs do.
        peers = start_peers(stack, scenarios, server, database.dsn, run.log_dir, run.workers)
        probes = payment_probes(
            keys,
            database.dsn,
            server.base_url,
            server.log_path,
            fixtures,
            signer,
            run.warmup_seconds,
            run.load.duration_seconds,
        )
        probes |= cooking_probes(keys, database.dsn, server.base_url, server.log_path, fixtures, fake)
        probes |= leaderboard_probes(keys, database.dsn, server.base_url, server.log_path, fixtures)
        probes |= peer_probes(keys, database.dsn, peers, fixtures, run.warmup_seconds, run.load.duration_seconds)
        for scenario in scenarios:
            if scenario.wrk:
                target = peers[scenario.peer] if scenario.peer else server
                app = (target.process.pid, database.dsn)
                measure(run, scenario, target.base_url, fixtures, probes.get(scenario.key), app)
            else:
                measure_own_client(run, server, database)
        # wrk stops at its deadline with requests in flight; let the app finish them before it is told to stop.
        time.sleep(SETTLE_SECONDS)
    for process in [server, *peers.values()]:
        check_clean_exit(run, process)
    if any(scenario.key == "refresh" for scenario in scenarios):
        spent = spent_pool_tokens(database.dsn, user_id)
        run.notes.append(f"Refresh token pool: {spent:,} of the prepared tokens spent (warm-up included).")
    for process in [server, *peers.values()]:
        report_server_errors(run, process)


def run_target(run: Run, scenarios: list[Scenario], target: str) -> None:
    """A deployed instance: nothing started, no database; a target that does not answer /health stops the run."""
    try:
        response = httpx.get(target + "/health", timeout=10)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"{target}/health did not answer ({exc}): not loading it") from None
    if response.status_code != 200:
        raise RuntimeError(f"{target}/health answered {response.status_code}, not 200: not loading it")
    for scenario in scenarios:
        measure(run, scenario, target, None)


def prepare_fixtures(
    run: Run, server: ServerProcess, database: BenchDatabase, scenarios: list[Scenario]
) -> tuple[str, Fixtures]:
    """One account signed up over HTTP; for the refresh scenario, a pool of single-use tokens for it."""
    response = httpx.post(
        server.base_url + "/api/v1/auth/signup",
        json={"email": f"bench-{uuid.uuid4().hex[:12]}@example.com", "password": BENCH_PASSWORD, "name": "Bench"},
        timeout=30,
    )
    response.raise_for_status()
    auth = response.json()
    user_id = auth["user"]["id"]
    fixtures = Fixtures(
        access_token=auth["access_token"],
        wrk_threads=run.load.threads,
        refresh_token_file=run.work_dir / "refresh-tokens.txt",
        warmup_refresh_token_file=run.work_dir / "refresh-tokens-warmup.txt",
        stripe_unique_file=run.work_dir / "stripe-unique.txt",
        warmup_stripe_unique_file=run.work_dir / "stripe-unique-warmup.txt",
        stripe_duplicates_file=run.work_dir / "stripe-duplicates.txt",
        peer_stripe_unique_file=run.work_dir / "peer-stripe-unique.txt",
        warmup_peer_stripe_unique_file=run.work_dir / "peer-stripe-unique-warmup.txt",
        peer_stripe_duplicates_file=run.work_dir / "peer-stripe-duplicates.txt",
        storekit_file=run.work_dir / "storekit.txt",
        warmup_storekit_file=run.work_dir / "storekit-warmup.txt",
        generate_file=run.work_dir / "generate.txt",
        scan_file=run.work_dir / "scan.txt",
        leaderboard_file=run.work_dir / "leaderboard.txt",
    )
    if any(scenario.key == "refresh" for scenario in scenarios):
        print("   preparing refresh tokens ...", file=sys.stderr)
        measured_pool = max(MIN_REFRESH_TOKENS, REFRESH_TOKENS_PER_SECOND * run.load.duration_seconds)
        create_refresh_token_pool(database.dsn, user_id, measured_pool, fixtures.refresh_token_file)
        if run.warmup_seconds:
            warmup_pool = REFRESH_TOKENS_PER_SECOND * run.warmup_seconds
            create_refresh_token_pool(database.dsn, user_id, warmup_pool, fixtures.warmup_refresh_token_file)
    return user_id, fixtures


def check_clean_exit(run: Run, server: ServerProcess) -> None:
    if server.exit_code != 0:
        run.problem(f"the {server.name} server exited with {server.exit_code} after SIGTERM (expected 0).")


def report_server_errors(run: Run, server: ServerProcess) -> None:
    """Errors a server (the app, a peer) logged: under load they are a problem; during shutdown they are worth a
    note."""
    lines = server.log_path.read_text(errors="replace").splitlines()
    shutdown_at = next((i for i, line in enumerate(lines) if "Shutting down granian" in line), len(lines))
    under_load = [line for line in lines[:shutdown_at] if _is_error(line)]
    at_shutdown = [line for line in lines[shutdown_at:] if _is_error(line)]
    if under_load:
        run.problem(
            f"the {server.name} server logged {len(under_load)} error line(s) under load, the first: "
            f"`{under_load[0][:160]}`"
        )
    if at_shutdown:
        run.notes.append(
            f"The {server.name} server logged {len(at_shutdown)} error line(s) while shutting down after the run, "
            f"the first: `{at_shutdown[0][:160]}` (see bench/results/last-run/{server.log_path.name})."
        )


def _is_error(line: str) -> bool:
    # The text format writes the level as a word, the JSON format as "level": "ERROR".
    return ERROR_LEVEL.search(line) is not None or line.startswith("Traceback")


def run_facts(
    args: argparse.Namespace,
    run: Run,
    database: str,
    machine: Machine,
    argv: list[str],
    git: tuple[str | None, bool | None],
) -> RunFacts:
    return RunFacts(
        command=shlex.join(["bash", "bench/run.sh", *argv]),
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        workers=args.workers,
        connections=args.connections,
        threads=args.threads,
        duration_seconds=args.duration,
        warmup_seconds=args.warmup,
        wrk_version=wrk_version(run.wrk),
        database=database,
        machine=machine,
        notes=tuple(run.notes),
        sections=tuple(run.sections),
        own_clients=tuple(run.own_clients),
        git_commit=git[0],
        git_dirty=git[1],
        target=args.target,
        ok=not run.failed,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    chosen = set(args.scenarios.split(","))
    baseline = [BY_KEY[key] for key in SCENARIO_KEYS if key in chosen and BY_KEY[key].server == "baseline"]
    # The peers run beside the app, against its database.
    app = [BY_KEY[key] for key in SCENARIO_KEYS if key in chosen and BY_KEY[key].server != "baseline"]
    try:
        wrk = ensure_wrk()
    except WrkUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    machine = machine_facts()
    git = git_state()
    load = LoadSettings(duration_seconds=args.duration, connections=args.connections, threads=args.threads)
    database_description = "n/a (a deployed instance)" if args.target else "n/a (no app scenario)"
    # Only the last run's logs are kept: the access log alone is tens of MB per run.
    log_dir = RESULTS_DIR / "last-run"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="cookcam-bench-") as work_dir:
        run = Run(wrk, load, args.warmup, args.workers, Path(work_dir), log_dir)
        try:
            if args.target:
                run_target(run, app, args.target)
            if baseline:
                run_baseline(run, baseline)
            if app and not args.target:
                with fresh_database() as database:
                    database_description = f"{database.server} PostgreSQL server {database.version}"
                    run_app(run, app, database)
        except (RuntimeError, httpx.HTTPError) as exc:
            # A server that would not start, wrk failing, or the sign-up refused: no numbers rather than wrong ones.
            print(f"The benchmark stopped: {exc}", file=sys.stderr)
            return 1
    facts = run_facts(args, run, database_description, machine, argv, git)
    if run.measured:
        print(results_table(run.measured))
        print()
    for section in run.sections:
        print(section + "\n")
    checks = checks_section(run.measured)
    if checks:
        print(checks + "\n")
    judged = verdicts(run.measured, args.connections, machine.logical_cores)
    if judged:
        print(judged)
    for note in run.notes:
        print(f"- {note}")
    document = results_document(facts, run.measured)
    if args.compare:
        print()
        print(comparison(args.compare, document))
    write_results(document, log_dir / "results.json")
    if run.measured:
        write_chart(document, log_dir / "results.png")
    # A deployed instance's numbers are not this machine's: "Latest results" keeps the local run's.
    if not args.no_write and not args.target:
        write_latest(latest_section(facts, run.measured))
        print("\nWritten to docs/benchmarks.md (section 'Latest results').", file=sys.stderr)
    print(f"Results (results.json, results.png), server logs and wrk output: {log_dir}", file=sys.stderr)
    return 1 if run.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
