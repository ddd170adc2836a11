"""The servers under test, each a real granian process started like production starts it: the app, the baseline
and the peers (bench/peers/)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
READY_TIMEOUT_SECONDS = 60.0
# `cookcam serve` gives in-flight requests HTTP_SHUTDOWN_DRAIN_SECONDS (25 s by default) after SIGTERM.
STOP_TIMEOUT_SECONDS = 40.0
# The bench sends every signin and refresh from 127.0.0.1; the production limits (10 per account, 50 per address,
# 3000 refreshes per address in 15 minutes) would turn nearly all of them into 429s. The counters are still hit on
# every request.
RATE_LIMIT_FOR_BENCH = "100000000"


@dataclass
class ServerProcess:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    exit_code: int | None = field(default=None)
    # The environment it was started with (bench/ws_fanout.py mints tokens with the settings the workers load).
    env: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_environment(database_url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "RATELIMIT_PER_ACCOUNT": RATE_LIMIT_FOR_BENCH,
        "RATELIMIT_PER_ADDRESS": RATE_LIMIT_FOR_BENCH,
        "RATELIMIT_REFRESH_PER_ADDRESS": RATE_LIMIT_FOR_BENCH,
    }


@contextmanager
def app_server(
    database_url: str, data_dir: Path, log_dir: Path, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """`cookcam serve` on a free port against `database_url`, ready (GET /ready = 200) when yielded; `extra_env`
    adds settings some scenarios need (the payment scenarios' webhook secret and Apple root)."""
    port = free_port()
    command = [str(VENV_BIN / "cookcam"), "serve", "--port", str(port), "--workers", str(workers), "--no-seed"]
    env = {**app_environment(database_url, data_dir), **(extra_env or {})}
    with _running("app", command, port, "/ready", log_dir, env) as server:
        yield server


@contextmanager
def baseline_server(log_dir: Path, workers: int) -> Iterator[ServerProcess]:
    """bench/baseline_app.py under granian with the same worker count, ready (GET / = 200) when yielded."""
    port = free_port()
    command = [sys.executable, "-m", "bench.baseline_app", "--port", str(port), "--workers", str(workers)]
    with _running("baseline", command, port, "/", log_dir, dict(os.environ)) as server:
        yield server


@contextmanager
def peer_server(module: str, log_dir: Path, workers: int, env: dict[str, str]) -> Iterator[ServerProcess]:
    """A peer (`bench.peers.<module>`) under granian like the baseline, with `env` (its PEER_* settings) added,
    ready (GET /ready = 200) when yielded."""
    port = free_port()
    command = [sys.executable, "-m", f"bench.peers.{module}", "--port", str(port), "--workers", str(workers)]
    with _running(f"peer-{module}", command, port, "/ready", log_dir, {**os.environ, **env}) as server:
        yield server


@contextmanager
def _running(
    name: str, command: list[str], port: int, ready_path: str, log_dir: Path, env: dict[str, str]
) -> Iterator[ServerProcess]:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        server = ServerProcess(name, f"http://127.0.0.1:{port}", process, log_path, env=env)
        try:
            _wait_until_ready(server, ready_path)
            yield server
        finally:
            server.exit_code = _stop(process)


def _wait_until_ready(server: ServerProcess, ready_path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the {server.name} server exited early:\n{server.log_tail()}")
        try:
            if httpx.get(server.base_url + ready_path, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(
        f"the {server.name} server was not ready within {READY_TIMEOUT_SECONDS:.0f}s:\n{server.log_tail()}"
    )


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as a process manager would send, and the exit code; killed only if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return -signal.SIGKILL
