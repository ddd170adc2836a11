"""What one request costs, for the capacity model (docs/scaling.md): CPU seconds of the app's granian processes and of
the bench database's PostgreSQL backends, and the database's transactions, read around a measured run.

CPU time is the kernel's accounting (psutil, /proc), so unlike requests/s it hardly depends on what else the machine
runs; wrk's own CPU is not in it. Transactions come from pg_stat_database (every statement outside an explicit
transaction is one), so a request's explicit transaction counts once whatever it holds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
import psutil

BACKENDS = "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
TRANSACTIONS = "select xact_commit + xact_rollback from pg_stat_database where datname = current_database()"


@dataclass(frozen=True)
class Sample:
    app_cpu: float
    backend_cpu: dict[int, float]
    transactions: int


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _tree_cpu(pid: int) -> float:
    root = psutil.Process(pid)
    total = _cpu(root)
    for child in root.children(recursive=True):
        try:
            total += _cpu(child)
        except psutil.NoSuchProcess:
            continue
    return total


async def _database(dsn: str) -> tuple[dict[int, float], int]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("select pg_stat_clear_snapshot()")
        pids = [row["pid"] for row in await conn.fetch(BACKENDS)]
        transactions = int(await conn.fetchval(TRANSACTIONS))
    finally:
        await conn.close()
    cpu = {}
    for pid in pids:
        try:
            cpu[pid] = _cpu(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return cpu, transactions


def sample(server_pid: int, dsn: str) -> Sample:
    # Backends report their statistics at most once a second when they go idle.
    time.sleep(1.1)
    backend_cpu, transactions = asyncio.run(_database(dsn))
    return Sample(_tree_cpu(server_pid), backend_cpu, transactions)


@dataclass(frozen=True)
class Cost:
    requests: int
    app_cpu_ms: float
    database_cpu_ms: float
    transactions: float

    def line(self, key: str) -> str:
        return (
            f"`{key}` per request ({self.requests:,} answered): app CPU {self.app_cpu_ms:.2f} ms, "
            f"PostgreSQL CPU {self.database_cpu_ms:.2f} ms, {self.transactions:.1f} database transactions"
        )


def cost(before: Sample, after: Sample, requests: int) -> Cost:
    """Per request; a backend that started during the run counts whole, one that ended is lost (a pool keeps its
    connections, so neither happens in a steady run)."""
    database = sum(cpu - before.backend_cpu.get(pid, 0.0) for pid, cpu in after.backend_cpu.items())
    per = max(requests, 1)
    return Cost(
        requests,
        1000 * (after.app_cpu - before.app_cpu) / per,
        1000 * database / per,
        (after.transactions - before.transactions) / per,
    )
