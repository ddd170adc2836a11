"""In multiprocess mode every process counts into files of its own; a forked worker must notice that it is a new
process (app/core/metrics.py learns it from a fork handler, not from os.getpid() on every increment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COUNT_ACROSS_A_FORK = """
import os, sys
from prometheus_client import CollectorRegistry, multiprocess
from app.core import metrics

metrics.observe_request("/health", "GET", 200, 0.001)
child = os.fork()
if child == 0:
    metrics.observe_request("/health", "GET", 200, 0.001)
    metrics.observe_request("/health", "GET", 200, 0.2)
    os._exit(0)
os.waitpid(child, 0)
metrics.observe_request("/health", "GET", 200, 0.001)
registry = CollectorRegistry()
multiprocess.MultiProcessCollector(registry, path=sys.argv[1])
print(registry.get_sample_value(
    "cookcam_http_requests_total", {"route": "/health", "method": "GET", "status": "200"}))
print(registry.get_sample_value(
    "cookcam_http_request_duration_seconds_count", {"route": "/health", "method": "GET"}))
print(registry.get_sample_value(
    "cookcam_http_request_duration_seconds_bucket", {"route": "/health", "method": "GET", "le": "0.001"}))
print(os.getpid(), child)
"""


def test_a_forked_worker_counts_into_files_of_its_own(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", COUNT_ACROSS_A_FORK, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    requests, observed, fast, parent, child = result.stdout.split()
    assert (float(requests), float(observed), float(fast)) == (4.0, 4.0, 3.0)
    assert {path.name for path in tmp_path.glob("counter_*.db")} == {f"counter_{parent}.db", f"counter_{child}.db"}
