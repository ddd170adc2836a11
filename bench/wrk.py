"""Find (or install) wrk, run one measurement with a generated Lua script, and parse its JSON summary."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULT_MARKER = "BENCH_RESULT "
# Requests slower than this are counted as timeouts and left out of wrk's latency histogram, so it is set well
# above any latency worth reporting: a slow tail shows up in p99 instead of vanishing.
REQUEST_TIMEOUT = "10s"


class WrkUnavailable(Exception):
    """wrk is not on PATH and could not be installed."""


@dataclass(frozen=True)
class LoadSettings:
    duration_seconds: int
    connections: int
    threads: int


@dataclass(frozen=True)
class Request:
    """What every wrk connection sends: a fixed request, unless `dynamic_lua` supplies request() itself."""

    path: str
    method: str = "GET"
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    dynamic_lua: str | None = None
    script_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int]
    socket_errors: int
    timeouts: int
    pool_misses: int
    # The scenario script's own counts (bench/lua/lines.lua: requests sent, answers by outcome).
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.duration_seconds if self.duration_seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)


def ensure_wrk() -> str:
    """The wrk executable; installs Debian's package when it is missing (this machine's user is root)."""
    found = shutil.which("wrk")
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise WrkUnavailable("wrk is not on PATH and there is no apt-get to install it; install wrk and retry.")
    print("wrk is not on PATH: installing it with `apt-get install -y wrk` ...", file=sys.stderr)
    if not _apt_install(apt_get):
        print(
            "The install failed: refreshing the package lists with `apt-get update` and retrying ...", file=sys.stderr
        )
        subprocess.run([apt_get, "update"], check=False, stdout=subprocess.DEVNULL)
        _apt_install(apt_get)
    found = shutil.which("wrk")
    if found is None:
        raise WrkUnavailable(
            "wrk is not on PATH and `apt-get install -y wrk` did not provide it; install wrk and retry."
        )
    return found


def _apt_install(apt_get: str) -> bool:
    completed = subprocess.run(
        [apt_get, "install", "-y", "wrk"],
        check=False,
        stdout=subprocess.DEVNULL,
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    return completed.returncode == 0


def wrk_version(wrk: str) -> str:
    # wrk has no --version flag; its usage text (printed on bad arguments) starts with the version line.
    completed = subprocess.run([wrk, "-v"], check=False, capture_output=True, text=True)
    first_line = (completed.stdout or completed.stderr).strip().splitlines()[:1]
    return first_line[0].split(" Copyright")[0] if first_line else "wrk (version unknown)"


def lua_string(text: str) -> str:
    """A Lua string literal for plain ASCII text (bodies and headers here are ASCII by construction)."""
    if not text.isascii() or any(ord(char) < 32 for char in text):
        raise ValueError(f"only printable ASCII is supported in wrk scripts: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_script(request: Request) -> str:
    """The scenario's Lua script: its request, then the shared status counting and JSON summary."""
    lines = [f"wrk.method = {lua_string(request.method)}"]
    if request.body is not None:
        lines.append(f"wrk.body = {lua_string(request.body)}")
    lines += [f"wrk.headers[{lua_string(name)}] = {lua_string(value)}" for name, value in request.headers]
    parts = ["\n".join(lines), (LUA_DIR / "stats.lua").read_text()]
    if request.dynamic_lua:
        parts.append((LUA_DIR / request.dynamic_lua).read_text())
    return "\n\n".join(parts)


def run_wrk(
    wrk: str, base_url: str, request: Request, load: LoadSettings, duration_seconds: int, work_dir: Path
) -> str:
    """Run wrk once and return its whole output (the caller parses it)."""
    script = work_dir / "scenario.lua"
    script.write_text(build_script(request))
    command = [
        wrk,
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={duration_seconds}s",
        f"--timeout={REQUEST_TIMEOUT}",
        "--latency",
        f"--script={script}",
        base_url + request.path,
    ]
    if request.script_args:
        command += ["--", *request.script_args]
    # wrk itself ends after --duration; the margin only guards against a hung connection teardown.
    completed = subprocess.run(command, check=False, capture_output=True, text=True, timeout=duration_seconds + 60)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    return completed.stdout


def parse_result(output: str) -> WrkResult:
    """Read the JSON line printed by stats.lua's done()."""
    for line in output.splitlines():
        if line.startswith(RESULT_MARKER):
            data = json.loads(line[len(RESULT_MARKER) :])
            break
    else:
        raise RuntimeError(f"wrk printed no {RESULT_MARKER.strip()} line; its output was:\n{output}")
    return WrkResult(
        requests=int(data["requests"]),
        duration_seconds=data["duration_us"] / 1e6,
        p50_ms=_ms(data["p50_us"]),
        p90_ms=_ms(data["p90_us"]),
        p99_ms=_ms(data["p99_us"]),
        max_ms=_ms(data["max_us"]),
        statuses={int(status): int(count) for status, count in data["statuses"].items()},
        socket_errors=int(data["connect_errors"] + data["read_errors"] + data["write_errors"]),
        timeouts=int(data["timeouts"]),
        pool_misses=int(data["pool_misses"]),
        counters={str(name): int(count) for name, count in data.get("counters", {}).items()},
    )


def _ms(microseconds: float | None) -> float:
    return float("nan") if microseconds is None else microseconds / 1000
