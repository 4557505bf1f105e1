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
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from sqlalchemy import MetaData, Table, delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_common.envelope import Envelope
from tj_common.kafka import cancel_task, stop_consumer
from tj_common.metrics import CONSUMED_MESSAGES, CONSUMER_LAG, DEAD_LETTERS
from tj_common.outbox import Outbox
from tj_common.telemetry import extract_context

log = logging.getLogger(__name__)

# A batch slower than this (to apply, or waiting in Kafka before it) is logged as a warning.
SLOW_BATCH_SECONDS = 1.0


@dataclass(frozen=True)
class Delivery:
    """What a handler knows about one message it applies."""

    topic: str
    partition: int
    offset: int
    envelope: Envelope
    duplicate: bool = False
    # The trace context of this message's consumer span: events it causes are written under it.
    context: Context | None = None


# A handler applies a run of consecutive messages of one type (often one message) inside the
# consumer's transaction; it does the work set-based where it can.
Handler = Callable[[AsyncSession, list[Delivery]], Awaitable[None]]
# Called in the dead-lettering transaction with the message and the reason it failed.
DeadLetterHook = Callable[[AsyncSession, Envelope, str], Awaitable[None]]


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
        fetch_bytes_per_partition: int = 1024 * 1024,
        dead_letter_hooks: Mapping[str, DeadLetterHook] | None = None,
    ) -> None:
        self.name = name
        self.dead_letter_hooks = dict(dead_letter_hooks or {})
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
        self.fetch_bytes_per_partition = fetch_bytes_per_partition
        self.dedup_retention_hours = dedup_retention_hours
        self._next_prune = 0.0
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.assigned: set[TopicPartition] = set()
        self.positions: dict[TopicPartition, int] = {}
        upsert_offsets = pg_insert(self.offsets)
        self._store_offsets_stmt = upsert_offsets.on_conflict_do_update(
            index_elements=[self.offsets.c.topic, self.offsets.c.partition],
            set_={"next_offset": upsert_offsets.excluded.next_offset, "updated_at": func.now()},
        )
        processed = pg_insert(self.processed)
        self._mark_processed_stmt = processed.on_conflict_do_update(
            index_elements=[self.processed.c.message_id],
            set_={"outcome": processed.excluded.outcome, "error": None, "processed_at": func.now()},
            where=self.processed.c.outcome == "dead_lettered",
        ).returning(self.processed.c.message_id, sort_by_parameter_order=True)
        schema = metadata.schema
        # The fast path's first statement: lock the batch's stored offsets and record the ids of
        # the messages at or past them, in one round trip (what the careful path does in two).
        self._lock_and_mark_stmt = text(
            f"WITH stored AS (SELECT topic, partition, next_offset FROM {schema}.consumed_offsets "  # noqa: S608
            "WHERE (topic, partition) IN "
            "(SELECT * FROM unnest(CAST(:tp_topics AS text[]), CAST(:tp_partitions AS int[]))) "
            "FOR UPDATE), "
            "incoming AS (SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:users AS uuid[]), CAST(:topics AS text[]), "
            "CAST(:partitions AS int[]), CAST(:offsets AS bigint[]), CAST(:types AS text[])) "
            "AS i(message_id, user_id, topic, partition, record_offset, message_type)), "
            f"new AS (INSERT INTO {schema}.processed_messages (message_id, user_id, topic, message_type, outcome) "
            # One row per id: a message twice in the batch is new once (the second is a duplicate).
            "SELECT DISTINCT ON (i.message_id) i.message_id, i.user_id, i.topic, i.message_type, 'applied' "
            "FROM incoming i "
            "LEFT JOIN stored s ON (s.topic, s.partition) = (i.topic, i.partition) "
            "WHERE s.next_offset IS NULL OR i.record_offset >= s.next_offset "
            "ON CONFLICT (message_id) DO UPDATE SET outcome = excluded.outcome, error = NULL, processed_at = now() "
            f"WHERE {schema}.processed_messages.outcome = 'dead_lettered' RETURNING message_id) "
            "SELECT topic, partition, next_offset, NULL::uuid AS message_id FROM stored "
            "UNION ALL SELECT NULL, NULL, NULL, message_id FROM new"
        )
        # Its last: the events the handlers wrote (Outbox.defer) and the next offsets, together.
        self._outbox_and_offsets_stmt = text(
            f"WITH events AS ({outbox.insert_deferred_sql()}) "  # noqa: S608
            f"INSERT INTO {schema}.consumed_offsets (topic, partition, next_offset) "
            "SELECT * FROM unnest(CAST(:topics AS text[]), CAST(:partitions AS int[]), CAST(:next AS bigint[])) "
            "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()"
        )

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.group_id}-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.batch_size,
            max_partition_fetch_bytes=self.fetch_bytes_per_partition,
            fetch_max_bytes=max(52428800, 6 * self.fetch_bytes_per_partition),
            fetch_max_wait_ms=50,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
        )
        self.consumer.subscribe(self.topics, listener=_SeekToStored(self))
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        await cancel_task(self._task)
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
            batches = {tp: records for tp, records in batches.items() if records}
            if batches:
                await self._apply_with_recovery(batches)
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

    async def _apply_with_recovery(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self.consumer is not None
        delay = 0.5
        while batches:
            try:
                started = time.monotonic()
                await self.apply_batch(batches)
                for tp, records in batches.items():
                    self.positions[tp] = records[-1].offset + 1
                self.on_commit()
                self._warn_if_slow(batches, started)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                # The transaction rolled back as a whole (e.g. the database went away): nothing was
                # applied, so the same records are tried again; each partition waits, in order.
                log.exception("batch failed; retrying", extra={"fields": {"partitions": len(batches)}})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                assignment = self.consumer.assignment()
                batches = {tp: records for tp, records in batches.items() if tp in assignment}

    def _warn_if_slow(self, batches: dict[TopicPartition, list[ConsumerRecord]], started: float) -> None:
        """A batch that took long to apply, or whose messages waited long in Kafka, is logged: the
        writes behind it were answered 202 instead of 201."""
        now = time.monotonic()
        oldest = min(records[0].timestamp for records in batches.values())
        waited = max(time.time() - oldest / 1000 - (now - started), 0.0)
        if now - started > SLOW_BATCH_SECONDS or waited > SLOW_BATCH_SECONDS:
            log.warning(
                "slow batch",
                extra={
                    "fields": {
                        "consumer": self.name,
                        "records": sum(len(r) for r in batches.values()),
                        "partitions": len(batches),
                        "apply_seconds": round(now - started, 3),
                        "queued_seconds": round(waited, 3),
                    }
                },
            )

    async def apply_batch(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Apply the records of several partitions in one transaction with their offsets. First
        optimistically, set-based and without savepoints; if anything fails, the transaction is
        rolled back and the batch applied again with each message isolated in a savepoint,
        retried and, if it keeps failing, dead-lettered."""
        spans = self._start_spans(batches)
        try:
            try:
                outcomes = await self._apply(batches, spans, careful=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                outcomes = await self._apply(batches, spans, careful=True)
        finally:
            for span in spans.values():
                span.end()
        for (topic, outcome), count in outcomes.items():
            CONSUMED_MESSAGES.labels(topic, outcome).inc(count)
            if outcome == "dead_lettered":
                DEAD_LETTERS.labels(topic).inc(count)

    def _start_spans(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> dict[tuple[str, int, int], Span]:
        spans: dict[tuple[str, int, int], Span] = {}
        for tp, records in batches.items():
            for record in records:
                spans[(tp.topic, tp.partition, record.offset)] = self.tracer.start_span(
                    f"{record.topic} process",
                    context=extract_context(dict(record.headers or ())),
                    kind=SpanKind.CONSUMER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": record.topic,
                        "messaging.kafka.destination.partition": record.partition,
                        "messaging.kafka.message.offset": record.offset,
                        "messaging.consumer.group.name": self.group_id,
                    },
                )
        return spans

    async def _apply(
        self,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        spans: dict[tuple[str, int, int], Span],
        *,
        careful: bool,
    ) -> Counter[tuple[str, str]]:
        outcomes: Counter[tuple[str, str]] = Counter()
        async with self.sessionmaker() as session, session.begin():
            if not careful:
                for outcome in await self._apply_fast(session, batches, spans):
                    outcomes[outcome] += 1
                return outcomes
            stored_rows = (
                await session.execute(
                    select(self.offsets.c.topic, self.offsets.c.partition, self.offsets.c.next_offset)
                    .where(
                        tuple_(self.offsets.c.topic, self.offsets.c.partition).in_(
                            [(tp.topic, tp.partition) for tp in batches]
                        )
                    )
                    .with_for_update()
                )
            ).all()
            stored = {TopicPartition(r.topic, r.partition): r.next_offset for r in stored_rows}
            # Records applied before a rebalance or restart are skipped: their effects are committed.
            todo = [r for tp, records in batches.items() for r in records if tp not in stored or r.offset >= stored[tp]]
            for record in todo:
                span = spans[(record.topic, record.partition, record.offset)]
                outcomes[(record.topic, await self._apply_isolated(session, record, span))] += 1
            offsets = _next_offsets(batches, stored)
            if offsets:
                await session.execute(self._store_offsets_stmt, offsets)
        return outcomes

    async def _apply_fast(
        self,
        session: AsyncSession,
        batches: dict[TopicPartition, list[ConsumerRecord]],
        spans: dict[tuple[str, int, int], Span],
    ) -> list[tuple[str, str]]:
        """The batch in three kinds of statement: one that locks the stored offsets and records
        the new message ids, the handlers', and one that writes their events (Outbox.defer) with
        the next offsets. Anything failing fails the whole batch, for the careful path."""
        records = [r for rs in batches.values() for r in rs]
        envelopes = [Envelope.decode(r.value) for r in records]
        stored: dict[TopicPartition, int] = {}
        new_ids: set[uuid.UUID] = set()
        result = await session.execute(
            self._lock_and_mark_stmt,
            {
                "tp_topics": [tp.topic for tp in batches],
                "tp_partitions": [tp.partition for tp in batches],
                "ids": [e.id for e in envelopes],
                "users": [e.user_id for e in envelopes],
                "topics": [r.topic for r in records],
                "partitions": [r.partition for r in records],
                "offsets": [r.offset for r in records],
                "types": [e.type for e in envelopes],
            },
        )
        for topic, partition, next_offset, message_id in result.all():
            if message_id is None:
                stored[TopicPartition(topic, partition)] = next_offset
            else:
                new_ids.add(message_id)
        # Records applied before a rebalance or restart are skipped: their effects are committed.
        # The same message twice in one batch (a send that timed out for the producer but did
        # land, and its retry) is new once: its first occurrence.
        deliveries = []
        for r, e in zip(records, envelopes, strict=True):
            tp = TopicPartition(r.topic, r.partition)
            if tp in stored and r.offset < stored[tp]:
                continue
            new = e.id in new_ids
            new_ids.discard(e.id)
            deliveries.append(
                Delivery(
                    r.topic,
                    r.partition,
                    r.offset,
                    e,
                    duplicate=not new,
                    context=trace.set_span_in_context(spans[(r.topic, r.partition, r.offset)]),
                )
            )
        events = self.outbox.defer(session)
        if deliveries:
            # Consecutive messages of one type go to their handler together; order is kept.
            first = deliveries[0].context
            token = otel_context.attach(first) if first is not None else None
            try:
                for _, run in groupby(deliveries, key=lambda d: d.envelope.type):
                    batch = list(run)
                    await self._handler(batch[0].envelope.type)(session, batch)
            finally:
                if token is not None:
                    otel_context.detach(token)
        offsets = _next_offsets(batches, stored)
        if events or offsets:
            await session.execute(
                self._outbox_and_offsets_stmt,
                {
                    **self.outbox.deferred_params(events),
                    "topics": [o["topic"] for o in offsets],
                    "partitions": [o["partition"] for o in offsets],
                    "next": [o["next_offset"] for o in offsets],
                },
            )
        return [(d.topic, "duplicate" if d.duplicate else "applied") for d in deliveries]

    def _handler(self, message_type: str) -> Handler:
        handler = self.handlers.get(message_type)
        if handler is None:
            raise PoisonMessage(f"no handler for message type {message_type!r}")
        return handler

    async def _apply_isolated(self, session: AsyncSession, record: ConsumerRecord, span: Span) -> str:
        error: BaseException | None = None
        context = trace.set_span_in_context(span)
        token = otel_context.attach(context)
        try:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    async with session.begin_nested():
                        envelope = Envelope.decode(record.value)
                        span.set_attribute("messaging.message.id", str(envelope.id))
                        new = bool(await self._mark_processed(session, [(record, envelope)]))
                        delivery = Delivery(record.topic, record.partition, record.offset, envelope, not new, context)
                        await self._handler(envelope.type)(session, [delivery])
                    return "applied" if new else "duplicate"
                except Exception as exc:
                    error = exc
                    if attempt < self.max_attempts:
                        await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))
            assert error is not None
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
            try:
                dead: Envelope | None = Envelope.decode(record.value)
            except ValueError:
                dead = None
            await self._dead_letter(session, record, dead, error)
            return "dead_lettered"
        finally:
            otel_context.detach(token)

    async def _mark_processed(
        self, session: AsyncSession, items: list[tuple[ConsumerRecord, Envelope]]
    ) -> set[uuid.UUID]:
        """The ids among ``items`` seen for the first time. A dead-lettered message that an
        operator redrives counts as new: it was never applied."""
        # Executed "many" style (insertmanyvalues): one round trip, and one compiled statement
        # whatever the batch size.
        rows = [
            {
                "message_id": envelope.id,
                "user_id": envelope.user_id,
                "topic": record.topic,
                "message_type": envelope.type,
                "outcome": "applied",
            }
            for record, envelope in items
        ]
        result = await session.execute(self._mark_processed_stmt, rows)
        return set(result.scalars().all())

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
            hook = self.dead_letter_hooks.get(envelope.type) if envelope is not None else None
            if hook is not None and envelope is not None:
                # The service's own record of the failure (e.g. an import that could not start is
                # failed, not left unknown), in the same transaction; never at the cost of the
                # dead letter itself.
                try:
                    async with session.begin_nested():
                        await hook(session, envelope, reason)
                except Exception:
                    log.exception("dead-letter hook failed", extra={"fields": {"message_type": envelope.type}})
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


def _next_offsets(
    batches: dict[TopicPartition, list[ConsumerRecord]], stored: Mapping[TopicPartition, int]
) -> list[dict[str, Any]]:
    """The next offset of each partition the batch moves forward."""
    return [
        {"topic": tp.topic, "partition": tp.partition, "next_offset": records[-1].offset + 1}
        for tp, records in batches.items()
        if tp not in stored or records[-1].offset + 1 > stored[tp]
    ]
