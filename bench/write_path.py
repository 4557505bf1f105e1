"""Benchmark of the write path: ``POST /api/v1/executions`` → 201.

Run from the repository root (the infrastructure must be up and migrated, as ``make bench`` does)::

    uv run python -m bench.write_path            # full run, about 3-6 minutes
    uv run python -m bench.write_path --quick    # smoke run, about a minute

It starts its own gateway and trades processes on free ports, on topics of its own
(``KAFKA_TOPIC_PREFIX=bench-<run>.``) and a database of its own (``tj_bench_<run>``), both created
first and removed at the end, so it never replays or disturbs dev or test data.

Phase 1 offers fixed request rates open-loop: every request is scheduled at a fixed instant
whatever the earlier ones are doing, and its latency counts from that instant (no coordinated
omission). Phase 2 steps the rate up until p95 reaches the limit or more than 1% of the answers
are not 201, once with one execution per request and once with a batch per request; a request is
one command either way. Each step also records the CPU of every process involved, and phase 1
where the time of a 201 goes (gateway, Kafka, trades' transaction and relay, reply). See
bench/README.md for reading the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

import httpx

from bench import plans
from tests import harness

if TYPE_CHECKING:
    from tj_common.settings import ServiceSettings

ROOT = harness.ROOT
RESULTS_DIR = ROOT / "bench" / "results"
EXECUTIONS_PATH = "/api/v1/executions"
SYMBOLS = ("RELIANCE", "TCS", "INFY", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "AXISBANK", "WIPRO")
GOAL_P95_MS_AT_100 = 50.0
GOAL_COMMANDS_PER_S = 500.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line, stamped with the seconds since the start."""
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


# -- settings -------------------------------------------------------------------------------------
@dataclass
class Options:
    quick: bool
    rates: list[float]
    warmup: float
    duration: float
    step_rates: list[float]
    step_warmup: float
    step_duration: float
    batch_size: int
    users: int
    connections: int
    reply_timeout: float
    p95_limit_ms: float
    max_non_201_rate: float
    phases: str
    client: str
    refine: int
    output_dir: str


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.write_path",
        description="Benchmark POST /api/v1/executions (open-loop load; JSON under bench/results/).",
    )
    parser.add_argument("--quick", action="store_true", help="short phases: a smoke run of about a minute")
    parser.add_argument("--rates", type=_floats, default=None, help="phase 1 rates, req/s (default 50,100,200)")
    parser.add_argument("--warmup", type=float, default=None, help="phase 1 warm-up per rate, s (default 5)")
    parser.add_argument("--duration", type=float, default=None, help="phase 1 measured time per rate, s (default 20)")
    parser.add_argument(
        "--step-rates",
        type=_floats,
        default=None,
        help="phase 2 ladder, req/s (default 100,200,300,400,500,600,800,1000,1200)",
    )
    parser.add_argument("--step-warmup", type=float, default=None, help="phase 2 warm-up per step, s (default 2)")
    parser.add_argument("--step-duration", type=float, default=None, help="phase 2 measured time per step (10)")
    parser.add_argument(
        "--batch-size", type=int, default=10, help="executions per request of the batch variant (0: skip it)"
    )
    parser.add_argument("--users", type=int, default=20, help="users signed up (keys spread over partitions)")
    parser.add_argument(
        "--connections",
        type=int,
        default=1000,
        help="keep-alive connections at most (many clients, each with its own; past it requests queue)",
    )
    parser.add_argument(
        "--refine", type=int, default=None, help="phase 2 bisection steps after the first failing rate (default 2)"
    )
    parser.add_argument(
        "--reply-timeout", type=float, default=2.0, help="COMMAND_REPLY_TIMEOUT of the gateway: later answers are 202"
    )
    parser.add_argument("--p95-limit-ms", type=float, default=100.0, help="phase 2 pass limit for p95")
    parser.add_argument("--max-non-201-rate", type=float, default=0.01, help="phase 2 pass limit for non-201 answers")
    parser.add_argument("--phases", choices=("all", "1", "2"), default="all")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator HTTP client: raw asyncio HTTP/1.1 (cheapest) or httpx.AsyncClient",
    )
    parser.add_argument("--output-dir", default=str(RESULTS_DIR))
    ns = parser.parse_args(argv)
    quick: bool = ns.quick
    return Options(
        quick=quick,
        rates=ns.rates or [50.0, 100.0, 200.0],
        warmup=ns.warmup if ns.warmup is not None else (1.0 if quick else 5.0),
        duration=ns.duration if ns.duration is not None else (4.0 if quick else 20.0),
        step_rates=ns.step_rates or [100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 800.0, 1000.0, 1200.0],
        step_warmup=ns.step_warmup if ns.step_warmup is not None else (1.0 if quick else 2.0),
        step_duration=ns.step_duration if ns.step_duration is not None else (3.0 if quick else 10.0),
        batch_size=ns.batch_size,
        users=ns.users,
        connections=ns.connections,
        reply_timeout=ns.reply_timeout,
        p95_limit_ms=ns.p95_limit_ms,
        max_non_201_rate=ns.max_non_201_rate,
        phases=ns.phases,
        client=ns.client,
        refine=ns.refine if ns.refine is not None else (1 if quick else 2),
        output_dir=ns.output_dir,
    )


# -- statistics -----------------------------------------------------------------------------------
def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (``q`` in 0..100)."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000.0, 2)


# -- CPU accounting from /proc --------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def proc_cpu(pid: int, reaped: bool = False) -> float | None:
    """User + system CPU seconds of one process (and, with ``reaped``, of its children that
    ended and were waited for: a refresher's forked children, say)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    own = int(fields[11]) + int(fields[12])
    return (own + (int(fields[13]) + int(fields[14]) if reaped else 0)) / CLK_TCK


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL server so far: every live postgres process, and the exited
    backends the postmaster has reaped (its children's time). Other databases' work counts too:
    meaningful on an otherwise quiet machine."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        fields = _stat_fields(int(entry)) if comm == "postgres" else None
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])
        try:
            parent = Path(f"/proc/{fields[1]}/comm").read_text().strip()
        except OSError:
            parent = ""
        if parent != "postgres":  # the postmaster: add its reaped children
            total += int(fields[13]) + int(fields[14])
    return total / CLK_TCK


def children_of(parent: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[1] == str(parent):
                kids.append(int(entry))
    return kids


def _cpu_times() -> list[int]:
    """The first line of /proc/stat: all cores' user, nice, system, idle, iowait, irq, softirq,
    steal, … in clock ticks since boot."""
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def system_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot."""
    values = _cpu_times()
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


