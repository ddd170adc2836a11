"""The report's verdicts on issue 17's targets (bench/report.py): built from made-up measurements, no wrk and no
server."""

from __future__ import annotations

import pytest

from bench.report import TARGETS, Check, Measured, latest_section, verdicts
from bench.scenarios import BY_KEY, PEER_OF
from bench.wrk import WrkResult
from tests.unit.test_bench_results import facts

SECONDS = 10
# A run that meets every target: requests/s and p99 per scenario.
MET = {
    "baseline": (20_000, 5.0),
    "health": (14_000, 6.0),  # 70 % of the baseline
    "me": (5_000, 19.0),  # 1.25x its peer, p99 under the peer's 20 ms
    "peer-me-minimal": (4_000, 20.0),
    "stripe-webhook-unique": (1_600, 40.0),  # 1.6x its peer
    "peer-webhook-fastapi": (1_000, 90.0),
    "stripe-webhook-duplicates": (5_000, 12.0),  # 2.5x its peer
    "peer-webhook-fastapi-duplicates": (2_000, 30.0),
    "storekit-validate": (1_200, 200.0),
    "generate-cached": (5_000, 60.0),  # 25 % of the baseline
}


def row(key: str, rps: int, p99_ms: float, statuses: dict[int, int] | None = None) -> Measured:
    requests = rps * SECONDS
    result = WrkResult(
        requests=requests,
        duration_seconds=SECONDS,
        p50_ms=p99_ms / 4,
        p90_ms=p99_ms / 2,
        p99_ms=p99_ms,
        max_ms=p99_ms * 2,
        statuses=statuses or {200: requests},
        socket_errors=0,
        timeouts=0,
        pool_misses=0,
    )
    return Measured(BY_KEY[key], result)


def run(changed: dict[str, Measured] | None = None, without: frozenset[str] = frozenset()) -> list[Measured]:
    rows = {key: row(key, rps, p99) for key, (rps, p99) in MET.items() if key not in without}
    return list((rows | (changed or {})).values())


def by_key(text: str | None) -> dict[str, str]:
    assert text is not None
    return {line.split("`")[1]: line for line in text.split("\n\n")}


def test_every_target_met_with_its_figures() -> None:
    assert [target.key for target in TARGETS] == [
        "health",
        "me",
        "stripe-webhook-unique",
        "stripe-webhook-duplicates",
        "storekit-validate",
        "generate-cached",
    ]
    # The peer targets are against PEER_OF's peers, the scenarios of the "vs peer" column.
    assert {target.key: target.reference for target in TARGETS if target.reference != "baseline"} == {
        "me": "peer-me-minimal",
        "stripe-webhook-unique": "peer-webhook-fastapi",
        "stripe-webhook-duplicates": "peer-webhook-fastapi-duplicates",
        "storekit-validate": None,
    }
    assert verdicts(run(), connections=32, cores=2) == "\n\n".join(
        [
            "`health` target **met**: 14,000 requests/s, 70% of the baseline's requests/s (target ≥ 65%) ✓.",
            "`me` target **met**: 5,000 requests/s, 1.25x `peer-me-minimal`'s requests/s (target ≥ 1.0x) ✓; "
            "p99 19.00 ms, `peer-me-minimal`'s 20.00 ms (target no worse) ✓.",
            "`stripe-webhook-unique` target **met**: 1,600 requests/s, 1.60x `peer-webhook-fastapi`'s requests/s "
            "(target ≥ 1.5x) ✓; p99 40.00 ms (target < 50 ms) ✓; 0 5xx (target 0) ✓.",
            "`stripe-webhook-duplicates` target **met**: 5,000 requests/s, 2.50x `peer-webhook-fastapi-duplicates`'s "
            "requests/s (target ≥ 2.0x) ✓; p99 12.00 ms (target < 50 ms) ✓; 0 5xx (target 0) ✓.",
            "`storekit-validate` target **met**: 1,200 requests/s, target ≥ 1,000 requests/s ✓; 0 5xx (target 0) ✓.",
            "`generate-cached` target **met**: 5,000 requests/s, 25% of the baseline's requests/s (target ≥ 20%) ✓; "
            "0 5xx (target 0) ✓.",
        ]
    )


