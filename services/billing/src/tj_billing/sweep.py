"""The periodic sweep: users whose paid period (after a cancellation) or dunning grace has ended
fall back to Free, and an EntitlementsChanged says so. Replicas share the work with
``FOR UPDATE SKIP LOCKED``; the consumer takes the same row lock, so versions never race."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from tj_billing import repository
from tj_billing.handlers import Billing
from tj_common.kafka import cancel_task
from tj_common.runtime import Runtime

log = logging.getLogger(__name__)


class ExpirySweep:
    def __init__(self, runtime: Runtime, billing: Billing, interval: float) -> None:
        self.runtime = runtime
        self.billing = billing
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="billing-expiry-sweep")

    async def stop(self) -> None:
        await cancel_task(self._task)

    async def run_once(self, now: datetime | None = None) -> int:
        """Re-evaluates every user whose plan ran out by ``now``; the number of events written."""
        now = now or datetime.now(UTC)
        written = 0
        while True:
            async with self.runtime.sessionmaker() as session, session.begin():
                users = await repository.users_whose_plan_ran_out(session, now)
                if not users:
                    break
                messages = await self.billing.refresh_plans(session, users, now=now)
                await self.runtime.outbox.put_many(session, messages)
            written += len(messages)
            self.runtime.relay.notify()
            if not messages:
                break  # rows locked elsewhere or not yet changed: the next round sees them
        return written

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("billing expiry sweep failed; retrying next round")
            await asyncio.sleep(self.interval)