def steal_seconds() -> float:
    """CPU seconds the hypervisor gave this machine's cores to others since boot."""
    values = _cpu_times()
    return values[7] / CLK_TCK if len(values) > 7 else 0.0


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants, live or ended and waited for
    (0 for one gone)."""
    return (proc_cpu(pid, reaped=True) or 0.0) + sum(tree_cpu(child) for child in children_of(pid))


def listening_pid(port: int) -> int | None:
    """The process that listens on a local TCP port (needs access to its /proc entries)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                        return int(entry)
    return None


@dataclass
class CpuGroup:
    name: str
    pid: int
    with_children: bool = False  # PostgreSQL: the postmaster and its backends

    def snapshot(self) -> dict[int, float]:
        pids = [self.pid, *(children_of(self.pid) if self.with_children else [])]
        out = {}
        for pid in pids:
            value = proc_cpu(pid)
            if value is not None:
                out[pid] = value
        return out


@dataclass
class CpuSnapshot:
    wall: float
    busy: float
    groups: dict[str, dict[int, float]]


class CpuMeter:
    """CPU of the bench's own processes and of the infrastructure, per measured window."""

    def __init__(self, groups: list[CpuGroup]) -> None:
        self.groups = groups

    def snapshot(self) -> CpuSnapshot:
        groups = {g.name: g.snapshot() for g in self.groups}
        groups["generator"] = {os.getpid(): time.process_time()}
        return CpuSnapshot(time.monotonic(), system_busy_seconds(), groups)

    @staticmethod
    def delta(start: CpuSnapshot, end: CpuSnapshot) -> dict[str, Any]:
        """Percent of one core per group over the window (200% = both cores of a 2-core box)."""
        wall = max(end.wall - start.wall, 1e-6)
        out: dict[str, Any] = {}
        known = 0.0
        for name, pids in end.groups.items():
            before = start.groups.get(name, {})
            used = sum(max(value - before.get(pid, 0.0), 0.0) for pid, value in pids.items())
            known += used
            out[name] = round(100.0 * used / wall, 1)
        busy = max(end.busy - start.busy, 0.0)
        out["system_busy"] = round(100.0 * busy / wall, 1)
        out["other"] = round(max(100.0 * (busy - known) / wall, 0.0), 1)
        out["capacity"] = 100 * (os.cpu_count() or 1)
        return out


