"""The `ws-fanout` scenario (issue 5, item 10): WebSocket connections held, and how fast events reach them.

Not a wrk scenario: SOCKETS accounts, each with one sign-in session, are written straight into the bench database
(creating them over HTTP would spend minutes in argon2), and their access tokens are minted with the app's own
AccessTokenValidator and the settings the server's workers load, so the server checks them like any other token.
CLIENT_PROCESSES processes of this module (`python -m bench.ws_fanout`, the `websockets` client) each open their
share of the sockets at /api/v1/ws with `Authorization: Bearer`, wait for the `ready` message naming their user,
then read every message until told to stop. The bench process drives them over stdin/stdout (one JSON line each).

Measured, in order:

1. Held: how long opening and authenticating them all takes, how many are open at the end, the server's own count
   (the `cookcam_websocket_connections` gauge), and the granian workers' RSS before and after: memory per socket.
2. Steady: STEADY_RATE events a second for STEADY_SECONDS, each to a random held user, published the way the app
   publishes (app.realtime.events.publish, one pg_notify per transaction); the client keeps receive time minus send
   time. Both are CLOCK_MONOTONIC (time.monotonic), one clock for every process on a Linux machine.
3. Burst: one event to every held socket in one transaction (app.realtime.events.publish_each): how long until the
   last socket had it, and the spread of the deliveries.

Checks: every socket authenticated as its own user; the server counts them all; every event delivered exactly once,
to its recipient; no socket closed before the end; every socket held longer than the server's heartbeat interval
(and a few seconds for its delivery) got a heartbeat (the server's heartbeats are one-way JSON messages: a client
only has to keep reading).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import functools
import gc
import random
import re
import resource
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from app.core.tokens import AccessTokenValidator
from app.realtime.events import RealtimeEvent, publish, publish_each
from app.settings import Settings, load_settings, read_env_file
from bench.report import Check, percentiles
from bench.servers import REPO, ServerProcess

KEY = "ws-fanout"
SOCKETS = 10_000
# Two clients, so that reading a burst is not bound to one Python process while the server sends it.
CLIENT_PROCESSES = 2
# Handshakes in flight per client process.
OPEN_CONCURRENCY = 100
OPEN_TIMEOUT_SECONDS = 30.0
STEADY_RATE = 1_000
STEADY_SECONDS = 10
# How long deliveries may keep arriving after the last send before the missing ones count as lost.
DRAIN_TIMEOUT_SECONDS = 15.0
DRAIN_POLL_SECONDS = 0.2
# The server's gauge is refreshed every 5 s in each worker (app/ops/gauges.py).
GAUGE_TIMEOUT_SECONDS = 15.0
# A heartbeat due just before the end may still be on its way (sent by a worker busy with 5,000 sockets, read by a
# client reading as many): only sockets held this much longer than the interval must have had one. A burst's last
# delivery takes about 1.5 s here.
HEARTBEAT_DELIVERY_SECONDS = 5.0
PING = "bench.ping"
BURST = "bench.burst"
EMAIL_DOMAIN = "bench.invalid"
GAUGE_LINE = re.compile(r"^cookcam_websocket_connections(?:\{[^}]*\})? (\S+)$", re.MULTILINE)
# A client's answers can carry every held user id or every delivery: far above asyncio's 64 KiB line default.
PIPE_LINE_LIMIT = 64 * 1024 * 1024


# ---------------------------------------------------------------------------------------------------------------------
# Accounts and tokens


@dataclass(frozen=True)
class Account:
    user_id: uuid.UUID
    session_id: uuid.UUID


async def create_accounts(dsn: str, count: int) -> list[Account]:
    """`count` users with one live session each, as sign-up leaves them (password hash 'x': nobody signs in)."""
    accounts = [Account(uuid.uuid4(), uuid.uuid4()) for _ in range(count)]
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "users",
                records=[(a.user_id, f"ws-{a.user_id.hex}@{EMAIL_DOMAIN}", "x", "Ws bench") for a in accounts],
                columns=["id", "email", "password_hash", "name"],
            )
            await conn.copy_records_to_table(
                "sessions", records=[(a.session_id, a.user_id) for a in accounts], columns=["id", "user_id"]
            )
        await conn.execute("analyze users; analyze sessions")
    finally:
        await conn.close()
    return accounts


def worker_settings(server: ServerProcess) -> Settings:
    """The settings each granian worker loads: the repository's .env, overridden by the server's environment."""
    env_file = REPO / ".env"
    merged = read_env_file(env_file) if env_file.is_file() else {}
    return load_settings({**merged, **server.env}, env_file=None)


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (processes started afterwards inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---------------------------------------------------------------------------------------------------------------------
# The client process: holds its share of the sockets and records what arrives


@dataclass
class HeldSocket:
    user_id: str
    ws: ClientConnection
    ready_at: float
    heartbeats: int = 0
    unexpected: int = 0
    # Set when the socket closed before the bench asked it to.
    closed_early: int | None = None


class Client:
    def __init__(self, url: str) -> None:
        self._url = url
        self.held: list[HeldSocket] = []
        self.failures: Counter[str] = Counter()
        # (event type, seq, intended recipient, receiving user, receive time)
        self.deliveries: list[tuple[str, int, str | None, str, float]] = []
        self._readers: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def open_all(self, accounts: Sequence[tuple[str, str]]) -> float:
        started = time.monotonic()
        slots = asyncio.Semaphore(OPEN_CONCURRENCY)
        await asyncio.gather(*(self._open(user_id, token, slots) for user_id, token in accounts))
        return time.monotonic() - started

    async def _open(self, user_id: str, token: str, slots: asyncio.Semaphore) -> None:
        async with slots:
            try:
                # No client pings: the server's heartbeats keep a socket alive, and pings from 10,000 sockets
                # would add frames a second that are not the app's work.
                ws = await connect(
                    self._url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=OPEN_TIMEOUT_SECONDS,
                    ping_interval=None,
                )
                ready = msgspec.json.decode(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT_SECONDS))
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                self.failures[type(exc).__name__] += 1
                return
        if ready.get("type") != "ready" or ready.get("user_id") != user_id:
            self.failures[f"first message {ready.get('type')!r} {ready.get('code', '')}".strip()] += 1
            await ws.close()
            return
        held = HeldSocket(user_id, ws, time.monotonic())
        self.held.append(held)
        reader = asyncio.create_task(self._read(held))
        self._readers.add(reader)

    async def _read(self, held: HeldSocket) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in held.ws:
                received_at = time.monotonic()
                message = msgspec.json.decode(raw)
                kind = message.get("type")
                if kind == "heartbeat":
                    held.heartbeats += 1
                elif kind in {PING, BURST}:
                    data = message["data"]
                    self.deliveries.append((kind, data["seq"], data.get("to"), held.user_id, received_at))
                else:
                    held.unexpected += 1
        if not self._stopping:
            held.closed_early = held.ws.close_code or 1006

    def summary(self, heartbeat_seconds: float) -> dict[str, Any]:
        now = time.monotonic()
        long_held = [h for h in self.held if now - h.ready_at > heartbeat_seconds + HEARTBEAT_DELIVERY_SECONDS]
        return {
            "deliveries": self.deliveries,
            "closed_early": dict(Counter(str(h.closed_early) for h in self.held if h.closed_early is not None)),
            "unexpected": sum(h.unexpected for h in self.held),
            "heartbeats": sum(h.heartbeats for h in self.held),
            "held_past_heartbeat": len(long_held),
            "with_heartbeat": sum(1 for h in long_held if h.heartbeats),
        }

    async def close_all(self) -> None:
        self._stopping = True
        await asyncio.gather(*(h.ws.close() for h in self.held), return_exceptions=True)
        await asyncio.gather(*self._readers, return_exceptions=True)


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(msgspec.json.encode(message).decode() + "\n")
    sys.stdout.flush()


async def _client(url: str, accounts: list[tuple[str, str]], heartbeat_seconds: float) -> None:
    client = Client(url)
    seconds = await client.open_all(accounts)
    # The sockets live until the end: keep them out of this process's garbage collections, whose pauses would
    # otherwise count as delivery latency.
    gc.freeze()
    _answer({"seconds": seconds, "held": [h.user_id for h in client.held], "failures": dict(client.failures)})
    commands = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while command := (await commands.readline()).decode().strip():
        if command == "count":
            _answer({"received": len(client.deliveries)})
        elif command == "stop":
            open_at_end = sum(1 for h in client.held if h.closed_early is None)
            _answer({**client.summary(heartbeat_seconds), "open_at_end": open_at_end})
            break
    await client.close_all()


def client_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_fanout", description="One ws-fanout client process.")
    parser.add_argument("url")
    parser.add_argument("token_file", type=Path, help="lines of `<user id> <access token>`")
    parser.add_argument("--heartbeat-seconds", type=float, required=True)
    args = parser.parse_args(argv)
    lines = [line.split(" ", 1) for line in args.token_file.read_text().splitlines()]
    raise_open_file_limit()
    asyncio.run(_client(args.url, [(user_id, token) for user_id, token in lines], args.heartbeat_seconds))
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# The bench side: start the clients, publish, collect


class ClientProcess:
    """One client process, driven by a JSON line each way."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(cls, url: str, token_file: Path, heartbeat_seconds: float) -> ClientProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.ws_fanout",
            url,
            str(token_file),
            f"--heartbeat-seconds={heartbeat_seconds}",
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=PIPE_LINE_LIMIT,
        )
        return cls(process)

    async def read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"a {KEY} client exited early ({await self._process.wait()})")
        answer: dict[str, Any] = msgspec.json.decode(line)
        return answer

    async def ask(self, command: str) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{command}\n".encode())
        await self._process.stdin.drain()
        return await self.read()

    async def finish(self) -> None:
        """Wait for it to close its sockets and exit; kill it if it does not."""
        try:
            await asyncio.wait_for(self._process.wait(), timeout=60)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()

    def kill(self) -> None:
        if self._process.returncode is None:
            self._process.kill()


