"""Each scenario's change between two results files, as a markdown table: `bash bench/run.sh --compare FILE` prints
it after the run, `.venv/bin/python -m bench.compare OLD NEW` for two files already written. A report, not a gate:
it never changes an exit status (the spread of repeated runs here is several per cent; see docs/benchmarks.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.results import ResultsFileError, load_results

# What must match for the numbers to be like for like; anything else is said above the table.
LIKE_FOR_LIKE = (
    ("target", lambda doc: doc.get("target") or "this machine"),
    ("connections", lambda doc: doc["load"]["connections"]),
    ("threads", lambda doc: doc["load"]["threads"]),
    ("seconds per scenario", lambda doc: doc["load"]["duration_seconds"]),
    ("workers", lambda doc: doc["servers"]["workers"]),
    ("logical cores", lambda doc: doc["machine"]["logical_cores"]),
)


def comparison(before: dict[str, Any], after: dict[str, Any]) -> str:
    lines = [f"Compared with {_describe(before)}; this run: {_describe(after)}."]
    for name, read in LIKE_FOR_LIKE:
        old, new = read(before), read(after)
        if old != new:
            lines.append(f"Not like for like: {name} {old} before, {new} now.")
    lines += [
        "",
        "| scenario | requests/s before | requests/s now | change | p99 ms before | p99 ms now | change "
        "| vs baseline before | vs baseline now |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    old_rows = {row["key"]: row for row in before["scenarios"]}
    for row in after["scenarios"]:
        old = old_rows.pop(row["key"], None)
        if old is None:
            lines.append(f"| {row['key']} | not run | {_rps(row)} | | not run | {_p99(row)} | | | {_share(row)} |")
            continue
        rps_change = _change(old["requests_per_second"], row["requests_per_second"])
        p99_change = _change(old["latency_ms"]["p99"], row["latency_ms"]["p99"])
        lines.append(
            f"| {row['key']} | {_rps(old)} | {_rps(row)} | {rps_change} "
            f"| {_p99(old)} | {_p99(row)} | {p99_change} | {_share(old)} | {_share(row)} |"
        )
    lines += [
        f"| {key} | {_rps(old)} | not run | | {_p99(old)} | not run | | {_share(old)} | |"
        for key, old in old_rows.items()
    ]
    return "\n".join(lines)


def _describe(document: dict[str, Any]) -> str:
    commit = document["git"]["commit"]
    code = f"{commit[:10]}{' (modified)' if document['git']['dirty'] else ''}" if commit else "unknown commit"
    return f"{document['date']}, {code}"


def _rps(row: dict[str, Any]) -> str:
    return f"{row['requests_per_second']:,.0f}"


def _p99(row: dict[str, Any]) -> str:
    p99 = row["latency_ms"]["p99"]
    return "n/a" if p99 is None else f"{p99:.2f}"


def _share(row: dict[str, Any]) -> str:
    ratio = row["ratio_to_baseline"]
    return "n/a" if ratio is None else f"{ratio:.0%}"


def _change(old: float | None, new: float | None) -> str:
    if old is None or new is None or old == 0:
        return "n/a"
    return f"{(new - old) / old:+.1%}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.compare BEFORE.json AFTER.json", file=sys.stderr)
        return 2
    try:
        before, after = (load_results(Path(arg)) for arg in args)
    except ResultsFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(comparison(before, after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
