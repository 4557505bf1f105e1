"""Deleted users, heard as they happen: a trigger on ``identity.users`` (migration gateway_0005)
sends ``NOTIFY identity_user_deleted, '<user id>'`` when the row goes, however it goes (an
operator's ``DELETE``, a script, a future endpoint), and every gateway replica ``LISTEN``s on one
connection of its own. A heard deletion drops the user from the replica's memory of users known
to exist (:data:`tj_gateway.identity.dependencies.KNOWN_USERS`), so the user's access tokens are
refused from the next request on, not when the memory lapses.

While the connection is down the memory is short again (``USER_CHECK_SECONDS``) and is cleared on
every connect and disconnect, since a deletion may have gone unheard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tj_common.kafka import cancel_task
from tj_gateway.identity.dependencies import KNOWN_USERS, RecentUsers

log = logging.getLogger(__name__)

CHANNEL = "identity_user_deleted"
KEEPALIVE_SECONDS = 15.0
FIRST_CONNECT_SECONDS = 5.0


class DeletionListener:
    def __init__(self, engine: AsyncEngine, known: RecentUsers = KNOWN_USERS) -> None:
        self.engine = engine
        self.known = known
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Starts listening; waits briefly for the first connection, so a replica that is up
        hears deletions from its first request on (if the database is slow, it keeps trying in
        the background and the short memory applies meanwhile)."""
        self._task = asyncio.create_task(self._run(), name="gateway-user-deletions")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), FIRST_CONNECT_SECONDS)

    async def stop(self) -> None:
        await cancel_task(self._task)

    def heard(self, payload: str) -> None:
        try:
            user_id = uuid.UUID(payload)
        except ValueError:
            log.warning("unreadable user deletion notice", extra={"fields": {"payload": payload[:100]}})
            return
        self.known.forget(user_id)
        log.info("user deleted: tokens refused from now on", extra={"fields": {"user_id": str(user_id)}})

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("user deletion listener lost", extra={"fields": {"error": repr(exc)[:300]}})
            finally:
                self.connected.clear()
                self.known.listen(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen(self) -> None:
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection  # asyncpg.Connection
            lost = asyncio.Event()

            def on_notify(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
                self.heard(payload)

            try:
                driver.add_termination_listener(lambda _connection: lost.set())
                await driver.add_listener(CHANNEL, on_notify)
                self.known.listen(True)
                self.connected.set()
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        await asyncio.wait_for(driver.execute("SELECT 1"), KEEPALIVE_SECONDS)
            finally:
                # Never back into the pool with a LISTEN on it.
                with contextlib.suppress(Exception):
                    await connection.invalidate()