@dataclass(frozen=True)
class Sent:
    to: uuid.UUID
    sent_at: float


@dataclass
class Phases:
    """What the bench did and read, phase by phase; FanoutResult turns it into figures and checks."""

    sockets: int
    open_seconds: float = 0.0
    held: list[str] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    rss_before: list[int] = field(default_factory=list)
    rss_after: list[int] = field(default_factory=list)
    worker_sockets: list[int] = field(default_factory=list)
    worker_file_limits: list[int] = field(default_factory=list)
    client_file_limit: int = 0
    gauge: float | None = None
    steady: dict[int, Sent] = field(default_factory=dict)
    steady_seconds: float = 0.0
    burst_sent_at: float = 0.0
    burst_commit_ms: float = 0.0
    summaries: list[dict[str, Any]] = field(default_factory=list)
    heartbeat_seconds: float = 0.0


def server_workers(server: ServerProcess) -> list[psutil.Process]:
    """The granian worker processes: the ones `cookcam serve` started."""
    return list(psutil.Process(server.process.pid).children())


def _worker_sockets(worker: psutil.Process, port: int) -> int:
    return sum(1 for c in worker.net_connections(kind="tcp") if c.laddr and c.laddr.port == port and c.raddr)


async def _server_gauge(base_url: str, expected: int) -> float | None:
    """The sum of the workers' `cookcam_websocket_connections`, once it reads `expected` or after the timeout."""
    deadline = time.monotonic() + GAUGE_TIMEOUT_SECONDS
    value = None
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        while time.monotonic() < deadline:
            match = GAUGE_LINE.search((await http.get("/metrics")).text)
            value = float(match.group(1)) if match else None
            if value == expected:
                break
            await asyncio.sleep(1)
    return value


