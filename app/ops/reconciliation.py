"""Reconciliation's metrics, read from PostgreSQL when Prometheus scrapes /metrics.

The job runs in its own process (`cookcam jobs run reconcile` from a timer or a CronJob), so counters kept in its
memory would never reach a scrape. Each run adds its figures to one `reconciliation_provider_totals` row per
provider (app/billing/reconcile.py, migration 0044); a scrape reads those three rows, however many runs there
were. Every instance exports the same figures: the alert rules take the maximum over instances, never the sum.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.billing.reconcile import DRIFT_CAUSES
from app.db.queries import reconcile as q
from app.db.types import ConnectionSource

log = logging.getLogger("cookcam.ops.metrics")


class ReconciliationCollector(Collector):
    """The figures of every run so far, per provider (counters), and when each provider's pass last completed."""

    def __init__(self, rows: list[q.ListReconciliationMetricsRow]) -> None:
        self._rows = rows

    def collect(self) -> Iterator[Metric]:
        checked = CounterMetricFamily(
            "cookcam_reconciliation_checked", "Subscriptions their provider answered for", labels=["provider"]
        )
        drifted = CounterMetricFamily(
            "cookcam_reconciliation_drifted",
            "Subscriptions whose provider state differed from ours (fixed), by provider and cause "
            "(status, tier, period_end, renewal, other)",
            labels=["provider", "cause"],
        )
        errors = CounterMetricFamily(
            "cookcam_reconciliation_errors", "Subscriptions the provider could not be asked about", labels=["provider"]
        )
        retries = CounterMetricFamily(
            "cookcam_reconciliation_retries",
            "Provider answers 429/503 waited out and asked again",
            labels=["provider"],
        )
        skipped = CounterMetricFamily(
            "cookcam_reconciliation_skipped", "Subscriptions of a provider not configured here", labels=["provider"]
        )
        last_success = GaugeMetricFamily(
            "cookcam_reconciliation_last_success_timestamp_seconds",
            "When the provider's last complete pass over its subscriptions ended (0: never)",
            labels=["provider"],
        )
        last_run = GaugeMetricFamily(
            "cookcam_reconciliation_last_run_timestamp_seconds",
            "When the last run that walked the provider ended (0: never)",
            labels=["provider"],
        )
        for row in self._rows:
            checked.add_metric([row.provider], row.checked)
            for cause in DRIFT_CAUSES:
                drifted.add_metric([row.provider, cause], getattr(row, f"drifted_{cause}"))
            errors.add_metric([row.provider], row.errors)
            retries.add_metric([row.provider], row.retries)
            skipped.add_metric([row.provider], row.skipped)
            last_success.add_metric([row.provider], row.last_pass_completed_at.timestamp())
            last_run.add_metric([row.provider], row.last_run_at.timestamp())
        yield from (checked, drifted, errors, retries, skipped, last_success, last_run)


async def render_reconciliation(connect: ConnectionSource, timeout_seconds: float) -> bytes:
    """The reconciliation families in Prometheus's text format; nothing when the database does not answer in
    time (the scrape still answers with the process's own metrics)."""
    try:
        async with asyncio.timeout(timeout_seconds), connect() as conn:
            rows = await q.list_reconciliation_metrics(conn)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        log.warning("reconciliation metrics unavailable: %s", type(exc).__name__)
        return b""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReconciliationCollector(rows))
    return generate_latest(registry)
