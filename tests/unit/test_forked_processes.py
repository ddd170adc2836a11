"""A forked worker is a new process: its metrics go to files of its own (multiprocess mode) and its log records carry
its own process id, though neither asks os.getpid() per use (app/core/process_id.py learns it from a fork
handler)."""

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


RECORD_ACROSS_A_FORK = """
import logging, os
from app.core.logging import configure_logging
from app.settings import load_settings

configure_logging(load_settings({"APP_ENV": "test"}))
before = logging.getLogger("t").makeRecord("t", logging.INFO, "t.py", 1, "m", (), None).process
reader, writer = os.pipe()
child = os.fork()
if child == 0:
    record = logging.getLogger("t").makeRecord("t", logging.INFO, "t.py", 1, "m", (), None)
    os.write(writer, str(record.process).encode())
    os._exit(0)
os.waitpid(child, 0)
print(os.getpid(), before, child, os.read(reader, 32).decode())
"""


def test_log_records_carry_the_process_id_of_a_forked_worker() -> None:
    result = subprocess.run(
        [sys.executable, "-c", RECORD_ACROSS_A_FORK], capture_output=True, text=True, timeout=60, check=True
    )
    parent, parent_record, child, child_record = result.stdout.split()
    assert (parent_record, child_record) == (parent, child)