@pytest.mark.parametrize(
    ("key", "rps", "p99_ms", "statuses", "missed"),
    [
        ("health", 12_000, 6.0, None, "60% of the baseline's requests/s (target ≥ 65%) ✗"),
        ("me", 3_900, 19.0, None, "0.97x `peer-me-minimal`'s requests/s (target ≥ 1.0x) ✗"),
        ("me", 5_000, 20.5, None, "p99 20.50 ms, `peer-me-minimal`'s 20.00 ms (target no worse) ✗"),
        ("stripe-webhook-unique", 1_400, 40.0, None, "1.40x `peer-webhook-fastapi`'s requests/s (target ≥ 1.5x) ✗"),
        ("stripe-webhook-unique", 1_600, 50.0, None, "p99 50.00 ms (target < 50 ms) ✗"),
        ("stripe-webhook-unique", 1_600, 40.0, {200: 15_997, 503: 3}, "3 5xx (target 0) ✗"),
        (
            "stripe-webhook-duplicates",
            3_900,
            12.0,
            None,
            "1.95x `peer-webhook-fastapi-duplicates`'s requests/s (target ≥ 2.0x) ✗",
        ),
        ("stripe-webhook-duplicates", 5_000, 51.0, None, "p99 51.00 ms (target < 50 ms) ✗"),
        ("stripe-webhook-duplicates", 5_000, 12.0, {200: 49_999, 500: 1}, "1 5xx (target 0) ✗"),
        ("storekit-validate", 990, 200.0, None, "target ≥ 1,000 requests/s ✗"),
        ("storekit-validate", 1_200, 200.0, {200: 11_998, 502: 2}, "2 5xx (target 0) ✗"),
        ("generate-cached", 3_000, 60.0, None, "15% of the baseline's requests/s (target ≥ 20%) ✗"),
        ("generate-cached", 5_000, 60.0, {200: 49_990, 504: 10}, "10 5xx (target 0) ✗"),
    ],
)
def test_each_condition_missed_alone_fails_its_target_only(
    key: str, rps: int, p99_ms: float, statuses: dict[int, int] | None, missed: str
) -> None:
    lines = by_key(verdicts(run({key: row(key, rps, p99_ms, statuses)}), connections=32, cores=2))
    assert lines[key].startswith(f"`{key}` target **not met**: {rps:,} requests/s, ")
    assert missed in lines[key]
    assert lines[key].count("✗") == 1
    assert all("**met**" in line for other, line in lines.items() if other != key)


def test_only_5xx_count_against_a_target_not_other_refusals() -> None:
    # 429s and 404s are wrk-read non-2xx answers, not server errors: the 5xx condition holds.
    statuses = {200: 49_000, 429: 900, 404: 100}
    lines = by_key(verdicts(run({"generate-cached": row("generate-cached", 5_000, 60.0, statuses)}), 32, 2))
    assert lines["generate-cached"].startswith("`generate-cached` target **met**")
    assert "0 5xx (target 0) ✓" in lines["generate-cached"]


def test_the_ratio_is_against_the_peer_of_the_same_run_not_the_baseline() -> None:
    # The same `me` figures against a faster peer: the baseline has not changed, the verdict has.
    rows = run({"peer-me-minimal": row("peer-me-minimal", 6_250, 15.0)})
    me = by_key(verdicts(rows, 32, 2))["me"]
    assert me == (
        "`me` target **not met**: 5,000 requests/s, 0.80x `peer-me-minimal`'s requests/s (target ≥ 1.0x) ✗; "
        "p99 19.00 ms, `peer-me-minimal`'s 15.00 ms (target no worse) ✗."
    )


