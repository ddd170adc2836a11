"""The load benchmark's outputs besides the markdown (bench/results.py, bench/chart.py, bench/compare.py) and what
`--target` lets through (bench/run.py): built from made-up measurements, no wrk and no server."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from bench import compare
from bench.chart import DPI, INCH_PER_SCENARIO, write_chart
from bench.report import Check, Machine, Measured, OwnClient, RunFacts, latest_section, results_table
from bench.results import SCHEMA, ResultsFileError, load_results, results_document, write_results
from bench.run import parse_args
from bench.scenarios import BY_KEY, PEER_OF, TARGET_KEYS
from bench.wrk import WrkResult

MACHINE = Machine(
    cpu_model="Test CPU",
    logical_cores=2,
    usable_cores=2,
    memory_total_gib=8.0,
    memory_available_gib=6.5,
    os="Linux 6.1",
    python="3.11.7",
    cpu_idle_share=0.97,
    load_average=(0.5, 0.4, 0.3),
)


def wrk_result(requests: int, p99_ms: float, statuses: dict[int, int], socket_errors: int = 0) -> WrkResult:
    return WrkResult(
        requests=requests,
        duration_seconds=10.0,
        p50_ms=p99_ms / 4,
        p90_ms=p99_ms / 2,
        p99_ms=p99_ms,
        max_ms=p99_ms * 2,
        statuses=statuses,
        socket_errors=socket_errors,
        timeouts=0,
        pool_misses=0,
    )


def facts(**changes: Any) -> RunFacts:
    values: dict[str, Any] = {
        "command": "bash bench/run.sh --scenarios baseline,me,signin-invalid,stripe-webhook-unique --no-write",
        "date": "2026-12-07 08:00 UTC",
        "workers": 2,
        "connections": 32,
        "threads": 2,
        "duration_seconds": 10,
        "warmup_seconds": 2,
        "wrk_version": "wrk 4.1.0",
        "database": "local PostgreSQL 15",
        "machine": MACHINE,
        "notes": ("**Problem:** something to see",),
        "own_clients": (OwnClient("ws-fanout", ("Held: 10 of 10 sockets",), (Check(True, "all delivered"),)),),
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "git_dirty": False,
        "ok": False,
    }
    return RunFacts(**(values | changes))


def measured() -> list[Measured]:
    return [
        Measured(BY_KEY["baseline"], wrk_result(160_000, 6.0, {200: 160_000})),
        Measured(BY_KEY["me"], wrk_result(40_000, 40.0, {200: 39_990, 500: 10}, socket_errors=3)),
        # Every answer a 422: the scenario's point, so none of them is unexpected.
        Measured(BY_KEY["signin-invalid"], wrk_result(30_000, 28.0, {422: 30_000})),
        Measured(
            BY_KEY["stripe-webhook-unique"],
            # No request finished inside the timeout: wrk records no latency at all.
            WrkResult(0, 10.0, *[float("nan")] * 4, statuses={}, socket_errors=0, timeouts=32, pool_misses=0),
            checks=(Check(True, "rows match"), Check(False, "0 events left processing")),
        ),
    ]


def test_results_json_carries_the_schema_version_the_run_and_each_scenario(tmp_path: Path) -> None:
    path = tmp_path / "last-run" / "results.json"
    write_results(results_document(facts(), measured()), path)

    # Strict JSON (no NaN), read back by the loader --compare uses.
    document = json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in results.json"))
    assert load_results(path) == document
    assert document["schema"] == SCHEMA == 1
    assert document["command"].startswith("bash bench/run.sh --scenarios baseline,me")
    assert document["git"] == {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False}
    assert document["target"] is None
    assert document["ok"] is False
    assert document["load"] == {
        "tool": "wrk 4.1.0",
        "connections": 32,
        "threads": 2,
        "duration_seconds": 10,
        "warmup_seconds": 2,
    }
    assert document["servers"] == {"workers": 2, "database": "local PostgreSQL 15"}
    assert document["machine"]["logical_cores"] == 2
    assert document["machine"]["load_average"] == [0.5, 0.4, 0.3]
    assert document["machine"]["cpu_idle_share"] == 0.97
    assert document["own_client_scenarios"] == [
        {
            "key": "ws-fanout",
            "figures": ["Held: 10 of 10 sockets"],
            "checks": [{"ok": True, "text": "all delivered"}],
            "checks_passed": True,
        }
    ]

    rows = {row["key"]: row for row in document["scenarios"]}
    assert list(rows) == ["baseline", "me", "signin-invalid", "stripe-webhook-unique"]
    assert rows["baseline"]["ratio_to_baseline"] == 1.0
    me = rows["me"]
    assert me["requests_per_second"] == 4000.0
    assert me["ratio_to_baseline"] == 0.25
    assert me["latency_ms"] == {"p50": 10.0, "p90": 20.0, "p99": 40.0, "max": 80.0}
    assert me["statuses"] == {"200": 39_990, "500": 10}
    assert me["errors"] == {"non_2xx": 10, "unexpected_statuses": {"500": 10}, "socket_errors": 3, "timeouts": 0}
    assert me["checks"] == []
    assert me["checks_passed"] is None
    signin = rows["signin-invalid"]
    assert signin["expected_statuses"] == [422]
    assert signin["errors"]["non_2xx"] == 30_000
    assert signin["errors"]["unexpected_statuses"] == {}
    stripe = rows["stripe-webhook-unique"]
    assert stripe["latency_ms"] == {"p50": None, "p90": None, "p99": None, "max": None}
    assert stripe["errors"]["timeouts"] == 32
    assert stripe["checks"] == [{"ok": True, "text": "rows match"}, {"ok": False, "text": "0 events left processing"}]
    assert stripe["checks_passed"] is False


def test_without_a_baseline_no_ratio_is_made_up_and_a_target_run_names_its_target() -> None:
    document = results_document(facts(target="https://api.example.com"), measured()[1:2])
    assert document["target"] == "https://api.example.com"
    # The workers are the target's business, not the --workers option's.
    assert document["servers"]["workers"] is None
    assert document["scenarios"][0]["ratio_to_baseline"] is None


def test_a_results_file_of_another_schema_or_no_results_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": 2, "scenarios": []}))
    with pytest.raises(ResultsFileError, match="schema 2, this bench reads schema 1"):
        load_results(other)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(ResultsFileError, match="not JSON"):
        load_results(garbage)
    with pytest.raises(ResultsFileError, match=r"missing\.json: No such file"):
        load_results(tmp_path / "missing.json")


def test_the_chart_is_a_png_with_a_row_per_scenario(tmp_path: Path) -> None:
    path = tmp_path / "results.png"
    rows = measured()
    write_chart(results_document(facts(), rows), path)

    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 13 * DPI
    assert height == round((1.8 + INCH_PER_SCENARIO * len(rows)) * DPI)
    assert len(data) > 10_000  # bars and text, not an empty canvas


def small_results(date: str, commit: str, rows: list[tuple[str, float, float | None]], **load: int) -> dict[str, Any]:
    baseline = rows[0][1]
    return {
        "schema": SCHEMA,
        "date": date,
        "command": "bash bench/run.sh",
        "git": {"commit": commit, "dirty": commit.startswith("b")},
        "target": None,
        "ok": True,
        "load": {"tool": "wrk", "connections": 32, "threads": 2, "duration_seconds": 15, "warmup_seconds": 2} | load,
        "servers": {"workers": 2, "database": "local"},
        "machine": {"logical_cores": 2},
        "notes": [],
        "scenarios": [
            {
                "key": key,
                "server": "baseline" if key == "baseline" else "app",
                "requests_per_second": rps,
                "latency_ms": {"p50": None, "p90": None, "p99": p99, "max": None},
                "ratio_to_baseline": rps / baseline,
            }
            for key, rps, p99 in rows
        ],
        "own_client_scenarios": [],
    }


def test_compare_prints_each_scenarios_change_and_what_was_not_like_for_like(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tmp_path / "before.json"
    after = tmp_path / "after.json"
    before.write_text(
        json.dumps(
            small_results(
                "2026-12-06 10:00 UTC",
                "a" * 40,
                [("baseline", 16_000.0, 6.0), ("me", 2_000.0, 50.0), ("refresh", 800.0, 100.0)],
            )
        )
    )
    after.write_text(
        json.dumps(
            small_results(
                "2026-12-07 10:00 UTC",
                "b" * 40,
                [("baseline", 16_000.0, 6.0), ("me", 2_500.0, 40.0), ("health", 6_000.0, None)],
                connections=16,
            )
        )
    )

    assert compare.main([str(before), str(after)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "Compared with 2026-12-06 10:00 UTC, aaaaaaaaaa; this run: 2026-12-07 10:00 UTC, bbbbbbbbbb (modified)."
    )
    assert lines[1] == "Not like for like: connections 32 before, 16 now."
    table = lines[lines.index("") + 1 :]
    assert table[2:] == [
        "| baseline | 16,000 | 16,000 | +0.0% | 6.00 | 6.00 | +0.0% | 100% | 100% |",
        "| me | 2,000 | 2,500 | +25.0% | 50.00 | 40.00 | -20.0% | 12% | 16% |",
        "| health | not run | 6,000 | | not run | n/a | | | 38% |",
        "| refresh | 800 | not run | | 100.00 | not run | | 5% | |",
    ]


def test_compare_refuses_a_file_that_is_not_a_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.json"
    other.write_text("[]")
    assert compare.main([str(other), str(other)]) == 2
    assert "not a bench results file" in capsys.readouterr().err
    # Given to run.sh, the same file stops the run before anything starts.
    with pytest.raises(SystemExit) as exited:
        parse_args(["--compare", str(other)])
    assert exited.value.code == 2


def test_target_runs_only_read_only_scenarios_by_default() -> None:
    args = parse_args(["--target", "https://api.example.com/"])
    assert args.target == "https://api.example.com"
    assert args.scenarios.split(",") == list(TARGET_KEYS) == ["health", "tiers", "ingredients-search"]
    # Read-only: anonymous GETs built without fixtures (no account, no database behind them).
    for key in TARGET_KEYS:
        request = BY_KEY[key].request(None)
        assert request.method == "GET"
        assert request.body is None
        assert not any(name.lower() == "authorization" for name, _ in request.headers)


@pytest.mark.parametrize(
    "scenarios", ["health,me", "baseline,health", "signin-invalid", "refresh", "stripe-webhook-unique", "ws-fanout"]
)
def test_target_refuses_scenarios_that_write_need_accounts_or_run_here(
    scenarios: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--target", "https://api.example.com", "--scenarios", scenarios])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    refused = [key for key in scenarios.split(",") if key != "health"]
    assert f"refused: {', '.join(refused)}" in error


@pytest.mark.parametrize("url", ["api.example.com", "ftp://api.example.com", "https://", "https://x.example/?a=1"])
def test_target_must_be_an_http_base_url(url: str) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--target", url])


def test_the_vs_peer_column_divides_each_project_scenario_by_its_peer_of_the_same_run() -> None:
    rows = [
        Measured(BY_KEY["baseline"], wrk_result(250_000, 4.0, {200: 250_000})),
        Measured(BY_KEY["me"], wrk_result(40_000, 20.0, {200: 40_000})),
        Measured(BY_KEY["peer-me-minimal"], wrk_result(32_000, 25.0, {200: 32_000})),
        Measured(BY_KEY["stripe-webhook-unique"], wrk_result(6_000, 90.0, {200: 6_000})),
        Measured(BY_KEY["peer-webhook-fastapi"], wrk_result(12_000, 40.0, {200: 12_000})),
        # Its peer did not run: no ratio rather than one against something else.
        Measured(BY_KEY["stripe-webhook-duplicates"], wrk_result(30_000, 10.0, {200: 30_000})),
    ]
    assert set(PEER_OF) == {"me", "stripe-webhook-unique", "stripe-webhook-duplicates"}
    assert all(BY_KEY[peer].server == "peer" and BY_KEY[peer].peer for peer in PEER_OF.values())

    table = results_table(rows).splitlines()
    assert table[0].endswith("| vs baseline | vs peer |")
    cells = {line.split(" | ")[0].removeprefix("| "): line.split(" | ")[-1].removesuffix(" |") for line in table[2:]}
    assert cells == {
        "baseline: bare Litestar `GET /`": "",
        "`GET /api/v1/auth/me`": "1.25x `peer-me-minimal`",
        "peer: minimal Litestar `GET /api/v1/auth/me`": "",
        "`POST /api/v1/subscription/webhook/stripe` (unique events)": "0.50x `peer-webhook-fastapi`",
        "peer: FastAPI + SQLAlchemy Stripe webhook (unique events)": "",
        "`POST /api/v1/subscription/webhook/stripe` (duplicates)": "n/a",
    }

    document = results_document(facts(), rows)
    by_key = {row["key"]: (row["peer"], row["ratio_to_peer"]) for row in document["scenarios"]}
    assert by_key == {
        "baseline": (None, None),
        "me": ("peer-me-minimal", 1.25),
        "peer-me-minimal": (None, None),
        "stripe-webhook-unique": ("peer-webhook-fastapi", 0.5),
        "peer-webhook-fastapi": (None, None),
        "stripe-webhook-duplicates": ("peer-webhook-fastapi-duplicates", None),
    }
    # docs/benchmarks.md's section says how the peers ran, above the same table.
    section = latest_section(facts(), rows)
    assert "- Peers (bench/peers/): granian like the baseline" in section
    assert "| `GET /api/v1/auth/me` | 4,000 | 5.00 | 20.00 | 0 | 0 / 0 | 16% | 1.25x `peer-me-minimal` |" in section


def test_the_peers_are_in_the_default_set_and_their_signatures_are_bounded_like_the_apps() -> None:
    args = parse_args([])
    assert {"peer-me-minimal", "peer-webhook-fastapi", "peer-webhook-fastapi-duplicates"} <= set(
        args.scenarios.split(",")
    )
    with pytest.raises(SystemExit):
        parse_args(["--scenarios", "peer-webhook-fastapi", "--duration", "300"])
