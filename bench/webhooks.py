"""Benchmark of Razorpay webhook intake: ``POST /api/webhooks/razorpay`` → signature check →
durable on ``billing.webhooks`` (the broker's acknowledgement) → 2xx. Goal: p95 ≤ 20 ms at 100
deliveries/s.

    uv run python -m bench.webhooks            # about a minute and a half
    uv run python -m bench.webhooks --quick    # smoke run

Like bench/write_path.py it runs its own gateway and billing processes on free ports, on topics of
its own (``KAFKA_TOPIC_PREFIX=bench-<run>.``) and a database of its own (``tj_bench_<run>``),
removed at the end. Deliveries are offered open-loop: each is scheduled at a fixed instant and its
latency counts from that instant (no coordinated omission). Every delivery is a distinct,
correctly signed event of a subscription's life (Razorpay's payload shapes); after the load the
benchmark waits until billing has applied every one and reports how long that took.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.write_path import (
    BenchDatabase,
    _raise_interrupt,
    _RawConnection,
    git_info,
    machine_info,
    metric_sum,
    percentile,
    proc_cpu,
    run_async,
    say,
    system_busy_seconds,
    teardown_run,
    write_report,
)
from deploy.razorpay.payloads import Lifecycle, WebhookDelivery
from tests import harness

ROOT = harness.ROOT
RESULTS_DIR = ROOT / "bench" / "results"
GOAL_RATE = 100.0
GOAL_P95_MS = 20.0
LIFE = (
    "subscription.authenticated",
    "subscription.activated",
    "subscription.charged",
    "invoice.paid",
    "payment.captured",
    "subscription.updated",
)


class WebhooksBenchDatabase(BenchDatabase):
    """bench.write_path's throwaway database under a name of its own (``tj_whbench_<run>``), so
    sweeps of other benchmarks' leftovers never drop it while it runs."""

    PREFIX = "tj_whbench_"


@dataclass
class Step:
    rate: float
    duration: float
    warmup: float


