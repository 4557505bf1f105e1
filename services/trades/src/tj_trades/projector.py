"""The background projection refresher in a process of its own (``python -m tj_trades.projector``).

Refreshing the projection is CPU-bound Python (the charges and round-trip engines). Run in the
service process, it held the interpreter lock against the consumer: 100,000 fills recorded as
RecordExecutions went in at ~3,500/s with the refresher running beside the consumer, ~7,500/s
without. In a process of its own it gets the other core, at a lower scheduling priority
(``PROJECTION_NICE``), so commands are applied first and the projection uses what is left.

The trades service starts it as its child (``PROJECTION_WORKER=process``, the default) and starts
it again should it die; it ends with its parent, even a killed one (Linux parent-death signal,
and a check of the parent's pid). With ``PROJECTION_WORKER=off`` a deployment runs it as a
separate container instead; ``inline`` keeps the refresher in the service process.

Reads never wait for it: a query refreshes the user's dirty groups itself before reading
(tj_trades.projection.refresh), and both take the user's advisory lock, so they never overlap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import tj_trades.analytics  # noqa: F401 - store_snapshot imports it on first use: ~2 s of the first refresh
from tj_common import cpu
from tj_common.db import make_engine, make_sessionmaker
from tj_common.runtime import settle_heap
from tj_common.telemetry import configure_logging
from tj_trades import _native, projection
from tj_trades.projection import Refresher
from tj_trades.settings import Settings
from tj_trades.summary import store_snapshots

log = logging.getLogger(__name__)

PARENT_ENV = "TJ_PROJECTOR_PARENT"  # the pid of the service that started this child


def _die_with_parent(parent: int) -> None:
    """SIGTERM when the parent goes, however it goes (Linux); a parent already gone: exit now."""
    cpu.set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:
        raise SystemExit(0)


async def run(settings: Settings, parent: int | None = None) -> None:
    """Refresh dirty projections until SIGTERM/SIGINT (or, for a child, until the parent is gone)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    projection.FORK_ROWS = settings.projection_fork_rows
    engine = make_engine(settings, pool_size=2)
    refresher = Refresher(
        make_sessionmaker(engine),
        after=store_snapshots,
        user_interval=settings.projection_user_interval,
        listen=True,
    )
    await refresher.start()
    log.info(
        "projection refresher started",
        extra={"fields": {"pid": os.getpid(), "parent": parent, "engines": _native.reason}},
    )
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2.0)
            if parent is not None and os.getppid() != parent:
                log.warning("projection refresher's parent is gone; stopping")
                break
    finally:
        await refresher.stop()
        await engine.dispose()


def main() -> None:
    settings = Settings()
    configure_logging(settings)
    parent = int(os.environ[PARENT_ENV]) if os.environ.get(PARENT_ENV) else None
    if parent is not None:
        _die_with_parent(parent)
    if settings.projection_nice:
        os.nice(settings.projection_nice)
    settle_heap()  # as a service process does: full collections skip what start-up made
    asyncio.run(run(settings, parent))


class ProjectorChild:
    """The service's projector process: started with the service, restarted if it dies, stopped
    (SIGTERM, then SIGKILL after ``grace`` seconds) with the service."""

    def __init__(self, grace: float = 10.0, spawn: Callable[[], subprocess.Popen[bytes]] | None = None) -> None:
        self.grace = grace
        self._spawn = spawn or self._default_spawn
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._watch: asyncio.Task[None] | None = None

    @staticmethod
    def _default_spawn() -> subprocess.Popen[bytes]:
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        # Its logs go where the service's go (stdout), as JSON lines tagged with the service name.
        return subprocess.Popen([sys.executable, "-m", "tj_trades.projector"], env=env)

    async def start(self) -> None:
        self.process = self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name="projector-supervisor")

    async def _supervise(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            if self.process is not None and self.process.poll() is not None:
                code = self.process.returncode
                log.error("projection refresher exited; starting it again", extra={"fields": {"code": code}})
                self.restarts += 1
                self.process = self._spawn()
                delay = min(delay * 2, 30.0)
            else:
                delay = 1.0

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, self.grace)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


if __name__ == "__main__":
    main()
