"""Run `cookcam serve` as a real granian process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
COOKCAM = Path(sys.executable).parent / "cookcam"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningServer:
    def __init__(self, database_url: str, data_dir: Path, *, workers: int, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/api/v1/ws"
        self.log_path = data_dir / "server.log"
        environment = {
            **os.environ,
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "DATA_DIR": str(data_dir),
            "RATELIMIT_PER_ACCOUNT": "1000",
            "RATELIMIT_PER_ADDRESS": "1000",
            **(env or {}),
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(COOKCAM), "serve", "--port", str(self.port), "--workers", str(workers), "--no-seed"],
            cwd=REPO,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_ready()

    def _wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 40) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._log.close()
