"""Operator tools for dead letters: list what is on a ``<topic>.dlq`` and redrive it to the
topic it came from. Redriven messages keep their envelope id, so a message that was applied in
the meantime is not applied twice, and one that was dead-lettered is applied now."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tj_common.kafka import stop_consumer


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    error: str
    original_topic: str
    size: int


def _headers(record: object) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (getattr(record, "headers", None) or ())}


async def list_dead_letters(bootstrap: str, dlq_topic: str, limit: int = 100) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        if dlq_topic not in await consumer.topics():
            return []
        # Without a group, subscribing assigns every partition of the topic.
        consumer.subscribe([dlq_topic])
        for _ in range(100):
            if consumer.assignment():
                break
            await asyncio.sleep(0.05)
        partitions = sorted(consumer.assignment())
        if not partitions:
            return []
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[DeadLetter] = []
        while len(found) < limit:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                break
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    h = _headers(r)
                    found.append(
                        DeadLetter(
                            partition=tp.partition,
                            offset=r.offset,
                            key=r.key,
                            error=h.get("dlq-error", ""),
                            original_topic=h.get("dlq-original-topic", ""),
                            size=len(r.value or b""),
                        )
                    )
        return found[:limit]
    finally:
        await stop_consumer(consumer)


async def redrive(bootstrap: str, dlq_topic: str, group_id: str = "tj-ops-redrive") -> int:
    """Republish the dead letters present now and not redriven before (the group's committed
    offset says which). Letters that fail again land behind the snapshot and wait for the next
    redrive, so this never loops."""
    consumer = AIOKafkaConsumer(
        dlq_topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await consumer.start()
    await producer.start()
    moved = 0
    try:
        for _ in range(200):
            if consumer.assignment():
                break
            await asyncio.sleep(0.05)
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        while True:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                return moved
            batch = await consumer.getmany(timeout_ms=1000)
            done: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                for r in records:
                    if r.offset >= ends[tp]:
                        consumer.seek(tp, ends[tp])
                        break
                    h = _headers(r)
                    original = h.get("dlq-original-topic") or dlq_topic.removesuffix(".dlq")
                    keep = [(k, v) for k, v in (r.headers or ()) if not k.startswith("dlq-")]
                    keep.append(("dlq-redriven-from", f"{r.partition}:{r.offset}".encode()))
                    await producer.send_and_wait(original, r.value, key=r.key, headers=keep)
                    done[tp] = r.offset + 1
                    moved += 1
            if done:
                await consumer.commit(done)
    finally:
        await producer.stop()
        await stop_consumer(consumer)
