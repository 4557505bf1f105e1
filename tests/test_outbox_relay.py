"""The outbox relay against PostgreSQL: each pass is one statement that removes the rows the last
pass published and reads the oldest others; rows are removed only after Kafka acknowledged them,
so a failed publish sends them again, and leaving the lead removes what was published.

The broker here is a stand-in that records what it is given (the relay's database side is under
test); the whole flow through Kafka is tests/test_spine.py's and tests/test_crash_recovery.py's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tj_common.envelope import Envelope
from tj_common.outbox import Outbox, OutboxMessage, OutboxRelay
from tj_trades.models import metadata


class StandInBroker:
    """Records each publish; ``fail`` makes the acknowledgements fail (Kafka unreachable)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail = False

    async def publish(self, body: bytes, **kwargs: Any) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            future.set_exception(ConnectionError("Kafka unreachable"))
        else:
            self.sent.append(Envelope.decode(body).payload["n"])
            future.set_result(None)
        return future


@pytest.fixture
async def table(db: async_sessionmaker[AsyncSession]) -> AsyncIterator[Table]:
    """An outbox table of this test's own (a running trades service's relay never sees it)."""
    engine: AsyncEngine = db.kw["bind"]
    own = metadata.tables["trades.outbox"].to_metadata(MetaData(), name=f"outbox_test_{uuid.uuid4().hex[:8]}")
    own.primary_key.name = f"pk_{own.name}"  # constraint and index names are the schema's
    for index in own.indexes:
        index.name = f"ix_{own.name}_{index.name}"
    async with engine.begin() as conn:
        await conn.run_sync(own.create)
    try:
        yield own
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(own.drop)


async def put(db: async_sessionmaker[AsyncSession], table: Table, *names: str) -> None:
    async with db() as session, session.begin():
        await Outbox(table).put_many(
            session, [OutboxMessage("test.events", Envelope(type="test.Done", payload={"n": n})) for n in names]
        )


async def stored(db: async_sessionmaker[AsyncSession], table: Table) -> int:
    async with db() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_each_pass_removes_what_the_last_one_published(
    db: async_sessionmaker[AsyncSession], table: Table
) -> None:
    broker = StandInBroker()
    relay = OutboxRelay(engine=db.kw["bind"], table=table, broker=broker, batch_size=2)  # type: ignore[arg-type]
    await put(db, table, "a", "b", "c")

    assert await relay.backlog() == 3
    assert await relay.publish_pending() == 2
    assert broker.sent == ["a", "b"]
    assert await stored(db, table) == 3  # published; removed by the next pass
    assert await relay.backlog() == 1  # what is left to publish (tj_outbox_backlog)
    assert await relay.publish_pending() == 1
    assert broker.sent == ["a", "b", "c"]
    assert await stored(db, table) == 1
    await put(db, table, "d")
    assert await relay.publish_pending() == 1  # "c" removed, "d" read, in one statement
    assert await relay.publish_pending() == 0  # an idle pass removes what is left
    assert await stored(db, table) == 0
    assert broker.sent == ["a", "b", "c", "d"]  # in order, each once


async def test_rows_kafka_did_not_acknowledge_stay_to_be_sent_again(
    db: async_sessionmaker[AsyncSession], table: Table
) -> None:
    broker = StandInBroker()
    relay = OutboxRelay(engine=db.kw["bind"], table=table, broker=broker)  # type: ignore[arg-type]
    await put(db, table, "a")
    assert await relay.publish_pending() == 1
    await put(db, table, "b")
    broker.fail = True
    with pytest.raises(ConnectionError):
        await relay.publish_pending()  # "a" is removed all the same; "b" stays
    assert await stored(db, table) == 1
    broker.fail = False
    assert await relay.publish_pending() == 1
    assert broker.sent == ["a", "b"]


async def test_leaving_the_lead_removes_what_was_published(db: async_sessionmaker[AsyncSession], table: Table) -> None:
    broker = StandInBroker()
    relay = OutboxRelay(engine=db.kw["bind"], table=table, broker=broker, poll_interval=0.05)  # type: ignore[arg-type]
    await put(db, table, "a", "b")
    await relay.start()
    try:
        for _ in range(100):
            if broker.sent == ["a", "b"]:
                break
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
    assert broker.sent == ["a", "b"]
    assert await stored(db, table) == 0
