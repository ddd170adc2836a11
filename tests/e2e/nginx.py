"""Run Debian's nginx with the shipped deploy/nginx/cookcam.conf in front of several `cookcam serve` instances.

The config is the shipped file with only what a test machine must change substituted (each substitution must match
exactly once, so an edit to the shipped file fails here instead of silently testing something else): one `server`
line per instance in the upstream, loopback ports instead of 80/443, no IPv6 listeners, a throwaway self-signed
certificate and a log in the test's directory.
"""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import psutil

from tests.e2e.server import REPO, free_port

NGINX = Path("/usr/sbin/nginx")
SHIPPED = REPO / "deploy" / "nginx" / "cookcam.conf"


def _substitute(text: str, pattern: str, replacement: str) -> str:
    rendered, count = re.subn(pattern, lambda _: replacement, text)
    if count != 1:
        raise AssertionError(f"{SHIPPED} no longer has exactly one {pattern!r} ({count})")
    return rendered


def render(
    upstream_ports: Sequence[int], *, http_port: int, https_port: int, directory: Path, down: Sequence[int] = ()
) -> str:
    text = SHIPPED.read_text()
    servers = "\n    ".join(f"server 127.0.0.1:{port}{' down' if port in down else ''};" for port in upstream_ports)
    text = _substitute(text, r"server 127\.0\.0\.1:8000;", servers)
    text = _substitute(text, r"listen 80;", f"listen 127.0.0.1:{http_port};")
    text = _substitute(text, r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text = _substitute(text, r"/etc/letsencrypt/live/api\.cookcam\.example/fullchain\.pem", str(directory / "cert.pem"))
    text = _substitute(text, r"/etc/letsencrypt/live/api\.cookcam\.example/privkey\.pem", str(directory / "key.pem"))
    text = _substitute(text, r"/var/log/nginx/cookcam\.access\.log", str(directory / "access.log"))
    return re.sub(r"^\s*listen \[::\]:.*\n", "", text, flags=re.MULTILINE)


class RunningNginx:
    def __init__(self, upstream_ports: Sequence[int], directory: Path) -> None:
        if not NGINX.exists():
            raise RuntimeError(f"{NGINX} is missing: install Debian's nginx-light (./dev test does)")
        self.directory = directory
        self.https_port = free_port()
        self.base_url = f"https://127.0.0.1:{self.https_port}"
        self.ws_url = f"wss://127.0.0.1:{self.https_port}/api/v1/ws"
        certificate = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"]
        files = ["-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")]
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", *certificate, *files],
            check=True,
            capture_output=True,
        )
        self.upstream_ports = list(upstream_ports)
        self.http_port = free_port()
        self.site = directory / "cookcam.conf"
        self.site.write_text(self._render())
        temp = "\n".join(f"  {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy"))
        main = directory / "nginx.conf"
        main.write_text(
            f"daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n{temp}\n  include {self.site};\n}}\n"
        )
        self.error_log = directory / "error.log"
        self.process = subprocess.Popen(
            [str(NGINX), "-p", str(directory), "-e", str(self.error_log), "-c", str(main)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_ready()

    def _render(self, down: Sequence[int] = ()) -> str:
        return render(
            self.upstream_ports,
            http_port=self.http_port,
            https_port=self.https_port,
            directory=self.directory,
            down=down,
        )

    def take_out(self, port: int, timeout: float = 10) -> None:
        """Mark one upstream `down` and reload, as an operator does before stopping that instance. Returns once the
        new worker runs and the old one has exited: until then the old worker passes on, with the old upstream list,
        the requests it had already read, and one written on an idle kept-alive connection just as the stopping
        instance closed it would answer 502 (docs/scaling.md)."""
        master = psutil.Process(self.process.pid)
        old_workers = {worker.pid for worker in master.children()}
        self.site.write_text(self._render(down=[port]))
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while not {worker.pid for worker in master.children()} - old_workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx started no new worker {timeout}s after the reload")
            time.sleep(0.01)
        while old_workers & {worker.pid for worker in master.children()}:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx's old worker was still running {timeout}s after the reload")
            time.sleep(0.01)

    def tls(self) -> ssl.SSLContext:
        """The throwaway certificate is self-signed: trust exactly it."""
        return ssl.create_default_context(cafile=self.directory / "cert.pem")

    def _wait_until_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited early:\n{self.error_log.read_text(errors='replace')}")
            try:
                if httpx.get(self.base_url + "/health", verify=self.tls(), timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"nginx not ready in {timeout}s:\n{self.error_log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish open requests
        try:
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
