"""The run as a PNG: requests/s and p99 per scenario, each against the baseline's, drawn from results.json.

matplotlib is the `bench` dependency group's (pyproject.toml); a Figure saved without pyplot renders with Agg, so
no display is needed or touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

BAR = "#4c72b0"
BASELINE = "#c44e52"
INCH_PER_SCENARIO = 0.45
DPI = 100


def write_chart(document: dict[str, Any], path: Path) -> None:
    rows = document["scenarios"]
    keys = [row["key"] for row in rows]
    rps = [row["requests_per_second"] for row in rows]
    # A scenario wrk recorded no latency for is drawn as 0 and says so in its label.
    p99 = [row["latency_ms"]["p99"] or 0.0 for row in rows]
    baseline = next((row for row in rows if row["server"] == "baseline"), None)

    figure = Figure(figsize=(13, 1.8 + INCH_PER_SCENARIO * max(1, len(rows))), dpi=DPI, layout="constrained")
    throughput, latency = figure.subplots(1, 2, sharey=True)
    positions = range(len(rows))
    throughput.barh(positions, rps, color=BAR)
    throughput.set_yticks(list(positions), keys)
    throughput.invert_yaxis()
    throughput.set_xlabel("requests/s (higher is better)")
    for position, row in zip(positions, rows, strict=True):
        share = row["ratio_to_baseline"]
        text = f" {row['requests_per_second']:,.0f}" + (f" ({share:.0%})" if share is not None else "")
        throughput.text(row["requests_per_second"], position, text, va="center", fontsize=8)
    latency.barh(positions, p99, color=BAR)
    latency.set_xlabel("p99 latency, ms (lower is better)")
    for position, row in zip(positions, rows, strict=True):
        value = row["latency_ms"]["p99"]
        latency.text(value or 0.0, position, f" {value:.1f}" if value is not None else " n/a", va="center", fontsize=8)
    if baseline is not None:
        throughput.axvline(baseline["requests_per_second"], color=BASELINE, linestyle="--", label="baseline")
        if baseline["latency_ms"]["p99"] is not None:
            latency.axvline(baseline["latency_ms"]["p99"], color=BASELINE, linestyle="--", label="baseline")
        throughput.legend(loc="lower right")
    for axes in (throughput, latency):
        axes.margins(x=0.25)
        axes.grid(axis="x", alpha=0.3)
    figure.suptitle(_title(document))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def _title(document: dict[str, Any]) -> str:
    load, commit = document["load"], document["git"]["commit"]
    where = (
        document["target"] or f"{document['machine']['logical_cores']} cores, {document['servers']['workers']} workers"
    )
    code = commit[:10] if commit else "unknown commit"
    return (
        f"{document['date']} at {code}: {where}; {load['connections']} connections, "
        f"{load['duration_seconds']} s per scenario"
    )