# -- Prometheus text ------------------------------------------------------------------------------
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = _SAMPLE.match(line)
        if not match or match.group(1) != name:
            continue
        found = dict(_LABEL.findall(match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            with contextlib.suppress(ValueError):
                total += float(match.group(3))
    return total


# -- load -----------------------------------------------------------------------------------------
@dataclass
class User:
    user_id: str
    token: str
    partition: int | None


@dataclass
class StepSpec:
    phase: str
    rate: float
    warmup: float
    duration: float
    batch: int
    abort_inflight: int | None = None  # stop offering load past this many requests in flight


@dataclass
class Record:
    scheduled: float
    lag: float  # how late the generator sent it
    done: float
    status: int  # 0: transport error
    user: int
    key: str


@dataclass
class StepResult:
    phase: str
    variant: str
    offered_rps: float
    executions_per_request: int
    warmup_s: float
    duration_s: float
    requests: int
    status_counts: dict[str, int]
    transport_errors: dict[str, int]
    non_201_rate: float | None
    error_rate: float | None
    latency_ms: dict[str, float | None]
    achieved_rps: float | None
    ok_rps: float | None
    executions_per_s: float | None
    generator_lag_ms: dict[str, float | None]
    max_inflight: int
    aborted: str | None
    gateway_in_app_mean_ms: float | None
    trades_applied_per_s: float | None
    cpu_percent: dict[str, Any]
    passed: bool | None = None
    fail_reasons: list[str] = field(default_factory=list)
    settle_after: dict[str, Any] = field(default_factory=dict)  # draining the backlog before the next step
    breakdown_ms: dict[str, Any] = field(default_factory=dict)  # where the time of a 201 goes (phase 1)


def execution_body(batch: int, rng: random.Random) -> bytes:
    executions = []
    for _ in range(batch):
        executions.append(
            {
                "symbol": rng.choice(SYMBOLS),
                "exchange": "NSE",
                "side": rng.choice(("buy", "sell")),
                "quantity": str(rng.randint(1, 200)),
                "price": f"{rng.uniform(100, 4000):.2f}",
                "executed_at": f"2026-06-05T{rng.randint(9, 15):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}+05:30",
                "product": "MIS",
            }
        )
    return json.dumps({"executions": executions}, separators=(",", ":")).encode()


class Poster(Protocol):
    """How the generator sends one ``POST /api/v1/executions``; returns the status (0: no answer)."""

    name: str

    async def post(self, user: int, key: str, body: bytes) -> int: ...

    async def aclose(self) -> None: ...


class HttpxPoster:
    """httpx.AsyncClient with a keep-alive pool (the readable baseline; ~1-3 ms CPU a request)."""

    name = "httpx"

    def __init__(self, client: httpx.AsyncClient, tokens: list[str]) -> None:
        self.client = client
        self.headers = [{"Authorization": f"Bearer {t}", "Content-Type": "application/json"} for t in tokens]

    async def post(self, user: int, key: str, body: bytes) -> int:
        response = await self.client.post(
            EXECUTIONS_PATH, content=body, headers={**self.headers[user], "Idempotency-Key": key}
        )
        return response.status_code

    async def aclose(self) -> None:
        return None


class _RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: a request, then its response, then the next."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self.body = b""  # the last response's body, as framed (chunk sizes included when chunked)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None:
            self._complete()

    def _complete(self) -> None:
        buf = self.buffer
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(buf[:head_end]).lower()
        body_start = head_end + 4
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            eol = head.find(b"\r\n", at + 2)
            end = body_start + int(head[at + 17 : eol if eol >= 0 else len(head)])
        elif b"\r\ntransfer-encoding: chunked" in head:
            last = buf.find(b"\r\n0\r\n\r\n", body_start - 2)
            if last < 0:
                return
            end = last + 7
        else:
            end = body_start
        if len(buf) < end:
            return
        if b"\r\nconnection: close" in head:
            self.closed = True
        self.body = bytes(buf[body_start:end])
        del buf[:end]
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(int(head[9:12]))


class RawPoster:
    """A minimal HTTP/1.1 client on asyncio protocols: request bytes are a pre-built prefix per
    user plus the key and the pre-built body; the response is only framed, never parsed beyond
    its status. Several times cheaper than httpx, which matters on a machine the generator
    shares with the services."""

    name = "raw"

    def __init__(self, host: str, port: int, tokens: list[str], max_connections: int) -> None:
        self.host = host
        self.port = port
        self.idle: list[_RawConnection] = []
        self.slots = asyncio.Semaphore(max_connections)
        self.prefixes = [
            (
                f"POST {EXECUTIONS_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {t}\r\n"
                "Content-Type: application/json\r\nIdempotency-Key: "
            ).encode()
            for t in tokens
        ]
        self.connections: set[_RawConnection] = set()

    async def _connection(self) -> _RawConnection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self.connections.discard(conn)
        _, conn = await asyncio.get_running_loop().create_connection(_RawConnection, self.host, self.port)
        self.connections.add(conn)
        return conn

    async def post(self, user: int, key: str, body: bytes) -> int:
        async with self.slots:
            conn = await self._connection()
            assert conn.transport is not None
            waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            conn.waiter = waiter
            conn.transport.write(
                b"".join(
                    (self.prefixes[user], key.encode(), b"\r\nContent-Length: ", b"%d" % len(body), b"\r\n\r\n", body)
                )
            )
            try:
                status = await waiter
            except BaseException:
                conn.closed = True
                conn.transport.close()
                self.connections.discard(conn)
                raise
            if conn.closed:
                conn.transport.close()
                self.connections.discard(conn)
            else:
                self.idle.append(conn)
            return status

    async def aclose(self) -> None:
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.close()
        self.connections.clear()
        self.idle.clear()


class StageTracer:
    """Where the time of each 201 goes, from timestamps the system leaves anyway: the command's
    Kafka record (stamped when the gateway hands it to the producer), ``processed_at`` of its row
    in trades.processed_messages (``now()``: the start of the consumer's transaction), and the
    result event's Kafka record (stamped when the outbox relay hands it to the producer)."""

    def __init__(self, bootstrap: str, commands: str, events: str, trades_url: str, users: list[User]) -> None:
        self.bootstrap = bootstrap
        self.commands = commands
        self.events = events
        self.trades_url = trades_url
        self.user_ids = [uuid.UUID(u.user_id) for u in users]

    async def _read(self, topic: str) -> list[Any]:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,  # no group: every partition is assigned to this consumer
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            for _ in range(100):
                if consumer.assignment():
                    break
                await asyncio.sleep(0.05)
            tps = sorted(consumer.assignment())
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            out: list[Any] = []
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:
                positions = [await consumer.position(tp) for tp in tps]
                if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                    break
                for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    out.extend(batch)
            return out
        finally:
            await consumer.stop()

    async def _processed_at(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
        import asyncpg
        from sqlalchemy.engine import make_url

        url = make_url(self.trades_url)
        conn = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
        )
        try:
            rows = await conn.fetch(
                "SELECT message_id, processed_at FROM trades.processed_messages WHERE message_id = ANY($1::uuid[])",
                ids,
            )
        finally:
            await conn.close()
        return {row["message_id"]: row["processed_at"].timestamp() for row in rows}

    async def breakdown(self, records: list[Record], wall_offset: float) -> dict[str, Any]:
        from tj_common.envelope import command_id_for

        ok = [r for r in records if r.status == 201]
        ids = {command_id_for(self.user_ids[r.user], r.key): r for r in ok}
        published: dict[uuid.UUID, float] = {}
        for rec in await self._read(self.commands):
            message_id = dict(rec.headers or ()).get("message-id")
            if isinstance(message_id, bytes):
                with contextlib.suppress(ValueError):
                    published[uuid.UUID(message_id.decode())] = rec.timestamp / 1000.0
        answered: dict[uuid.UUID, float] = {}
        for rec in await self._read(self.events):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                answered[uuid.UUID(json.loads(rec.value)["causation_id"])] = rec.timestamp / 1000.0
        started = await self._processed_at(list(ids))
        stages: dict[str, list[float]] = {
            "http_to_publish": [],  # client → gateway (parse, auth, validate) → producer
            "kafka_to_consumer": [],  # broker → trades' fetch → queue behind earlier batches → BEGIN
            "apply_and_relay": [],  # the transaction, commit, outbox relay wake-up → producer
            "reply_to_client": [],  # broker → gateway's reply listener → HTTP response → client
            "total": [],
        }
        for command_id, r in ids.items():
            if command_id not in published or command_id not in answered or command_id not in started:
                continue
            sent = r.scheduled + r.lag + wall_offset
            done = r.done + wall_offset
            stages["http_to_publish"].append(published[command_id] - sent)
            stages["kafka_to_consumer"].append(started[command_id] - published[command_id])
            stages["apply_and_relay"].append(answered[command_id] - started[command_id])
            stages["reply_to_client"].append(done - answered[command_id])
            stages["total"].append(done - sent)
        out: dict[str, Any] = {"matched": len(stages["total"]), "of": len(ok)}
        for name, values in stages.items():
            values.sort()
            out[name] = {
                "p50": ms(percentile(values, 50)),
                "p95": ms(percentile(values, 95)),
                "mean": ms(sum(values) / len(values) if values else None),
            }
        return out


class Loader:
    """Open-loop load from one asyncio process; bodies are built before the clock starts."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        poster: Poster,
        users: list[User],
        run_id: str,
        batch_sizes: Iterable[int],
        meter: CpuMeter,
        metrics_urls: dict[str, str],
        check_alive: Callable[[], None] = lambda: None,
    ) -> None:
        self.client = client  # metrics scrapes only
        self.poster = poster
        self.users = users
        self.run_id = run_id
        rng = random.Random(7)
        self.bodies = {n: [execution_body(n, rng) for _ in range(64)] for n in {*batch_sizes, 1}}
        self.meter = meter
        self.metrics_urls = metrics_urls
        self.check_alive = check_alive  # raises when a service process has died
        self.sequence = 0
        self.wall_offset = 0.0
        self.last_measured: list[Record] = []
        self.tracer: StageTracer | None = None

    def _next_key(self) -> str:
        self.sequence += 1
        return f"{self.run_id}-{self.sequence}"

    async def _one(self, scheduled: float, user: int, body: bytes, out: list[Record], errors: Counter[str]) -> None:
        key = self._next_key()
        sent = time.perf_counter()
        try:
            status = await self.poster.post(user, key, body)
        except (httpx.HTTPError, OSError) as exc:
            status = 0
            errors[type(exc).__name__] += 1
        out.append(Record(scheduled, sent - scheduled, time.perf_counter(), status, user, key))

    async def scrape(self) -> dict[str, str]:
        texts = {}
        for name, url in self.metrics_urls.items():
            try:
                texts[name] = (await self.client.get(url, timeout=5.0)).text
            except httpx.HTTPError:
                texts[name] = ""
        return texts

    async def run_step(self, spec: StepSpec) -> StepResult:
        loop = asyncio.get_running_loop()
        clock = time.perf_counter  # uvloop's loop.time() only ticks in whole milliseconds
        bodies = self.bodies[spec.batch]
        records: list[Record] = []
        errors: Counter[str] = Counter()
        inflight: set[asyncio.Task[None]] = set()
        interval = 1.0 / spec.rate
        total = round(spec.rate * (spec.warmup + spec.duration))
        first_measured = round(spec.rate * spec.warmup)
        start = clock() + 0.05
        self.wall_offset = time.time() - clock()  # perf_counter → wall clock (Kafka and PostgreSQL stamps)
        measure_from = start + first_measured * interval
        measure_to = start + total * interval
        cpu_start = cpu_end = None
        scrape_start: asyncio.Task[dict[str, str]] | None = None
        max_inflight = 0
        aborted = None
        users = len(self.users)
        for i in range(total):
            scheduled = start + i * interval
            delay = scheduled - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if i == first_measured:
                cpu_start = self.meter.snapshot()
                scrape_start = asyncio.create_task(self.scrape())
            if spec.abort_inflight is not None and len(inflight) > spec.abort_inflight:
                aborted = f"more than {spec.abort_inflight} requests in flight after {i} sent"
                measure_to = scheduled
                break
            task = loop.create_task(self._one(scheduled, i % users, bodies[i & 63], records, errors))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            max_inflight = max(max_inflight, len(inflight))
        cpu_end = self.meter.snapshot()
        scrape_end = await self.scrape()
        if inflight:
            await asyncio.wait(set(inflight), timeout=60.0)
            for task in list(inflight):
                task.cancel()
        texts_start = await scrape_start if scrape_start else {}

        measured = [r for r in records if measure_from <= r.scheduled < measure_to]
        self.last_measured = measured
        statuses = Counter(str(r.status) for r in measured)
        n = len(measured)
        latencies = sorted(r.done - r.scheduled for r in measured)
        lags = sorted(r.lag for r in measured)
        ok = statuses.get("201", 0)
        span = (max(r.done for r in measured) - measure_from) if measured else 0.0
        window = measure_to - measure_from
        scraped = bool(texts_start.get("gateway")) and bool(scrape_end.get("gateway")) and window > 0.5

        def grew(service: str, name: str, **labels: str) -> float:
            before = metric_sum(texts_start.get(service, ""), name, **labels)
            return metric_sum(scrape_end.get(service, ""), name, **labels) - before

        in_app_count = grew("gateway", "http_request_duration_seconds_count", method="POST", route=EXECUTIONS_PATH)
        in_app_sum = grew("gateway", "http_request_duration_seconds_sum", method="POST", route=EXECUTIONS_PATH)
        applied = grew("trades", "tj_consumed_messages_total", outcome="applied")
        return StepResult(
            phase=spec.phase,
            variant="single" if spec.batch == 1 else f"batch{spec.batch}",
            offered_rps=spec.rate,
            executions_per_request=spec.batch,
            warmup_s=spec.warmup,
            duration_s=spec.duration,
            requests=n,
            status_counts=dict(sorted(statuses.items())),
            transport_errors=dict(errors),
            non_201_rate=round((n - ok) / n, 4) if n else None,
            error_rate=round(sum(c for s, c in statuses.items() if s == "0" or int(s) >= 400) / n, 4) if n else None,
            latency_ms={
                "p50": ms(percentile(latencies, 50)),
                "p90": ms(percentile(latencies, 90)),
                "p95": ms(percentile(latencies, 95)),
                "p99": ms(percentile(latencies, 99)),
                "max": ms(latencies[-1] if latencies else None),
                "mean": ms(sum(latencies) / n if n else None),
            },
            achieved_rps=round(n / span, 1) if span > 0 else None,
            ok_rps=round(ok / span, 1) if span > 0 else None,
            executions_per_s=round(ok * spec.batch / span, 1) if span > 0 else None,
            generator_lag_ms={"p99": ms(percentile(lags, 99)), "max": ms(lags[-1] if lags else None)},
            max_inflight=max_inflight,
            aborted=aborted,
            gateway_in_app_mean_ms=(
                round(1000.0 * in_app_sum / in_app_count, 2) if scraped and in_app_count > 0 else None
            ),
            trades_applied_per_s=(
                round(applied / window, 1)
                if scraped and texts_start.get("trades") and scrape_end.get("trades")
                else None
            ),
            cpu_percent=CpuMeter.delta(cpu_start, cpu_end) if cpu_start else {},
        )

    async def backlog(self) -> float | None:
        """Commands trades has not applied plus events it has not relayed (its /metrics)."""
        try:
            text = (await self.client.get(self.metrics_urls["trades"], timeout=5.0)).text
        except (httpx.HTTPError, KeyError):
            return None
        return metric_sum(text, "tj_consumer_lag") + metric_sum(text, "tj_outbox_backlog")

    async def settle(self, timeout: float = 150.0, fast_ms: float = 100.0, fatal: bool = False) -> dict[str, Any]:
        """Wait until trades has no backlog, then probe one request at a time until one per
        partition in a row (users are ordered round-robin over partitions) comes back 201 within
        ``fast_ms``: the services are ready and the previous step has drained."""
        began = time.perf_counter()
        needed = max(3, len({u.partition for u in self.users}))
        good = probes = 0
        last: str = ""
        while time.perf_counter() - began < timeout:
            self.check_alive()
            backlog = await self.backlog()
            if backlog:
                last = f"backlog of {backlog:g} messages"
                await asyncio.sleep(0.5)
                continue
            probes += 1
            t0 = time.perf_counter()
            try:
                status = await self.poster.post(probes % len(self.users), self._next_key(), self.bodies[1][0])
                elapsed = time.perf_counter() - t0
                last = f"{status} in {elapsed * 1000:.0f} ms"
                good = good + 1 if status == 201 and elapsed * 1000 < fast_ms else 0
            except (httpx.HTTPError, OSError) as exc:
                last = repr(exc)
                good = 0
            if good >= needed:
                return {"seconds": round(time.perf_counter() - began, 2), "probes": probes, "settled": True}
            await asyncio.sleep(0.05 if good else 0.25)
        message = f"the write path did not settle within {timeout:.0f}s (last: {last})"
        if fatal:
            raise RuntimeError(message)
        say(f"  warning: {message}; going on")
        return {"seconds": round(time.perf_counter() - began, 2), "probes": probes, "settled": False}


def judge(result: StepResult, opts: Options) -> StepResult:
    reasons = []
    p95 = result.latency_ms.get("p95")
    if result.aborted:
        reasons.append(f"aborted: {result.aborted}")
    if not result.requests:
        reasons.append("no measured requests")
    if p95 is None or p95 >= opts.p95_limit_ms:
        reasons.append(f"p95 {p95} ms >= {opts.p95_limit_ms:g} ms")
    if result.non_201_rate is None or result.non_201_rate > opts.max_non_201_rate:
        reasons.append(f"non-201 rate {result.non_201_rate} > {opts.max_non_201_rate:g}")
    if result.ok_rps is None or result.ok_rps < 0.95 * result.offered_rps:
        reasons.append(f"201/s {result.ok_rps} below 95% of the offered {result.offered_rps:g}")
    result.fail_reasons = reasons
    result.passed = not reasons
    return result


# -- users ----------------------------------------------------------------------------------------
def partition_of(key: str, partitions: int) -> int | None:
    try:
        from aiokafka.partitioner import murmur2
    except ImportError:  # pragma: no cover - aiokafka moved it
        return None
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


async def sign_up_users(client: httpx.AsyncClient, count: int, run_id: str, partitions: int) -> list[User]:
    """Sign up users until every partition of ``trades.commands`` (keyed by user id) holds at least
    ``count // partitions`` of them, within ``3 * count`` signups; then pick ``count`` round-robin
    over the partitions."""
    floor = max(count // partitions, 1) if count >= partitions else 0
    by_partition: dict[int | None, list[User]] = {}
    for attempt in range(count * 3):
        response = await client.post(
            "/api/v1/auth/signup",
            json={"email": f"bench-{run_id}-{attempt:03d}@example.com", "password": "bench-password-0123456"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"signup failed: {response.status_code} {response.text[:300]}")
        body = response.json()
        user_id = str(body["user"]["id"])
        user = User(user_id, body["access_token"], partition_of(user_id, partitions))
        by_partition.setdefault(user.partition, []).append(user)
        if attempt + 1 >= count and (
            None in by_partition or all(len(by_partition.get(p, [])) >= floor for p in range(partitions))
        ):
            break
    queues = [by_partition[key] for key in sorted(by_partition, key=lambda k: -1 if k is None else k)]
    chosen: list[User] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen


# -- environment ----------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_gib = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
        "trades_engines": _trades_engines(),
    }


def _trades_engines() -> str:
    """Whether the trades services this benchmark starts (same environment) run the compiled engines."""
    from tj_trades import _native

    return f"{'compiled' if _native.active else 'python'}: {_native.reason}"


def git_info() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {
        "commit": run("rev-parse", "HEAD") or None,
        "dirty": bool(run("status", "--porcelain", "--untracked-files=no")),
    }


def infra_groups(settings: Any) -> list[CpuGroup]:
    """The local infrastructure processes, found by the port they listen on."""
    from sqlalchemy.engine import make_url

    wanted: list[tuple[str, str | None, int | None, bool]] = []
    host, _, port = settings.kafka_bootstrap_servers.split(",")[0].rpartition(":")
    wanted.append(("kafka", host, int(port) if port.isdigit() else None, False))
    with contextlib.suppress(Exception):
        url = make_url(settings.database_url)
        wanted.append(("postgres", url.host, url.port or 5432, True))
    redis = urlsplit(settings.redis_url)
    wanted.append(("redis", redis.hostname, redis.port or 6379, False))
    groups = []
    for name, host_, port_, children in wanted:
        if port_ is None or host_ not in ("127.0.0.1", "localhost", "::1"):
            continue
        pid = listening_pid(port_)
        if pid is not None:
            groups.append(CpuGroup(name, pid, children))
    return groups


# -- a database of its own -----------------------------------------------------------------------
class BenchDatabase:
    """A throwaway PostgreSQL database per run, laid out like the others (one schema per service,
    owned by its role; only the service roles may connect), migrated to head, dropped at the end.

    Its own database, not the dev one: the outbox relay publishes every row of its table to the
    topic stored in the row, in id order, under one advisory lock per table. Rows left for this
    run's (deleted) topics would block a dev relay for good, and a running ``make dev`` would hold
    the lock and relay the bench's events itself. The superuser connection comes from
    BENCH_ADMIN_DATABASE_URL or, by default, ``postgres`` with TJ_PG_SUPERUSER_PASSWORD (``postgres``)
    on the host and port of the services' database.

    Each benchmark names its databases with a prefix of its own (``PREFIX``), so the sweep of
    leftovers (``SWEEP_LEFTOVERS``) never drops another benchmark's database that is running now."""

    PREFIX = "tj_bench_"
    SWEEP_LEFTOVERS = True

    def __init__(self, run_id: str, service_urls: dict[str, str]) -> None:
        from sqlalchemy.engine import make_url

        self.name = f"{self.PREFIX}{run_id}"
        self.service_urls = {
            name: make_url(url).set(database=self.name).render_as_string(hide_password=False)
            for name, url in service_urls.items()
        }
        self.roles = {name: make_url(url).username or name for name, url in service_urls.items()}
        any_url = make_url(next(iter(service_urls.values())))
        admin = os.environ.get("BENCH_ADMIN_DATABASE_URL")
        self.admin = (
            make_url(admin)
            if admin
            else any_url.set(
                username="postgres",
                password=os.environ.get("TJ_PG_SUPERUSER_PASSWORD", "postgres"),
                database="postgres",
            )
        )
        self.created = False

    async def _connect(self, database: str | None = None) -> Any:
        import asyncpg

        url = self.admin
        return await asyncpg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=database or url.database or "postgres",
        )

    async def create(self) -> None:
        from tj_common.settings import SERVICE_SCHEMAS

        conn = await self._connect()
        try:
            # Leftovers of interrupted runs; one still in use (a run going on) refuses to drop.
            leftovers = (
                await conn.fetch(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1", self.PREFIX.replace("_", "\\_") + "%"
                )
                if self.SWEEP_LEFTOVERS
                else []
            )
            for row in leftovers:
                with contextlib.suppress(Exception):
                    await conn.execute(f'DROP DATABASE "{row["datname"]}"')
            await conn.execute(f'CREATE DATABASE "{self.name}"')
            self.created = True
            roles = ", ".join(f'"{r}"' for r in self.roles.values())
            await conn.execute(f'REVOKE ALL ON DATABASE "{self.name}" FROM PUBLIC')
            await conn.execute(f'GRANT CONNECT ON DATABASE "{self.name}" TO {roles}')
        finally:
            await conn.close()
        conn = await self._connect(self.name)
        try:
            await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            for service, role in self.roles.items():
                await conn.execute(f'CREATE SCHEMA "{SERVICE_SCHEMAS[service]}" AUTHORIZATION "{role}"')
        finally:
            await conn.close()

    def migrate(self) -> None:
        from tj_common import migrations

        for service in self.service_urls:
            migrations.upgrade(service, "head")

    async def drop(self) -> None:
        if not self.created:
            return
        conn = await self._connect()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()


# -- report ---------------------------------------------------------------------------------------
def _fmt(value: Any, width: int) -> str:
    text = "-" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
    return text.rjust(width)


def summary_table(results: list[StepResult]) -> str:
    head = (
        f"{'phase':<6}{'variant':>8}{'offered':>8}{'201/s':>8}{'exec/s':>8}{'p50':>8}{'p95':>8}{'p99':>8}"
        f"{'max':>8}{'201':>7}{'202':>6}{'other':>6}{'gw%':>6}{'tr%':>6}{'pg%':>6}{'kf%':>6}{'gen%':>6}"
        f"{'oth%':>6}  ok"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        counts = r.status_counts
        other = sum(c for s, c in counts.items() if s not in ("201", "202"))
        cpu = r.cpu_percent
        verdict = "" if r.passed is None else ("pass" if r.passed else "FAIL")
        lines.append(
            f"{r.phase:<6}{r.variant:>8}{_fmt(r.offered_rps, 8)}{_fmt(r.ok_rps, 8)}{_fmt(r.executions_per_s, 8)}"
            f"{_fmt(r.latency_ms['p50'], 8)}{_fmt(r.latency_ms['p95'], 8)}{_fmt(r.latency_ms['p99'], 8)}"
            f"{_fmt(r.latency_ms['max'], 8)}{_fmt(counts.get('201', 0), 7)}{_fmt(counts.get('202', 0), 6)}"
            f"{_fmt(other, 6)}{_fmt(cpu.get('gateway'), 6)}{_fmt(cpu.get('trades'), 6)}"
            f"{_fmt(cpu.get('postgres'), 6)}{_fmt(cpu.get('kafka'), 6)}{_fmt(cpu.get('generator'), 6)}"
            f"{_fmt(cpu.get('other'), 6)}  {verdict}"
        )
    lines.append("latency in ms from the scheduled send; CPU in % of one core over the measured window")
    return "\n".join(lines)


def step_line(r: StepResult) -> str:
    lat = r.latency_ms
    cpu = r.cpu_percent
    verdict = "" if r.passed is None else (" pass" if r.passed else f" FAIL ({'; '.join(r.fail_reasons)})")
    return (
        f"  {r.phase} {r.variant} {r.offered_rps:g}/s: {r.requests} req, 201/s {r.ok_rps}, p50 {lat['p50']} "
        f"p95 {lat['p95']} p99 {lat['p99']} max {lat['max']} ms, status {r.status_counts}, "
        f"cpu gw {cpu.get('gateway')} tr {cpu.get('trades')} pg {cpu.get('postgres')} kf {cpu.get('kafka')} "
        f"gen {cpu.get('generator')} other {cpu.get('other')}%{verdict}"
    )


# -- the run --------------------------------------------------------------------------------------
async def measure(loader: Loader, spec: StepSpec, opts: Options, out: list[StepResult], judged: bool) -> StepResult:
    result = await loader.run_step(spec)
    loader.check_alive()
    if spec.phase == "1" and loader.tracer is not None:
        try:
            result.breakdown_ms = await loader.tracer.breakdown(loader.last_measured, loader.wall_offset)
        except Exception as exc:  # a diagnostic: never fail the run for it
            result.breakdown_ms = {"error": repr(exc)[:300]}
    if judged:
        judge(result, opts)
    out.append(result)
    say(step_line(result))
    if result.breakdown_ms.get("matched"):
        b = result.breakdown_ms
        say(
            "    where a 201's time goes, p50/p95 ms: "
            + ", ".join(f"{k} {b[k]['p50']}/{b[k]['p95']}" for k in b if isinstance(b[k], dict))
        )
    result.settle_after = await loader.settle()
    return result


async def ladder(loader: Loader, opts: Options, batch: int, out: list[StepResult]) -> float | None:
    """Step the rate up until a step fails, then bisect between the highest passing rate (or 0)
    and the failing one ``opts.refine`` times; the highest passing rate."""
    best: float | None = None
    failed: float | None = None

    async def attempt(rate: float) -> bool:
        spec = StepSpec("2", rate, opts.step_warmup, opts.step_duration, batch, abort_inflight=max(int(rate), 50))
        return bool((await measure(loader, spec, opts, out, judged=True)).passed)

    for rate in opts.step_rates:
        if not await attempt(rate):
            failed = rate
            break
        best = rate
    for _ in range(opts.refine if failed is not None else 0):
        low = best or 0.0
        assert failed is not None
        mid = round((low + failed) / 2 / 5) * 5.0  # multiples of 5 req/s
        if mid <= low or mid >= failed:
            break
        if await attempt(mid):
            best = mid
        else:
            failed = mid
    return best


async def run_load(
    opts: Options,
    procs: list[harness.ServiceProcess],
    run_id: str,
    partitions: int,
    meter: CpuMeter,
    bootstrap: str,
    trades_db_url: str,
) -> dict[str, Any]:
    from tj_common.topics import TRADES_COMMANDS, TRADES_EVENTS

    gateway_url, trades_url = (p.url for p in procs)

    def check_alive() -> None:
        for p in procs:
            if p.proc is not None and p.proc.poll() is not None:
                raise RuntimeError(f"{p.name} exited with {p.proc.returncode}; log: {p.log_path}")

    limits = httpx.Limits(max_connections=opts.connections, max_keepalive_connections=opts.connections)
    async with httpx.AsyncClient(
        base_url=gateway_url, limits=limits, timeout=httpx.Timeout(30.0), trust_env=False
    ) as client:
        say(f"signing up {opts.users} users …")
        users = await sign_up_users(client, opts.users, run_id, partitions)
        await plans.unlimited(*(u.user_id for u in users))  # the free plan's 500 a month would stop the run
        tokens = [u.token for u in users]
        poster: Poster
        if opts.client == "raw":
            target = urlsplit(gateway_url)
            poster = RawPoster(target.hostname or "127.0.0.1", target.port or 80, tokens, opts.connections)
        else:
            poster = HttpxPoster(client, tokens)
        loader = Loader(
            client,
            poster,
            users,
            run_id,
            [opts.batch_size] if opts.batch_size > 0 else [],
            meter,
            {"gateway": f"{gateway_url}/metrics", "trades": f"{trades_url}/metrics"},
            check_alive,
        )
        loader.tracer = StageTracer(bootstrap, TRADES_COMMANDS.name, TRADES_EVENTS.name, trades_db_url, users)
        try:
            return await drive(loader, opts, users)
        finally:
            await poster.aclose()


async def drive(loader: Loader, opts: Options, users: list[User]) -> dict[str, Any]:
    spread = Counter(u.partition for u in users)
    ready = await loader.settle(timeout=120.0, fatal=True)
    say(f"write path ready after {ready['seconds']}s")
    # What the processes burn with no load at all (pollers, heartbeats, fetch loops).
    idle_start = loader.meter.snapshot()
    await asyncio.sleep(2.0 if opts.quick else 4.0)
    idle_cpu = CpuMeter.delta(idle_start, loader.meter.snapshot())
    say(f"idle CPU, % of one core: {idle_cpu}")
    if idle_cpu.get("other", 0.0) > 25.0:
        say(
            f"  warning: other processes use {idle_cpu['other']}% of a core with no load: the figures will be "
            "pessimistic (see the 'oth%' column)"
        )
    cpu_before = time.process_time()
    wall_before = time.monotonic()
    results: list[StepResult] = []
    max_single = max_batch = None
    if opts.phases in ("all", "1"):
        say("phase 1: fixed rates, open loop")
        for rate in opts.rates:
            spec = StepSpec("1", rate, opts.warmup, opts.duration, 1, abort_inflight=int(rate * 10))
            await measure(loader, spec, opts, results, judged=False)
    if opts.phases in ("all", "2"):
        say("phase 2: highest sustained rate (one execution per request)")
        max_single = await ladder(loader, opts, 1, results)
        if opts.batch_size > 1:
            say(f"phase 2: highest sustained rate ({opts.batch_size} executions per request)")
            max_batch = await ladder(loader, opts, opts.batch_size, results)
    return {
        "users": {
            "count": len(users),
            "per_partition": {str(k): v for k, v in sorted(spread.items(), key=lambda kv: str(kv[0]))},
        },
        "results": results,
        "idle_cpu_percent": idle_cpu,
        "max_single": max_single,
        "max_batch": max_batch,
        "generator_cpu_s": round(time.process_time() - cpu_before, 2),
        "load_wall_s": round(time.monotonic() - wall_before, 1),
    }


def build_report(
    opts: Options, run_id: str, prefix: str, load: dict[str, Any], settings_used: dict[str, Any], started: datetime
) -> dict[str, Any]:
    results: list[StepResult] = load["results"]
    at_100 = next((r for r in results if r.phase == "1" and r.offered_rps == 100.0), None)
    p95_at_100 = at_100.latency_ms["p95"] if at_100 else None
    max_single = load["max_single"]
    batch_ok = [r for r in results if r.phase == "2" and r.executions_per_request > 1 and r.passed]
    return {
        "benchmark": "write_path",
        "endpoint": f"POST {EXECUTIONS_PATH}",
        "run_id": run_id,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "git": git_info(),
        "machine": machine_info(),
        "settings": {**asdict(opts), **settings_used, "topic_prefix": prefix},
        "users": load["users"],
        "idle_cpu_percent": load["idle_cpu_percent"],
        "results": [asdict(r) for r in results],
        "max_sustained": {
            "definition": (
                f"highest offered rate of phase 2 with p95 < {opts.p95_limit_ms:g} ms, non-201 <= "
                f"{opts.max_non_201_rate:.0%}, 201/s >= 95% of offered"
            ),
            "commands_per_s": max_single,
            "batch_commands_per_s": load["max_batch"],
            "batch_executions_per_s": (max(r.executions_per_s or 0.0 for r in batch_ok) if batch_ok else None),
            "batch_size": opts.batch_size,
            "last_step_passed": bool(max_single is not None and max_single == max(opts.step_rates)),
        },
        "goals": {
            f"p95 <= {GOAL_P95_MS_AT_100:g} ms at 100 req/s": {
                "value_ms": p95_at_100,
                "pass": p95_at_100 is not None and p95_at_100 <= GOAL_P95_MS_AT_100,
            },
            f">= {GOAL_COMMANDS_PER_S:g} commands/s sustained": {
                "value": max_single,
                "pass": max_single is not None and max_single >= GOAL_COMMANDS_PER_S,
            },
        },
        "generator": {
            "cpu_s": load["generator_cpu_s"],
            "wall_s": load["load_wall_s"],
            "cpu_percent_of_one_core": round(100.0 * load["generator_cpu_s"] / max(load["load_wall_s"], 1e-6), 1),
            "client": (
                f"raw asyncio HTTP/1.1, keep-alive pool of {opts.connections}"
                if opts.client == "raw"
                else f"httpx {httpx.__version__} AsyncClient, keep-alive pool of {opts.connections}"
            ),
        },
    }


def write_report(report: dict[str, Any], output_dir: Path, name: str = "write_path") -> Path:
    """``<name>-<UTC stamp>.json`` and ``<name>-latest.json`` under ``output_dir``; the stamped path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = output_dir / f"{name}-{stamp}.json"
    text = json.dumps(report, indent=2, default=str) + "\n"
    path.write_text(text)
    (output_dir / f"{name}-latest.json").write_text(text)
    return path


def teardown_run(
    procs: list[harness.ServiceProcess], settings: ServiceSettings, partitions: int, database: BenchDatabase
) -> None:
    """Stop a bench run's services, delete its topics and drop its database. A second Ctrl-C must
    not cut the cleanup short; every topic name carries the run's prefix, so nothing else goes."""
    # Imported here, like everywhere in this module: the topic registry reads KAFKA_TOPIC_PREFIX,
    # which main() sets for the run, when it is first imported.
    from tj_common.topics import delete_topics, topic_names

    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop_services(procs)
        with contextlib.suppress(Exception):
            run_async(lambda: delete_topics(settings.kafka_bootstrap_servers, list(topic_names(partitions))))
        try:
            run_async(database.drop)
        except Exception as exc:
            print(f"could not drop database {database.name}: {exc!r}", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_services(procs: list[harness.ServiceProcess]) -> None:
    running = [p for p in procs if p.proc is not None and p.proc.poll() is None]
    for p in running:
        assert p.proc is not None
        with contextlib.suppress(OSError):
            p.proc.send_signal(signal.SIGTERM)
    for p in running:
        assert p.proc is not None
        try:
            p.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait(timeout=10)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    return True


def run_async(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine on uvloop when it is installed (cheaper per request), else asyncio.

    Ctrl-C and SIGTERM cancel the coroutine (so its ``finally`` blocks run) and then surface as
    KeyboardInterrupt: asyncio.Runner's own SIGINT handling does not fire under uvloop."""
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        loop_factory = None

    async def guarded() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        interrupted = False

        def interrupt() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            if previous[sig] is not signal.SIG_IGN:
                loop.add_signal_handler(sig, interrupt)
        try:
            return await factory()
        except asyncio.CancelledError:
            if interrupted:
                raise KeyboardInterrupt from None
            raise
        finally:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(guarded())


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = datetime.now(UTC)
    run_id = secrets.token_hex(4)
    prefix = f"bench-{run_id}."
    # Read once at import by tj_common.topics: set before anything imports it.
    os.environ["KAFKA_TOPIC_PREFIX"] = prefix
    from tj_common.storage import ensure_bucket
    from tj_common.topics import ensure_topics
    from tj_gateway.settings import Settings as GatewaySettings
    from tj_trades.settings import Settings as TradesSettings

    settings = TradesSettings(environment="development")
    partitions = settings.topic_partitions
    database = BenchDatabase(
        run_id,
        {"gateway": GatewaySettings(environment="development").database_url, "trades": settings.database_url},
    )
    # Migrations (in this process) and both services (inherit os.environ) use the run's database.
    for service, url in database.service_urls.items():
        os.environ[f"{service.upper()}_DATABASE_URL"] = url
    signal.signal(signal.SIGTERM, _raise_interrupt)
    ports = {"gateway": harness.free_port(), "trades": harness.free_port()}
    env = {
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "KAFKA_TOPIC_PREFIX": prefix,
        "TRADES_QUERY_URL": f"http://127.0.0.1:{ports['trades']}",
        "COMMAND_REPLY_TIMEOUT": str(opts.reply_timeout),
        "JWT_EXPIRES_IN": "2h",
    }
    procs = [harness.ServiceProcess(name, port, env) for name, port in ports.items()]
    say(
        f"bench run {run_id}: topics {prefix}*, database {database.name}, "
        f"gateway :{ports['gateway']}, trades :{ports['trades']}"
    )
    try:
        run_async(database.create)
        database.migrate()
        run_async(lambda: ensure_topics(settings.kafka_bootstrap_servers, partitions, 1))
        ensure_bucket(settings)
        for proc in procs:
            proc.start({"INSTANCE_ID": f"bench-{run_id}-{proc.name}"})
        for proc in procs:
            proc.wait_healthy(timeout=90.0)
        say("services healthy")
        groups = [CpuGroup(p.name, p.proc.pid) for p in procs if p.proc is not None]
        meter = CpuMeter(groups + infra_groups(settings))
        load = run_async(
            lambda: run_load(
                opts,
                procs,
                run_id,
                partitions,
                meter,
                settings.kafka_bootstrap_servers,
                database.service_urls["trades"],
            )
        )
        settings_used = {
            "environment": "development",
            "database": f"{database.name} (created for the run, dropped at the end)",
            "kafka_partitions": partitions,
            "service_log_level": "WARNING",
            "generator_loop": "uvloop" if uvloop_available() else "asyncio",
            "cpu_groups": {g.name: g.pid for g in meter.groups},
            "service_logs": {p.name: str(p.log_path) for p in procs},
        }
        report = build_report(opts, run_id, prefix, load, settings_used, started)
        path = write_report(report, Path(opts.output_dir))
        print()
        print(summary_table(load["results"]))
        print()
        ms_ = report["max_sustained"]
        print(
            f"max sustained: {ms_['commands_per_s']} commands/s (1 execution each); batch of {opts.batch_size}: "
            f"{ms_['batch_commands_per_s']} commands/s = {ms_['batch_executions_per_s']} executions/s"
        )
        for goal, verdict in report["goals"].items():
            value = verdict.get("value_ms", verdict.get("value"))
            print(f"goal {goal}: {'PASS' if verdict['pass'] else 'FAIL'} ({value})")
        gen = report["generator"]
        print(f"generator: {gen['cpu_s']} s CPU over {gen['wall_s']} s ({gen['cpu_percent_of_one_core']}% of a core)")
        print(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the services", file=sys.stderr, flush=True)
        return 130
    except RuntimeError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        teardown_run(procs, settings, partitions, database)


if __name__ == "__main__":
    sys.exit(main())