@pytest.mark.parametrize(
    ("without", "key", "reference"),
    [
        ("baseline", "health", "baseline"),
        ("baseline", "generate-cached", "baseline"),
        ("peer-me-minimal", "me", "peer-me-minimal"),
        ("peer-webhook-fastapi", "stripe-webhook-unique", "peer-webhook-fastapi"),
        ("peer-webhook-fastapi-duplicates", "stripe-webhook-duplicates", "peer-webhook-fastapi-duplicates"),
    ],
)
def test_without_its_reference_a_target_is_not_assessed(without: str, key: str, reference: str) -> None:
    assert PEER_OF.get(key, "baseline") == reference
    lines = by_key(verdicts(run(without=frozenset({without})), 32, 2))
    assert lines[key] == f"`{key}` target not assessed: it needs the `{reference}` scenario in the same run."
    # The absolute target needs no reference.
    assert lines["storekit-validate"].startswith("`storekit-validate` target **met**")


def test_a_reference_that_finished_no_request_decides_nothing() -> None:
    lines = by_key(verdicts(run({"peer-webhook-fastapi": row("peer-webhook-fastapi", 0, float("nan"))}), 32, 2))
    assert lines["stripe-webhook-unique"] == (
        "`stripe-webhook-unique` target not assessed: `peer-webhook-fastapi` finished no request in this run."
    )


def test_only_the_scenarios_that_ran_are_judged() -> None:
    assert verdicts(run(without=frozenset(MET) - {"baseline"}), 32, 2) is None
    lines = by_key(verdicts([row("storekit-validate", 1_200, 200.0), row("scan", 400, 900.0)], 32, 2))
    assert list(lines) == ["storekit-validate"]
    # A probe's own verdict alone gets no caveat: it times its query on an idle server.
    leaderboard = Measured(BY_KEY["leaderboard-1m"], row("leaderboard-1m", 300, 40.0).result, verdict="its own")
    assert verdicts([leaderboard], connections=16, cores=4) == "its own"


def test_the_caveat_comes_once_after_every_line_and_before_the_probes_own_verdicts() -> None:
    rows = [
        *run(),
        row("suggest-100k", 1_500, 70.0),
        Measured(
            BY_KEY["leaderboard-1m"],
            row("leaderboard-1m", 300, 40.0).result,
            verdict="`leaderboard-1m` target (p99 < 50 ms per query) **met**",
        ),
    ]
    lines = verdicts(rows, connections=16, cores=4)
    assert lines is not None
    paragraphs = lines.split("\n\n")
    assert paragraphs[-3].startswith('`suggest-100k` (no numeric target; "stays fast"): 1,500 requests/s, ')
    assert paragraphs[-2] == (
        "The targets are set for 32 connections on a 2-core machine; this run used 16 connections and this machine "
        "has 4 cores: indicative only."
    )
    assert paragraphs[-1] == "`leaderboard-1m` target (p99 < 50 ms per query) **met**"
    assert lines.count("indicative") == 1
    assert "indicative" not in (verdicts(rows, connections=32, cores=2) or "")
    assert (verdicts(rows, connections=32, cores=3) or "").split("\n\n")[-2] == (
        "The targets are set for 32 connections on a 2-core machine; this machine has 3 cores: indicative only."
    )


def test_latest_results_carry_the_verdicts_between_the_checks_and_the_notes() -> None:
    storekit = row("storekit-validate", 990, 200.0).result
    rows = run({"storekit-validate": Measured(BY_KEY["storekit-validate"], storekit, (Check(True, "rows match"),))})
    section = latest_section(facts(), rows)
    checks = section.index("- rows match ✓")
    judged = section.index("`storekit-validate` target **not met**: 990 requests/s")
    notes = section.index("- **Problem:** something to see")
    assert checks < section.index("`health` target **met**") < judged < notes
