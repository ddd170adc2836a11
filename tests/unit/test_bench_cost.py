"""The bench's cost per request (bench/cost.py), which docs/scaling.md's capacity model is built from."""

from __future__ import annotations

import pytest

from bench.cost import Sample, cost


def test_cost_is_per_request_and_counts_a_backend_that_started_during_the_run_whole() -> None:
    before = Sample(app_cpu=10.0, backend_cpu={1: 2.0, 2: 5.0}, transactions=100)
    # Backend 2 ended during the run (lost); backend 3 started during it (counted whole).
    after = Sample(app_cpu=12.0, backend_cpu={1: 2.5, 3: 0.5}, transactions=400)
    spent = cost(before, after, requests=100)
    assert spent.app_cpu_ms == pytest.approx(20.0)
    assert spent.database_cpu_ms == pytest.approx(10.0)
    assert spent.transactions == pytest.approx(3.0)
    assert spent.line("me") == (
        "`me` per request (100 answered): app CPU 20.00 ms, PostgreSQL CPU 10.00 ms, 3.0 database transactions"
    )
