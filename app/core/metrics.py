"""Prometheus metrics, correct across granian workers.

When PROMETHEUS_MULTIPROC_DIR is set (the CLI sets it before workers start), prometheus_client keeps each
process's values in memory-mapped files there and `render()` aggregates them all; otherwise it uses this process's
registry (tests, one-process tools).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from app.core.metrics_directory import multiprocess_directory
from app.core.process_id import current_process_id
from app.core.version import VERSION

# In multiprocess mode prometheus_client asks os.getpid() on every increment (three per request), to notice a fork
# and move to files of the child's own; app/core/process_id.py knows it without the system call. Set before the
# first metric below is made: every value of a process must come from the same class, which owns that process's
# files.
if values.ValueClass is not values.MutexValue:
    values.ValueClass = values.MultiProcessValue(process_identifier=current_process_id)  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "cookcam_http_requests_total", "HTTP requests by route template, method and status", ["route", "method", "status"]
)
LATENCY = Histogram(
    "cookcam_http_request_duration_seconds",
    "HTTP request duration by route template and method",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL_SIZE = Gauge("cookcam_db_pool_size", "Open database connections", multiprocess_mode="livesum")
POOL_IDLE = Gauge("cookcam_db_pool_idle", "Idle database connections", multiprocess_mode="livesum")
POOL_MAX = Gauge("cookcam_db_pool_max", "Configured maximum database connections", multiprocess_mode="livesum")
WEBSOCKETS = Gauge("cookcam_websocket_connections", "Open WebSocket connections", multiprocess_mode="livesum")
# Always 1; the labels say what runs. Live processes only: after a reload replaced the workers, the old version's
# series goes with them.
BUILD_INFO = Gauge(
    "cookcam_build_info", "The running version and Python", ["version", "python"], multiprocess_mode="livemax"
)

PROVIDER_EVENTS = Counter(
    "cookcam_provider_events_total",
    "Inbound payment provider events by provider and outcome (processed, duplicate, failed, in_progress)",
    ["provider", "outcome"],
)
PURCHASE_VALIDATIONS = Counter(
    "cookcam_purchase_validations_total",
    "Store purchase validations by provider and outcome (valid, expired, revoked, invalid, owned_elsewhere, "
    "unavailable)",
    ["provider", "outcome"],
)

GENERATION_CACHE = Counter(
    "cookcam_generation_cache_total",
    "AI generation cache lookups by kind (previews, recipe) and outcome (hit, miss, waited)",
    ["kind", "outcome"],
)

UNMATCHED_ROUTE = "<unmatched>"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Every label value must come from a fixed set: a client's made-up method (any token, kilobytes long) would
# otherwise add a series, to every scrape and to every worker's multiprocess file, per request. Routes are
# templates (or UNMATCHED_ROUTE) and statuses are the app's own.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
OTHER_METHOD = "OTHER"


def method_label(method: str) -> str:
    return method if method in HTTP_METHODS else OTHER_METHOD


def record_build_info() -> None:
    BUILD_INFO.labels(VERSION, platform.python_version()).set(1)


# The series of each (route template, method label, status) seen, found once: `labels()` costs as much as the
# increment. Bounded like the labels themselves.
_request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """`method` as the client sent it; it is labelled by `method_label`."""
    label = method_label(method)
    series = _request_series.get((route, label, status))
    if series is None:
        series = _request_series[route, label, status] = (
            REQUESTS.labels(route, label, str(status)),
            LATENCY.labels(route, label),
        )
    series[0].inc()
    series[1].observe(seconds)


def is_multiprocess() -> bool:
    return values.ValueClass is not values.MutexValue


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _forget_exited_processes(directory: Path) -> None:
    """Drop the live gauges of processes that have exited (a worker that died and was replaced, or one replaced on
    SIGHUP), which the sums would otherwise keep at their last values. Counters and histograms keep what such a
    process counted: it happened."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        if not _is_running(pid):
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def render(data_dir: str) -> bytes:
    if is_multiprocess():
        directory = multiprocess_directory(data_dir)
        _forget_exited_processes(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