async def _publish_steady(dsn: str, recipients: list[uuid.UUID], rng: random.Random) -> tuple[dict[int, Sent], float]:
    """STEADY_RATE events a second on a fixed schedule (a late one is sent at once, not skipped), one transaction
    each, as the app publishes them; returns what was sent and the seconds it took."""
    sent: dict[int, Sent] = {}
    conn = await asyncpg.connect(dsn)
    try:
        started = time.monotonic()
        for seq in range(STEADY_RATE * STEADY_SECONDS):
            delay = started + seq / STEADY_RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            to = rng.choice(recipients)
            sent_at = time.monotonic()
            await publish(conn, to, RealtimeEvent(PING, {"seq": seq, "to": str(to), "sent_at": sent_at}))
            sent[seq] = Sent(to, sent_at)
        return sent, time.monotonic() - started
    finally:
        await conn.close()


async def _publish_burst(dsn: str, recipients: list[uuid.UUID]) -> tuple[float, float]:
    """One event to every recipient in one transaction; returns when it started and how long the commit took (ms)."""
    conn = await asyncpg.connect(dsn)
    try:
        sent_at = time.monotonic()
        async with conn.transaction():
            await publish_each(conn, recipients, RealtimeEvent(BURST, {"seq": 0, "sent_at": sent_at}))
        return sent_at, (time.monotonic() - sent_at) * 1000
    finally:
        await conn.close()


