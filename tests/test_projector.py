"""The projection refresher in its own process (tj_trades.projector): it keeps the projection
current with no read asking, runs below the service's priority, and ends with its service."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.harness import ServiceProcess, auth, signup
from tj_trades.projector import ProjectorChild


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def projector_of(service: ServiceProcess) -> int:
    assert service.proc is not None
    found = [c for c in children(service.proc.pid) if b"tj_trades.projector" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(found) == 1, found
    return found[0]


async def test_the_projection_is_refreshed_in_the_background(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess], db: async_sessionmaker[AsyncSession]
) -> None:
    user = await signup(client)
    fills = [
        {"symbol": "SBIN", "side": side, "quantity": "5", "price": price, "executed_at": at, "product": "MIS"}
        for side, price, at in (
            ("buy", "800", "2026-06-05T09:20:00+05:30"),
            ("sell", "810", "2026-06-05T10:20:00+05:30"),
        )
    ]
    response = await client.post("/api/v1/executions", json={"executions": fills}, headers=auth(user["access_token"]))
    assert response.status_code == 201, response.text
    account_id = uuid.UUID(response.json()["account_id"])
    # No read of this user's trades or analytics: only the background refresher can store them.
    deadline = time.monotonic() + 60
    while True:
        async with db() as session:
            dirty = await session.scalar(
                text("SELECT count(*) FROM trades.projection_dirty WHERE account_id = :a"), {"a": account_id}
            )
            stored = await session.scalar(
                text("SELECT count(*) FROM trades.trade_rows WHERE account_id = :a AND status = 'closed'"),
                {"a": account_id},
            )
        if not dirty and stored == 1:
            break
        assert time.monotonic() < deadline, f"projection not refreshed: {dirty} dirty groups, {stored} trades"
        await asyncio.sleep(0.5)


async def test_the_projector_runs_below_the_service_and_dies_with_it(services: dict[str, ServiceProcess]) -> None:
    trades = services["trades"]
    assert trades.proc is not None
    child = projector_of(trades)
    assert os.getpriority(os.PRIO_PROCESS, child) - os.getpriority(os.PRIO_PROCESS, trades.proc.pid) == 10
    trades.kill()  # SIGKILL: no chance to stop its child; the parent-death signal does
    deadline = time.monotonic() + 20
    while alive(child):
        assert time.monotonic() < deadline, "the projector outlived its killed service"
        await asyncio.sleep(0.2)
    trades.start()
    trades.wait_healthy()
    deadline = time.monotonic() + 60
    while True:  # a new service, a new child
        try:
            if projector_of(trades) != child:
                break
        except AssertionError:
            pass
        assert time.monotonic() < deadline, "the restarted service started no projector"
        await asyncio.sleep(0.5)


async def test_a_projector_that_exits_is_started_again_and_stopped_with_the_service() -> None:
    started: list[subprocess.Popen[bytes]] = []

    def spawn() -> subprocess.Popen[bytes]:
        # The first one exits at once; the next ones run until stopped.
        code = "import sys; sys.exit(3)" if not started else "import time; time.sleep(600)"
        started.append(subprocess.Popen([sys.executable, "-c", code]))
        return started[-1]

    child = ProjectorChild(grace=5.0, spawn=spawn)
    await child.start()
    deadline = time.monotonic() + 20
    while child.restarts < 1:
        assert time.monotonic() < deadline, "the exited projector was not started again"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)
    assert len(started) == 2, "a running projector was started again"
    running = started[-1]
    assert running.poll() is None
    await child.stop()
    assert running.poll() is not None
    assert started[0].returncode == 3
