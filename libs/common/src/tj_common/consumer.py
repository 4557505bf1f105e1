"""The exactly-once consumer: a batch of messages of one partition is applied in one PostgreSQL
transaction together with the partition's next offset and the message ids, and the consumer seeks
to the stored offset on every partition assignment (aiokafka's local-state consumer pattern).

A message whose handler keeps failing is dead-lettered through the outbox (so the dead letter is
written exactly once, in the same transaction as the offset that skips it) and never blocks its
partition.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import MetaData, Table, and_, delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_common.envelope import Envelope
from tj_common.kafka import stop_consumer
from tj_common.metrics import CONSUMED_MESSAGES, CONSUMER_LAG, DEAD_LETTERS
from tj_common.outbox import Outbox
from tj_common.telemetry import extract_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What a handler knows about the message it applies."""

    topic: str
    partition: int
    offset: int
    envelope: Envelope
    duplicate: bool = False


Handler = Callable[[AsyncSession, Delivery], Awaitable[None]]


class PoisonMessage(Exception):
    """Raised by a handler for a message that can never be applied."""


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: ExactlyOnceConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # State and offset are committed together with every batch: nothing to save here.
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.owner.seek_to_stored(list(assigned))


class ExactlyOnceConsumer:
    def __init__(
        self,
        *,
        name: str,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        sessionmaker: async_sessionmaker[AsyncSession],
        metadata: MetaData,
        outbox: Outbox,
        handlers: dict[str, Handler],
        tracer_provider: TracerProvider,
        on_commit: Callable[[], None] = lambda: None,
        max_attempts: int = 3,
        retry_backoff: float = 0.2,
        batch_size: int = 500,
        dedup_retention_hours: int = 168,
    ) -> None:
        self.name = name
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topics = list(topics)
        self.sessionmaker = sessionmaker
        self.offsets: Table = metadata.tables[f"{metadata.schema}.consumed_offsets"]
        self.processed: Table = metadata.tables[f"{metadata.schema}.processed_messages"]
        self.outbox = outbox
        self.handlers = handlers
        self.tracer = tracer_provider.get_tracer("tj_common.consumer")
        self.on_commit = on_commit
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.batch_size = batch_size
        self.dedup_retention_hours = dedup_retention_hours
        self._next_prune = 0.0
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.assigned: set[TopicPartition] = set()
        self.positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.group_id}-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.batch_size,
            fetch_max_wait_ms=50,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
        )
        self.consumer.subscribe(self.topics, listener=_SeekToStored(self))
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: S110 - shutting down
                pass
        if self.consumer:
            await stop_consumer(self.consumer)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        assert self.consumer is not None
        self.assigned = set(partitions)
        if not partitions:
            return
        async with self.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(self.offsets.c.topic, self.offsets.c.partition, self.offsets.c.next_offset).where(
                        tuple_(self.offsets.c.topic, self.offsets.c.partition).in_(
                            [(tp.topic, tp.partition) for tp in partitions]
                        )
                    )
                )
            ).all()
        stored = {TopicPartition(r.topic, r.partition): r.next_offset for r in rows}
        for tp in partitions:
            self.positions.pop(tp, None)
            if tp in stored:
                self.consumer.seek(tp, stored[tp])
            else:
                await self.consumer.seek_to_beginning(tp)
        log.info("partitions assigned", extra={"fields": {"consumer": self.name, "stored": len(stored)}})

    async def _run(self) -> None:
        assert self.consumer is not None
        while True:
            try:
                batches = await self.consumer.getmany(timeout_ms=500, max_records=self.batch_size)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fetch failed")
                await asyncio.sleep(1.0)
                continue
            for tp, records in batches.items():
                if records:
                    await self._apply_with_recovery(tp, records)
            self._update_lag()
            await self._prune_processed()

    async def _prune_processed(self) -> None:
        """Forget message ids older than the replay window (DESIGN §4: pruned by age)."""
        now = asyncio.get_running_loop().time()
        if now < self._next_prune:
            return
        self._next_prune = now + 600
        try:
            async with self.sessionmaker() as session, session.begin():
                await session.execute(
                    delete(self.processed).where(
                        self.processed.c.processed_at < func.now() - timedelta(hours=self.dedup_retention_hours)
                    )
                )
        except Exception:
            log.exception("pruning processed message ids failed")

    async def _apply_with_recovery(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        assert self.consumer is not None
        delay = 0.5
        while True:
            try:
                await self.apply_batch(tp, records)
                self.positions[tp] = records[-1].offset + 1
                self.on_commit()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                # The transaction rolled back as a whole (e.g. the database went away): nothing was
                # applied, so the same records are tried again; the partition waits, in order.
                log.exception(
                    "batch failed; retrying", extra={"fields": {"topic": tp.topic, "partition": tp.partition}}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                if tp not in self.consumer.assignment():
                    return

    async def apply_batch(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        """Apply records of one partition in one transaction. First optimistically, without a
        savepoint per message; if any message fails, the transaction is rolled back and the batch
        is applied again with each message isolated, retried and, if it keeps failing,
        dead-lettered."""
        try:
            outcomes = await self._apply_batch(tp, records, careful=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            outcomes = await self._apply_batch(tp, records, careful=True)
        for outcome in outcomes:
            CONSUMED_MESSAGES.labels(tp.topic, outcome).inc()
            if outcome == "dead_lettered":
                DEAD_LETTERS.labels(tp.topic).inc()

    async def _apply_batch(self, tp: TopicPartition, records: list[ConsumerRecord], *, careful: bool) -> list[str]:
        outcomes: list[str] = []
        async with self.sessionmaker() as session, session.begin():
            stored = (
                await session.execute(
                    select(self.offsets.c.next_offset)
                    .where(and_(self.offsets.c.topic == tp.topic, self.offsets.c.partition == tp.partition))
                    .with_for_update()
                )
            ).scalar_one_or_none()
            for record in records:
                if stored is not None and record.offset < stored:
                    continue  # applied before a rebalance or restart; its effects are committed
                outcomes.append(await self._apply_one(session, record, careful=careful))
            next_offset = records[-1].offset + 1
            if stored is None or next_offset > stored:
                stmt = pg_insert(self.offsets).values(topic=tp.topic, partition=tp.partition, next_offset=next_offset)
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[self.offsets.c.topic, self.offsets.c.partition],
                        set_={"next_offset": next_offset, "updated_at": stmt.excluded.updated_at},
                    )
                )
        return outcomes

    async def _apply_one(self, session: AsyncSession, record: ConsumerRecord, *, careful: bool) -> str:
        parent = extract_context(dict(record.headers or ()))
        with self.tracer.start_as_current_span(
            f"{record.topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
                "messaging.consumer.group.name": self.group_id,
            },
        ) as span:
            if not careful:
                return await self._handle(session, record, span)
            error: BaseException | None = None
            envelope: Envelope | None = None
            for attempt in range(1, self.max_attempts + 1):
                try:
                    async with session.begin_nested():
                        return await self._handle(session, record, span)
                except Exception as exc:
                    error = exc
                    if attempt < self.max_attempts:
                        await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))
            assert error is not None
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
            try:
                envelope = Envelope.decode(record.value)
            except ValueError:
                envelope = None
            await self._dead_letter(session, record, envelope, error)
            return "dead_lettered"

    async def _handle(self, session: AsyncSession, record: ConsumerRecord, span: Any) -> str:
        envelope = Envelope.decode(record.value)
        span.set_attribute("messaging.message.id", str(envelope.id))
        span.set_attribute("tj.message.type", envelope.type)
        new = await self._mark_processed(session, record, envelope, "applied")
        handler = self.handlers.get(envelope.type)
        if handler is None:
            raise PoisonMessage(f"no handler for message type {envelope.type!r}")
        await handler(session, Delivery(record.topic, record.partition, record.offset, envelope, not new))
        return "applied" if new else "duplicate"

    async def _mark_processed(
        self, session: AsyncSession, record: ConsumerRecord, envelope: Envelope, outcome: str
    ) -> bool:
        """True when the message is new. A dead-lettered message that an operator redrives
        counts as new: it was never applied."""
        insert = pg_insert(self.processed).values(
            message_id=envelope.id,
            user_id=envelope.user_id,
            topic=record.topic,
            message_type=envelope.type,
            outcome=outcome,
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[self.processed.c.message_id],
            set_={"outcome": insert.excluded.outcome, "error": None, "processed_at": func.now()},
            where=self.processed.c.outcome == "dead_lettered",
        ).returning(self.processed.c.message_id)
        return (await session.execute(stmt)).first() is not None

    async def _dead_letter(
        self, session: AsyncSession, record: ConsumerRecord, envelope: Envelope | None, error: BaseException
    ) -> None:
        dlq_topic = f"{record.topic}.dlq"
        reason = f"{type(error).__name__}: {error}"[:2000]
        dead = Envelope(
            id=envelope.id if envelope else uuid.uuid4(),
            type=envelope.type if envelope else "unparseable",
            user_id=envelope.user_id if envelope else None,
        )
        async with session.begin_nested():
            await self.outbox.put(
                session,
                dlq_topic,
                dead,
                key=record.key,
                body=record.value,
                extra_headers={
                    "dlq-error": reason,
                    "dlq-original-topic": record.topic,
                    "dlq-original-partition": str(record.partition),
                    "dlq-original-offset": str(record.offset),
                    "dlq-attempts": str(self.max_attempts),
                },
            )
            if envelope is not None:
                stmt = pg_insert(self.processed).values(
                    message_id=envelope.id,
                    user_id=envelope.user_id,
                    topic=record.topic,
                    message_type=envelope.type,
                    outcome="dead_lettered",
                    error=reason,
                )
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[self.processed.c.message_id],
                        set_={"outcome": "dead_lettered", "error": reason},
                    )
                )
        log.warning(
            "message dead-lettered",
            extra={
                "fields": {
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "error": reason,
                    "trace": "".join(traceback.format_exception_only(error)).strip()[:500],
                }
            },
        )

    def _update_lag(self) -> None:
        if self.consumer is None:
            return
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            position = self.positions.get(tp)
            if highwater is None or position is None:
                continue
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(highwater - position, 0))