async def _received_count(clients: list[ClientProcess]) -> int:
    answers = await asyncio.gather(*(client.ask("count") for client in clients))
    return sum(int(answer["received"]) for answer in answers)


async def _drain(clients: list[ClientProcess], expected: int) -> None:
    """Wait until the clients hold `expected` deliveries, or until none arrived for DRAIN_TIMEOUT_SECONDS."""
    last, last_change = -1, time.monotonic()
    while time.monotonic() - last_change < DRAIN_TIMEOUT_SECONDS:
        received = await _received_count(clients)
        if received >= expected:
            return
        if received != last:
            last, last_change = received, time.monotonic()
        await asyncio.sleep(DRAIN_POLL_SECONDS)


def _write_token_files(server: ServerProcess, accounts: list[Account], work_dir: Path) -> list[Path]:
    validator = AccessTokenValidator(worker_settings(server).jwt)
    files = []
    for index in range(CLIENT_PROCESSES):
        share = accounts[index::CLIENT_PROCESSES]
        path = work_dir / f"ws-tokens.{index}"
        path.write_text("".join(f"{a.user_id} {validator.issue(a.user_id, a.session_id)}\n" for a in share))
        files.append(path)
    return files


async def _hold(phases: Phases, server: ServerProcess, clients: list[ClientProcess]) -> None:
    answers = await asyncio.gather(*(client.read() for client in clients))
    phases.open_seconds = max(float(answer["seconds"]) for answer in answers)
    phases.held = [user_id for answer in answers for user_id in answer["held"]]
    for answer in answers:
        phases.failures.update(answer["failures"])
    workers = server_workers(server)
    phases.rss_after = [worker.memory_info().rss for worker in workers]
    port = int(server.base_url.rsplit(":", 1)[1])
    phases.worker_sockets = [_worker_sockets(worker, port) for worker in workers]
    phases.gauge = await _server_gauge(server.base_url, len(phases.held))


