"""The exactly-once consumer's fast path against PostgreSQL: one statement locks the batch's
stored offsets and records its new message ids, the handlers run, and one statement writes the
events they put (Outbox.defer) together with the next offsets."""

from __future__ import annotations

import uuid
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_common.consumer import Delivery, ExactlyOnceConsumer
from tj_common.envelope import Envelope
from tj_common.outbox import Outbox, OutboxMessage
from tj_trades.models import metadata

outbox_table = metadata.tables["trades.outbox"]
offsets_table = metadata.tables["trades.consumed_offsets"]
processed_table = metadata.tables["trades.processed_messages"]


def record(topic: str, offset: int, envelope: Envelope, partition: int = 0) -> ConsumerRecord[Any, Any]:
    value = envelope.encode()
    return ConsumerRecord(topic, partition, offset, 0, 0, None, value, None, 0, len(value), ())


async def test_the_fast_path_skips_what_is_applied_and_writes_events_in_order(
    db: async_sessionmaker[AsyncSession],
) -> None:
    topic = f"test-consumer-{uuid.uuid4().hex[:8]}"
    events_topic = f"{topic}.events"
    outbox = Outbox(outbox_table)
    seen: list[Delivery] = []

    async def handler(session: AsyncSession, deliveries: list[Delivery]) -> None:
        seen.extend(deliveries)
        await outbox.put_many(
            session,
            [
                OutboxMessage(events_topic, Envelope(type="test.Done", payload={"offset": d.offset}))
                for d in deliveries
                if not d.duplicate
            ],
        )

    consumer = ExactlyOnceConsumer(
        name="test",
        bootstrap_servers="unused:9092",  # never started: only its batch path is used
        group_id="test",
        topics=[topic],
        sessionmaker=db,
        metadata=metadata,
        outbox=outbox,
        handlers={"test.Do": handler},
        tracer_provider=TracerProvider(),
    )
    user_id = uuid.uuid4()
    first, second, third = (Envelope(type="test.Do", user_id=user_id) for _ in range(3))
    other = Envelope(type="test.Do")  # no user: the id column takes NULL
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    batch = {
        # The same message twice (a producer's retry that landed twice): new once, first time.
        tp0: [record(topic, 0, first), record(topic, 1, second), record(topic, 2, first)],
        tp1: [record(topic, 7, other, partition=1)],
    }
    async with db() as session, session.begin():
        outcomes = await consumer._apply_fast(session, batch, consumer._start_spans(batch))
        assert outcomes == [(topic, "applied"), (topic, "applied"), (topic, "duplicate"), (topic, "applied")]
        assert [(d.partition, d.offset, d.envelope.id, d.duplicate) for d in seen] == [
            (0, 0, first.id, False),
            (0, 1, second.id, False),
            (0, 2, first.id, True),
            (1, 7, other.id, False),
        ]

        # Redelivered after a restart from an older position: what is below the stored offset is
        # skipped, the rest applied.
        seen.clear()
        again = {tp0: [record(topic, 1, second), record(topic, 2, first), record(topic, 3, third)]}
        outcomes = await consumer._apply_fast(session, again, consumer._start_spans(again))
        assert outcomes == [(topic, "applied")]
        assert [(d.offset, d.envelope.id, d.duplicate) for d in seen] == [(3, third.id, False)]

        stored_offsets = (
            await session.execute(
                select(offsets_table.c.partition, offsets_table.c.next_offset)
                .where(offsets_table.c.topic == topic)
                .order_by(offsets_table.c.partition)
            )
        ).all()
        assert [tuple(r) for r in stored_offsets] == [(0, 4), (1, 8)]
        processed = (
            await session.execute(
                select(processed_table.c.message_id, processed_table.c.user_id).where(processed_table.c.topic == topic)
            )
        ).all()
        assert sorted(((r.message_id, r.user_id) for r in processed), key=str) == sorted(
            [(first.id, user_id), (second.id, user_id), (third.id, user_id), (other.id, None)], key=str
        )
        events = (
            await session.execute(
                select(outbox_table).where(outbox_table.c.topic == events_topic).order_by(outbox_table.c.id)
            )
        ).all()
        # In the order the handlers put them, which is the order the relay publishes them in.
        assert [Envelope.decode(e.body).payload["offset"] for e in events] == [0, 1, 7, 3]
        assert all(e.message_type == "test.Done" and isinstance(e.headers, dict) for e in events)
        await session.rollback()
