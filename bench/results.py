"""The run as data: bench/results/last-run/results.json (the format is documented in docs/benchmarks.md, "Results
file"). `--compare` (bench/compare.py) and the chart (bench/chart.py) read this document, never the markdown."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.report import Measured, OwnClient, RunFacts, baseline_rps, peer_ratios
from bench.scenarios import PEER_OF

# The file format's version: raise it when a field changes meaning or goes away (adding one does not).
SCHEMA = 1
REPO = Path(__file__).resolve().parents[1]


class ResultsFileError(Exception):
    """A results file that cannot be read, or is not one this version understands."""


def git_state(repo: Path = REPO) -> tuple[str | None, bool | None]:
    """HEAD's commit and whether tracked files differ from it; (None, None) outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip())


def results_document(facts: RunFacts, measured: list[Measured]) -> dict[str, Any]:
    baseline = baseline_rps(measured)
    ratios = peer_ratios(measured)
    return {
        "schema": SCHEMA,
        "date": facts.date,
        "command": facts.command,
        "git": {"commit": facts.git_commit, "dirty": facts.git_dirty},
        "target": facts.target,
        "ok": facts.ok,
        "load": {
            "tool": facts.wrk_version,
            "connections": facts.connections,
            "threads": facts.threads,
            "duration_seconds": facts.duration_seconds,
            "warmup_seconds": facts.warmup_seconds,
        },
        "servers": {"workers": None if facts.target else facts.workers, "database": facts.database},
        "machine": asdict(facts.machine),
        "notes": list(facts.notes),
        "scenarios": [_scenario(row, baseline, ratios) for row in measured],
        "own_client_scenarios": [_own_client(own) for own in facts.own_clients],
    }


def _scenario(row: Measured, baseline: float | None, peer_ratios: dict[str, float]) -> dict[str, Any]:
    result, scenario = row.result, row.scenario
    unexpected = {status: n for status, n in result.statuses.items() if status not in scenario.expected_statuses}
    return {
        "key": scenario.key,
        "label": scenario.label,
        "server": scenario.server,
        "requests": result.requests,
        "duration_seconds": result.duration_seconds,
        "requests_per_second": result.requests_per_second,
        "latency_ms": {
            "p50": _number(result.p50_ms),
            "p90": _number(result.p90_ms),
            "p99": _number(result.p99_ms),
            "max": _number(result.max_ms),
        },
        "statuses": {str(status): n for status, n in sorted(result.statuses.items())},
        "expected_statuses": sorted(scenario.expected_statuses),
        "errors": {
            "non_2xx": result.non_2xx,
            "unexpected_statuses": {str(status): n for status, n in sorted(unexpected.items())},
            "socket_errors": result.socket_errors,
            "timeouts": result.timeouts,
        },
        "ratio_to_baseline": result.requests_per_second / baseline if baseline else None,
        "peer": PEER_OF.get(scenario.key),
        "ratio_to_peer": peer_ratios.get(scenario.key),
        "checks": [{"ok": check.ok, "text": check.text} for check in row.checks],
        "checks_passed": all(check.ok for check in row.checks) if row.checks else None,
        "verdict": row.verdict,
    }


def _own_client(own: OwnClient) -> dict[str, Any]:
    return {
        "key": own.key,
        "figures": list(own.figures),
        "checks": [{"ok": check.ok, "text": check.text} for check in own.checks],
        "checks_passed": all(check.ok for check in own.checks),
    }


def _number(value: float) -> float | None:
    # JSON has no NaN: wrk records no latency when no request finished.
    return None if math.isnan(value) else value


def write_results(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def load_results(path: Path) -> dict[str, Any]:
    """A results file of this schema version, or ResultsFileError saying why not."""
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise ResultsFileError(f"{path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{path}: not JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("scenarios"), list):
        raise ResultsFileError(f"{path}: not a bench results file (no scenarios list)")
    if document.get("schema") != SCHEMA:
        raise ResultsFileError(f"{path}: schema {document.get('schema')!r}, this bench reads schema {SCHEMA}")
    return document