async def _measure(server: ServerProcess, dsn: str, work_dir: Path) -> Phases:
    phases = Phases(sockets=SOCKETS, client_file_limit=resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    phases.heartbeat_seconds = worker_settings(server).ws.heartbeat_seconds
    print(f"   creating {SOCKETS:,} accounts with a session each ...", file=sys.stderr)
    token_files = _write_token_files(server, await create_accounts(dsn, SOCKETS), work_dir)
    workers = server_workers(server)
    phases.rss_before = [worker.memory_info().rss for worker in workers]
    phases.worker_file_limits = [worker.rlimit(psutil.RLIMIT_NOFILE)[0] for worker in workers]
    url = server.base_url.replace("http://", "ws://") + "/api/v1/ws"
    clients = [await ClientProcess.start(url, path, phases.heartbeat_seconds) for path in token_files]
    try:
        print(f"   opening {SOCKETS:,} sockets from {CLIENT_PROCESSES} client processes ...", file=sys.stderr)
        await _hold(phases, server, clients)
        recipients = [uuid.UUID(user_id) for user_id in phases.held]
        print(f"   {STEADY_RATE:,} events/s for {STEADY_SECONDS} s ...", file=sys.stderr)
        phases.steady, phases.steady_seconds = await _publish_steady(dsn, recipients, random.Random(5))
        await _drain(clients, len(phases.steady))
        print(f"   one event to each of {len(recipients):,} sockets in one transaction ...", file=sys.stderr)
        phases.burst_sent_at, phases.burst_commit_ms = await _publish_burst(dsn, recipients)
        await _drain(clients, len(phases.steady) + len(recipients))
        phases.summaries = list(await asyncio.gather(*(client.ask("stop") for client in clients)))
        await asyncio.gather(*(client.finish() for client in clients))
    finally:
        for client in clients:
            client.kill()
    return phases


# ---------------------------------------------------------------------------------------------------------------------
# Figures and checks


@dataclass(frozen=True)
class Deliveries:
    """One phase's deliveries against what was sent: `expected` maps each (seq, recipient) to its send time."""

    expected: dict[tuple[int, str], float]
    # (seq, intended recipient or None for "whoever holds the socket", receiving user, receive time)
    received: list[tuple[int, str | None, str, float]]

    @functools.cached_property
    def wrong_recipient(self) -> int:
        return sum(1 for _, to, receiver, _ in self.received if to is not None and to != receiver)

    @functools.cached_property
    def _counts(self) -> Counter[tuple[int, str]]:
        return Counter((seq, receiver) for seq, to, receiver, _ in self.received if to in {None, receiver})

    @property
    def delivered(self) -> int:
        return sum(1 for key in self._counts if key in self.expected)

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self._counts.values())

    @property
    def lost(self) -> int:
        return len(self.expected) - self.delivered

    @property
    def unsent(self) -> int:
        """Deliveries nobody sent to that socket (a burst event reaching a socket that was not held, say)."""
        return sum(1 for key in self._counts if key not in self.expected)

    @functools.cached_property
    def latencies_ms(self) -> list[float]:
        """Send to receive, of each event's first delivery to its recipient."""
        first: dict[tuple[int, str], float] = {}
        for seq, _, receiver, received_at in sorted(self.received, key=lambda d: d[3]):
            first.setdefault((seq, receiver), received_at)
        return [(at - self.expected[key]) * 1000 for key, at in first.items() if key in self.expected]

    @property
    def exact(self) -> bool:
        return self.lost == self.duplicates == self.wrong_recipient == self.unsent == 0

    def counts_text(self) -> str:
        extra = f", delivered to a socket it was not sent to {self.unsent:,}" if self.unsent else ""
        return (
            f"delivered {self.delivered:,} of {len(self.expected):,}, lost {self.lost:,}, duplicates "
            f"{self.duplicates:,}, wrong recipient {self.wrong_recipient:,}{extra}"
        )

    def latency_text(self) -> str:
        if not self.latencies_ms:
            return "no deliveries"
        p50, p99 = percentiles(self.latencies_ms)
        return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(self.latencies_ms):.1f} ms"


