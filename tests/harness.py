"""Test harness: finds or starts the real infrastructure, and runs services as real processes
(or in-process, where a test needs their spans).

Infrastructure, in order of preference:
1. URLs already set in the environment (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL, S3_ENDPOINT_URL and
   <SERVICE>_DATABASE_URL): used as they are;
2. a Docker engine: testcontainers;
3. otherwise the native runner, ``deploy/local/infra.sh up`` (idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("gateway", "trades", "imports", "billing")
LOG_DIR = ROOT / ".local" / "logs" / "test-services"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker_engine_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def infra_env_given() -> bool:
    return bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("REDIS_URL"))


def start_native_infra() -> None:
    env = {**os.environ, "TJ_PG_FAST": os.environ.get("TJ_PG_FAST", "1")}
    # A run with its own test database (parallel runs on one machine) gets it created.
    test_db = os.environ.get("TJ_TEST_DATABASE")
    if test_db and test_db != "trading_journal_test":
        env["TJ_EXTRA_DATABASES"] = f"{env.get('TJ_EXTRA_DATABASES', '')} {test_db}".strip()
    result = subprocess.run(["bash", str(ROOT / "deploy/local/infra.sh"), "up"], env=env, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError("deploy/local/infra.sh up failed; see its output above")


@contextlib.contextmanager
def testcontainers_infra() -> Iterator[dict[str, str]]:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    init_sql = ROOT / "deploy/docker/postgres-init.sql"
    postgres = PostgresContainer("postgres:15", username="postgres", password="postgres", dbname="postgres")
    postgres.with_volume_mapping(str(init_sql), "/docker-entrypoint-initdb.d/10-init.sql")
    kafka = KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft()
    redis = RedisContainer("redis:7")
    s3 = (
        DockerContainer("andrewgaul/s3proxy:latest")
        .with_env("S3PROXY_AUTHORIZATION", "aws-v2-or-v4")
        .with_env("S3PROXY_IDENTITY", "tj-local-access")
        .with_env("S3PROXY_CREDENTIAL", "tj-local-secret")
        .with_exposed_ports(80)
    )
    with postgres, kafka, redis, s3:
        wait_for_logs(s3, "Started", timeout=60)
        pg_host, pg_port = postgres.get_container_host_ip(), postgres.get_exposed_port(5432)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
            "REDIS_URL": f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
            "S3_ENDPOINT_URL": f"http://{s3.get_container_host_ip()}:{s3.get_exposed_port(80)}",
        }
        test_db = os.environ.get("TJ_TEST_DATABASE", "trading_journal_test")
        for service, role in (
            ("gateway", "gateway"),
            ("trades", "trades"),
            ("imports", "imports"),
            ("billing", "billing"),
        ):
            env[f"{service.upper()}_DATABASE_URL"] = (
                f"postgresql+asyncpg://{role}:{role}_local@{pg_host}:{pg_port}/{test_db}"
            )
        yield env


# Log lines a failed test shows from the services (tests/conftest: the report's own section).
_NOTEWORTHY = ('"level": "warning"', '"level": "error"', '"level": "critical"', "not answered within the deadline")


def service_log_excerpt(since: float, until: float, limit: int = 60) -> str:
    """The services' warnings (and unanswered commands) logged between ``since`` and ``until``
    (epoch seconds), oldest first: what a failed test tells about the processes it talked to."""
    lines: list[tuple[str, str]] = []
    start = datetime.fromtimestamp(since, UTC).isoformat()
    end = datetime.fromtimestamp(until, UTC).isoformat()
    for path in sorted(LOG_DIR.glob("*.log")) if LOG_DIR.exists() else ():
        if path.stat().st_mtime < since:
            continue
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                stamp = line[8:40] if line.startswith('{"ts": "') else ""
                if start <= stamp <= end and any(mark in line for mark in _NOTEWORTHY):
                    lines.append((stamp, f"{path.stem}: {line.strip()[:400]}"))
    lines.sort()
    shown = [text for _, text in lines[-limit:]]
    if len(lines) > limit:
        shown.insert(0, f"... {len(lines) - limit} earlier lines left out")
    return "\n".join(shown)


@dataclass
class ServiceProcess:
    """One service as a real OS process (``python -m tj_<name>.main``)."""

    name: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{self.name}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/api/health" if self.name == "gateway" else f"{self.url}/health"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, **self.env, "PORT": str(self.port), **(extra_env or {})}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"tj_{self.name}.main"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )

    def wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log: {self.log_path}")
            try:
                response = httpx.get(self.health_url, timeout=2.0)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not healthy after {timeout}s: {last}; log: {self.log_path}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@dataclass
class RazorpayStandIn:
    """The local Razorpay stand-in (deploy/razorpay/standin.py) as a real process."""

    port: int
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = (LOG_DIR / f"razorpay-standin-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.razorpay.standin", "--port", str(self.port)],
            env={**os.environ, **self.env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_standin/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the Razorpay stand-in did not start")

    def faults(self, mode: str, count: int | None = None, hang_seconds: float = 30.0) -> None:
        """Make the next ``count`` API calls (all, if None) answer 500 (``error``) or hang first."""
        body = {"mode": mode, "count": count, "hang_seconds": hang_seconds}
        httpx.post(f"{self.url}/_standin/faults", json=body, timeout=5.0).raise_for_status()

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = httpx.get(f"{self.url}/_standin/stats", timeout=5.0).json()
        return stats

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def service_env(infra_env: dict[str, str], ports: dict[str, int]) -> dict[str, str]:
    return {
        **infra_env,
        "ENVIRONMENT": "test",
        "KAFKA_TOPIC_PREFIX": os.environ["KAFKA_TOPIC_PREFIX"],
        "TRADES_QUERY_URL": f"http://127.0.0.1:{ports['trades']}",
        "IMPORTS_QUERY_URL": f"http://127.0.0.1:{ports['imports']}",
        "BILLING_QUERY_URL": f"http://127.0.0.1:{ports['billing']}",
        # Longer than production's 2 s: on a slow, shared CI machine a 202 is not what a test is about.
        "COMMAND_REPLY_TIMEOUT": os.environ.get("COMMAND_REPLY_TIMEOUT", "5.0"),
        "LOG_LEVEL": "INFO",
        # Every test signs up and logs in from 127.0.0.1: per-IP limits would trip across tests.
        # (tests/test_ratelimits.py runs a gateway of its own with tight limits.)
        "RATE_LIMIT_SIGNUP_PER_IP": "100000/1h",
        "RATE_LIMIT_LOGIN_PER_IP": "100000/1m",
        "RATE_LIMIT_PASSWORD_RESET": "1000/1h",
    }


# The plan of a test user unless the test is about plans: no limit gets in the way of a test that
# creates several accounts or records many executions (API access stays off: tests of API keys
# give it with a plan of their own).
UNLIMITED = "unlimited"


async def set_plan(
    user_id: str | uuid.UUID,
    plan_id: str = UNLIMITED,
    limits: dict[str, Any] | None = None,
    version: int = -1,
) -> None:
    """Puts the user's plan into the gateways' entitlement cache (Redis), as if billing had said
    so. ``limits``: fields of ``Entitlements`` (default: unlimited accounts, executions and
    history, 10 GiB of attachments, no API access). Version -1 yields to any real billing event."""
    import redis.asyncio as aioredis

    from tj_common.contracts.billing import Entitlements
    from tj_gateway.identity.entitlements import PlanState, put_plan
    from tj_gateway.settings import Settings

    fields = limits if limits is not None else UNLIMITED_LIMITS
    state = PlanState(
        plan_id=plan_id,
        plan_name=plan_id.split("_")[0].title(),
        status="active",
        entitlements=Entitlements(**fields),
        version=version,
    )
    settings = Settings()
    redis = aioredis.from_url(settings.redis_url)
    try:
        await put_plan(redis, settings, uuid.UUID(str(user_id)), state)
    finally:
        await redis.aclose()


UNLIMITED_LIMITS: dict[str, Any] = {
    "max_accounts": None,
    "executions_per_month": None,
    "imports_allowed": True,
    "api_access": False,
    "attachment_storage_mb": 10240,
    "history_days": None,
}


async def signup(
    client: httpx.AsyncClient, email: str | None = None, *, plan: str | None = UNLIMITED
) -> dict[str, Any]:
    """A new user and their tokens. ``plan``: the unlimited test plan by default; None leaves
    the user on the free plan (whatever billing says), for tests about plans."""
    email = email or f"trader-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/api/v1/auth/signup", json={"email": email, "password": "a-long-password-1"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    if plan is not None:
        await set_plan(body["user"]["id"], plan)
    return body


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def execution(
    symbol: str = "RELIANCE", side: str = "buy", quantity: str = "10", price: str = "2950.50"
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "price": price,
        "executed_at": "2026-06-05T09:16:02+05:30",
    }


async def eventually(check: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll an async ``check`` until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    result = None
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
