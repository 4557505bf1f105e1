"""Reads ``billing.events`` into the entitlement store (Redis).

At-least-once: offsets are committed after the batch is applied. Applying is idempotent and
ordered by each user's ``version`` (older versions are ignored), so a replay is harmless and the
exactly-once machinery (a database of processed ids) is not needed for a cache.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from tj_common.contracts.billing import ENTITLEMENTS_CHANGED, EntitlementsChanged
from tj_common.envelope import Envelope
from tj_common.kafka import cancel_task, stop_consumer
from tj_common.settings import ServiceSettings
from tj_common.topics import BILLING_EVENTS
from tj_gateway.identity.entitlements import EntitlementStore

log = logging.getLogger(__name__)


class BillingEventsListener:
    def __init__(self, settings: ServiceSettings, store: EntitlementStore) -> None:
        self.settings = settings
        self.store = store
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        # Awaited after a user's new plan is stored (the read cache forgets that user's answers).
        self.on_change: list[Callable[[uuid.UUID], Awaitable[None]]] = []

    async def start(self) -> None:
        settings = self.settings
        self.consumer = AIOKafkaConsumer(
            BILLING_EVENTS.name,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=f"{settings.consumer_group}-entitlements",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            client_id=f"tj-gateway-entitlements-{settings.instance_id}",
        )
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name="gateway-billing-events")

    async def stop(self) -> None:
        await cancel_task(self._task)
        if self.consumer is not None:
            await stop_consumer(self.consumer)

    async def apply(self, raw: bytes | None) -> None:
        if not raw:
            return
        try:
            envelope = Envelope.decode(raw)
        except ValueError:
            log.warning("undecodable billing event skipped")
            return
        if envelope.type != ENTITLEMENTS_CHANGED:
            return
        try:
            event = EntitlementsChanged.model_validate(envelope.payload)
        except ValidationError:
            log.warning("bad EntitlementsChanged skipped", extra={"fields": {"message_id": str(envelope.id)}})
            return
        stored = await self.store.apply_change(event)
        if stored:
            for hook in self.on_change:
                await hook(event.user_id)
        log.info(
            "entitlements changed",
            extra={
                "fields": {
                    "user_id": str(event.user_id),
                    "plan": event.plan_id,
                    "version": event.version,
                    "applied": stored,
                }
            },
        )

    async def _run(self) -> None:
        assert self.consumer is not None
        while True:
            batches: dict[object, list[object]] = {}
            try:
                batches = await self.consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        await self.apply(record.value)  # type: ignore[attr-defined]
                if batches:
                    await self.consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Not committed: read the batch again after a pause (applying is idempotent).
                log.exception("billing events batch failed; retrying")
                for tp, records in batches.items():
                    if records:
                        self.consumer.seek(tp, records[0].offset)  # type: ignore[attr-defined]
                await asyncio.sleep(1.0)