@dataclass(frozen=True)
class FanoutResult:
    phases: Phases
    steady: Deliveries
    burst: Deliveries
    checks: tuple[Check, ...]

    @classmethod
    def of(cls, phases: Phases) -> FanoutResult:
        steady = Deliveries(
            {(seq, str(sent.to)): sent.sent_at for seq, sent in phases.steady.items()}, _deliveries_of(phases, PING)
        )
        burst = Deliveries(
            {(0, user_id): phases.burst_sent_at for user_id in phases.held}, _deliveries_of(phases, BURST)
        )
        return cls(phases, steady, burst, _checks(phases, steady, burst))

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def figures(self) -> list[str]:
        p = self.phases
        held = len(p.held)
        before, after = sum(p.rss_before), sum(p.rss_after)
        per_socket = (after - before) / held / 1024 if held else float("nan")
        last = f"{max(self.burst.latencies_ms):.0f} ms" if self.burst.latencies_ms else "n/a"
        achieved = len(p.steady) / p.steady_seconds if p.steady_seconds else 0.0
        return [
            f"Held: {held:,} of {p.sockets:,} sockets opened and authenticated in {p.open_seconds:.1f} s "
            f"({held / p.open_seconds if p.open_seconds else 0:,.0f} a second, {OPEN_CONCURRENCY} handshakes in "
            f"flight per client process, {CLIENT_PROCESSES} client processes); per worker: "
            f"{' / '.join(f'{n:,}' for n in p.worker_sockets)} sockets; open-file limits: clients "
            f"{p.client_file_limit:,}, workers {' / '.join(f'{n:,}' for n in p.worker_file_limits)}",
            f"Memory: the {len(p.rss_after)} workers' RSS {_mib(before)} before, {_mib(after)} with the sockets "
            f"held: {per_socket:.1f} KiB per socket",
            f"Steady: {len(p.steady):,} `{PING}` events to random held users at {STEADY_RATE:,}/s for "
            f"{STEADY_SECONDS} s (achieved {achieved:,.0f}/s), one transaction each: {self.steady.counts_text()}; "
            f"send to receive {self.steady.latency_text()}",
            f"Burst: one `{BURST}` to each of {held:,} sockets in one transaction (publish_each, committed after "
            f"{p.burst_commit_ms:.0f} ms); the last socket had it {last} after the transaction began; "
            f"{self.burst.latency_text()}",
        ]

    def markdown(self) -> str:
        return "\n".join(
            [
                f"WebSocket fan-out (`{KEY}`), measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC:",
                "",
                *(f"- {line}" for line in self.figures()),
                *(f"- {check}" for check in self.checks),
            ]
        )


def _deliveries_of(phases: Phases, kind: str) -> list[tuple[int, str | None, str, float]]:
    return [
        (seq, to, receiver, at)
        for summary in phases.summaries
        for event_type, seq, to, receiver, at in summary["deliveries"]
        if event_type == kind
    ]


def _total(phases: Phases, name: str) -> int:
    return sum(int(summary[name]) for summary in phases.summaries)


def _checks(p: Phases, steady: Deliveries, burst: Deliveries) -> tuple[Check, ...]:
    failures = ", ".join(f"{n:,} x {reason}" for reason, n in p.failures.most_common()) or "none"
    closed_early: Counter[str] = Counter()
    for summary in p.summaries:
        closed_early.update(summary["closed_early"])
    closed = ", ".join(f"{n:,} with {code}" for code, n in closed_early.items()) or "none"
    held_past, with_heartbeat = _total(p, "held_past_heartbeat"), _total(p, "with_heartbeat")
    return (
        Check(
            len(p.held) == p.sockets,
            f"`{KEY}`: {len(p.held):,} of {p.sockets:,} sockets authenticated as their own user (failures: {failures})",
        ),
        Check(
            p.gauge == len(p.held),
            f"`{KEY}`: the server's `cookcam_websocket_connections` read {_count(p.gauge)} with them held",
        ),
        Check(steady.exact, f"`{KEY}`: steady `{PING}` events {steady.counts_text()}"),
        Check(burst.exact, f"`{KEY}`: burst `{BURST}` {burst.counts_text()}"),
        Check(
            not closed_early and with_heartbeat == held_past,
            f"`{KEY}`: sockets closed before the end: {closed}; {_total(p, 'open_at_end'):,} open at the end; "
            f"{with_heartbeat:,} of the {held_past:,} held longer than the server's {p.heartbeat_seconds:.0f} s "
            f"heartbeat interval (and {HEARTBEAT_DELIVERY_SECONDS:.0f} s for its delivery) got one "
            f"({_total(p, 'heartbeats'):,} in all); {_total(p, 'unexpected'):,} other messages",
        ),
    )


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:,.0f} MiB"


def _count(value: float | None) -> str:
    return "nothing" if value is None else f"{value:,.0f}"


def measure(server: ServerProcess, dsn: str, work_dir: Path) -> FanoutResult:
    """Run the whole scenario against a ready app server (its open-file limit raised before it started)."""
    print(f"-> {KEY}: {SOCKETS:,} WebSockets", file=sys.stderr)
    result = FanoutResult.of(asyncio.run(_measure(server, dsn, work_dir)))
    for line in [*result.figures(), *map(str, result.checks)]:
        print(f"   {line}", file=sys.stderr)
    return result


if __name__ == "__main__":
    raise SystemExit(client_main(sys.argv[1:]))
