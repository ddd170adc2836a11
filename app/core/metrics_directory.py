"""Where the workers of `cookcam serve` keep their Prometheus values (PROMETHEUS_MULTIPROC_DIR).

A module of its own, importing no prometheus_client: `cookcam serve` needs this path before it sets the variable,
and prometheus_client chooses between per-process and shared-file values when it is first imported. granian forks
its workers from the serving process, so an import there before the variable is set would leave every worker
counting on its own (each scrape showing one worker's share; tests/e2e/test_serving.py)."""

from __future__ import annotations

from pathlib import Path


def multiprocess_directory(data_dir: str) -> Path:
    """The workers' shared metrics folder under DATA_DIR, emptied at start-up."""
    return Path(data_dir).resolve() / "metrics"