def deliveries(count: int, secret: str) -> list[WebhookDelivery]:
    """``count`` distinct deliveries: lives of subscriptions adopted by billing (their notes carry
    a user and a plan), interleaved so consecutive deliveries are about different subscriptions."""
    lives = []
    per_life = len(LIFE)
    for _ in range(count // per_life + 1):
        user = str(uuid.uuid4())
        lives.append(
            Lifecycle(
                subscription_id=f"sub_{secrets.token_hex(7)}",
                plan_id="plan_local_pro_monthly",
                amount=49900,
                webhook_secret=secret,
                notes={"user_id": user, "plan_id": "pro_monthly"},
            )
        )
    out: list[WebhookDelivery] = []
    for name in LIFE:
        for life in lives:
            out.append(life.event(name))
            if len(out) == count:
                return out
    return out


class RawSender:
    """Pre-built request bytes over keep-alive HTTP/1.1 connections (bench.write_path's raw
    connection): far cheaper than httpx, so a generator sharing the CPU stays on schedule."""

    def __init__(self, host: str, port: int, max_connections: int = 64) -> None:
        self.host, self.port = host, port
        self.idle: list[_RawConnection] = []
        self.connections: set[_RawConnection] = set()
        self.slots = asyncio.Semaphore(max_connections)

    def request(self, delivery: WebhookDelivery) -> bytes:
        head = "".join(f"{k}: {v}\r\n" for k, v in delivery.headers().items())
        return (
            f"POST /api/webhooks/razorpay HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
            f"Content-Length: {len(delivery.body)}\r\n\r\n"
        ).encode() + delivery.body

    async def send(self, request: bytes) -> int:
        async with self.slots:
            conn = None
            while self.idle and conn is None:
                candidate = self.idle.pop()
                conn = None if candidate.closed else candidate
            if conn is None:
                _, conn = await asyncio.get_running_loop().create_connection(_RawConnection, self.host, self.port)
                self.connections.add(conn)
            assert conn.transport is not None
            waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            conn.waiter = waiter
            conn.transport.write(request)
            try:
                status = await waiter
            except BaseException:
                conn.closed = True
                conn.transport.close()
                raise
            if conn.closed:
                conn.transport.close()
            else:
                self.idle.append(conn)
            return status

    def close(self) -> None:
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.close()


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process, of this generator, and of the whole machine."""
    seconds = {name: proc_cpu(pid) or 0.0 for name, pid in pids.items()}
    seconds["generator"] = proc_cpu(os.getpid()) or 0.0
    seconds["machine_busy"] = system_busy_seconds()
    return seconds


async def offer(sender: RawSender, step: Step, pending: list[WebhookDelivery], pids: dict[str, int]) -> dict[str, Any]:
    """Offers ``step.rate`` deliveries per second for warmup + duration; latencies after warmup."""
    total = int(step.rate * (step.warmup + step.duration))
    batch = [sender.request(pending.pop()) for _ in range(total)]
    interval = 1.0 / step.rate
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter() + 0.2

    async def one(i: int, request: bytes) -> None:
        scheduled = start + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            status = await asyncio.wait_for(sender.send(request), timeout=30)
        except (OSError, TimeoutError):
            status = 0
        statuses[status] = statuses.get(status, 0) + 1
        if i * interval >= step.warmup:
            latencies.append(time.perf_counter() - scheduled)

    cpu_before, wall_before = cpu_seconds(pids), time.perf_counter()
    await asyncio.gather(*(one(i, d) for i, d in enumerate(batch)))
    cpu_after, wall = cpu_seconds(pids), time.perf_counter() - wall_before
    ordered = sorted(latencies)
    return {
        "rate_per_s": step.rate,
        "offered": total,
        "measured": len(ordered),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": _ms(percentile(ordered, 50)),
        "p95_ms": _ms(percentile(ordered, 95)),
        "p99_ms": _ms(percentile(ordered, 99)),
        "max_ms": _ms(ordered[-1] if ordered else None),
        "wall_s": round(wall, 2),
        "achieved_per_s": round(total / wall, 1),
        # In % of one core over the step; the gateway's share per delivery says what 100/s costs.
        "cpu_percent": {k: round(100 * (cpu_after[k] - cpu_before[k]) / wall, 1) for k in cpu_after},
        "gateway_cpu_ms_per_delivery": round(1000 * (cpu_after["gateway"] - cpu_before["gateway"]) / total, 2),
        "cores": os.cpu_count(),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


async def applied(billing_url: str) -> float:
    async with httpx.AsyncClient() as http:
        return metric_sum((await http.get(f"{billing_url}/metrics")).text, "tj_billing_webhooks_total")


async def run_load(gateway: str, billing: str, steps: list[Step], secret: str, pids: dict[str, int]) -> dict[str, Any]:
    needed = sum(int(s.rate * (s.warmup + s.duration)) for s in steps)
    pending = deliveries(needed, secret)[::-1]
    results = []
    url = httpx.URL(gateway)
    sender = RawSender(url.host, url.port or 80)
    async with httpx.AsyncClient(base_url=gateway, timeout=10.0) as client:
        for _ in range(20):  # the gateway's first-request paths
            await client.get("/api/health")
    try:
        for step in steps:
            say(f"offering {step.rate:g} deliveries/s for {step.warmup:g}+{step.duration:g} s")
            result = await offer(sender, step, pending, pids)
            say(
                f"  p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, "
                f"answers {result['statuses']}, {result['achieved_per_s']}/s, cpu % {result['cpu_percent']}"
            )
            results.append(result)
    finally:
        sender.close()
    load_end = time.perf_counter()
    deadline = load_end + 120
    done = 0.0
    while time.perf_counter() < deadline:
        done = await applied(billing)
        if done >= needed:
            break
        await asyncio.sleep(0.5)
    return {
        "steps": results,
        "sent": needed,
        "applied_by_billing": int(done),
        "billing_caught_up_s_after_load": round(time.perf_counter() - load_end, 2) if done >= needed else None,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--rates", default="100,200", help="deliveries per second, one step each")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--output-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    if args.quick:
        args.rates, args.duration, args.warmup = "100", 8.0, 2.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    run_id = secrets.token_hex(4)
    prefix = f"bench-{run_id}."
    os.environ["KAFKA_TOPIC_PREFIX"] = prefix  # read once by tj_common.topics: set first
    from tj_billing.settings import Settings as BillingSettings
    from tj_common.topics import ensure_topics
    from tj_gateway.settings import Settings as GatewaySettings

    settings = BillingSettings(environment="development")
    secret = settings.razorpay_webhook_secret.get_secret_value()
    partitions = settings.topic_partitions
    database = WebhooksBenchDatabase(
        run_id,
        {"gateway": GatewaySettings(environment="development").database_url, "billing": settings.database_url},
    )
    for service, url in database.service_urls.items():
        os.environ[f"{service.upper()}_DATABASE_URL"] = url
    ports = {"gateway": harness.free_port(), "billing": harness.free_port()}
    env = {
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "KAFKA_TOPIC_PREFIX": prefix,
        "BILLING_QUERY_URL": f"http://127.0.0.1:{ports['billing']}",
    }
    procs = [harness.ServiceProcess(name, port, env) for name, port in ports.items()]
    steps = [Step(float(r), args.duration, args.warmup) for r in args.rates.split(",") if r]
    say(f"bench run {run_id}: topics {prefix}*, database {database.name}, gateway :{ports['gateway']}")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        run_async(database.create)
        database.migrate()
        run_async(lambda: ensure_topics(settings.kafka_bootstrap_servers, partitions, 1))
        for proc in procs:
            proc.start({"INSTANCE_ID": f"bench-{run_id}-{proc.name}"})
        for proc in procs:
            proc.wait_healthy(timeout=90.0)
        say("services healthy")
        gateway, billing = procs[0].url, procs[1].url
        load_before = os.getloadavg()
        pids = {p.name: p.proc.pid for p in procs if p.proc is not None}
        load = run_async(lambda: run_load(gateway, billing, steps, secret, pids))
        load["load_average_before_after"] = [list(load_before), list(os.getloadavg())]
        at_goal = next((s for s in load["steps"] if s["rate_per_s"] == GOAL_RATE), None)
        p95 = at_goal["p95_ms"] if at_goal else None
        report = {
            "benchmark": "webhooks",
            "what": "POST /api/webhooks/razorpay: signature check -> durable on billing.webhooks -> 2xx",
            "started_at": started.isoformat(),
            "run_id": run_id,
            "settings": {**vars(args), "topic_prefix": prefix, "kafka_partitions": partitions},
            "machine": machine_info(),
            "git": git_info(),
            **load,
            "goals": {
                f"p95 <= {GOAL_P95_MS:g} ms at {GOAL_RATE:g}/s": {
                    "value_ms": p95,
                    "pass": p95 is not None
                    and p95 <= GOAL_P95_MS
                    and at_goal is not None
                    and set(at_goal["statuses"]) == {"200"},
                }
            },
        }
        path = write_report(report, Path(args.output_dir), "webhooks")
        for goal, verdict in report["goals"].items():
            print(f"goal {goal}: {'PASS' if verdict['pass'] else 'FAIL'} ({verdict['value_ms']} ms)")
        print(f"billing applied {load['applied_by_billing']}/{load['sent']} deliveries")
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
