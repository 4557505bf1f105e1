"""The staging statements against PostgreSQL: a batch whose own rows share no key is staged without
ON CONFLICT (staging.STAGE_NEW_SQL), and still never stores a fill twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_trades import pgarrays, staging

NOW = datetime(2026, 6, 5, 12, 0, tzinfo=UTC)


def batch(*keys: tuple[str, str | None]) -> staging.Columns:
    """Checked rows with these (fingerprint, broker trade id) keys."""
    rows = [
        {
            "symbol": "RELIANCE",
            "side": "buy",
            "quantity": "1",
            "price": "100",
            "executed_at": "2026-06-05T04:00:00+00:00",
            "fingerprint": fingerprint,
            "line": n + 1,
            **({} if trade_id is None else {"broker_trade_id": trade_id}),
        }
        for n, (fingerprint, trade_id) in enumerate(keys)
    ]
    columns, rejected = staging.check_rows(rows, "INR", NOW)
    assert rejected == []
    return columns


class Import:
    def __init__(self) -> None:
        self.user_id, self.account_id, self.import_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def stage(self, session: AsyncSession, columns: staging.Columns) -> int:
        connection = await pgarrays.driver(session)
        status: str = await connection.execute(
            columns.stage_sql(),
            self.user_id,
            self.account_id,
            uuid.uuid4(),
            self.import_id,
            [self.import_id],
            *columns.params(),
        )
        return int(status.rsplit(" ", 1)[-1])

    async def stored(self, session: AsyncSession) -> list[tuple[str, str | None]]:
        connection = await pgarrays.driver(session)
        rows = await connection.fetch(
            "SELECT fingerprint, broker_trade_id FROM trades.executions WHERE import_id = $1 ORDER BY fingerprint",
            self.import_id,
        )
        return [(r["fingerprint"], r["broker_trade_id"]) for r in rows]


@pytest.fixture
async def one(db: async_sessionmaker[AsyncSession]) -> AsyncIterator[Import]:
    staged = Import()
    yield staged
    async with db() as session, session.begin():
        await staging.delete_rows(session, staged.import_id)


def test_keys_are_distinct_unless_two_rows_share_a_fingerprint_or_a_trade_id() -> None:
    assert batch(("h:a:0", None), ("h:b:0", None), ("t:1", "1")).keys_distinct()
    assert not batch(("h:a:0", None), ("h:a:0", None)).keys_distinct()
    assert not batch(("t:1", "1"), ("h:b:0", "1")).keys_distinct()


async def test_a_later_batch_skips_the_keys_an_earlier_one_staged(
    db: async_sessionmaker[AsyncSession], one: Import
) -> None:
    async with db() as session, session.begin():
        assert await one.stage(session, batch(("h:a:0", None), ("t:1", "1"))) == 2
    second = batch(("h:a:0", None), ("h:c:0", "1"), ("h:d:0", None))  # a fingerprint, then a trade id again
    assert second.keys_distinct()
    async with db() as session, session.begin():
        assert await one.stage(session, second) == 1
    # Keys repeated within the batch take STAGE_SQL, whose ON CONFLICT keeps the first.
    third = batch(("h:e:0", None), ("h:e:0", None), ("h:f:0", "2"), ("h:g:0", "2"))
    async with db() as session, session.begin():
        assert await one.stage(session, third) == 2
        assert await one.stored(session) == [
            ("h:a:0", None),
            ("h:d:0", None),
            ("h:e:0", None),
            ("h:f:0", "2"),
            ("t:1", "1"),
        ]


async def test_the_same_keys_staged_concurrently_are_refused_once_then_skipped(
    db: async_sessionmaker[AsyncSession], one: Import
) -> None:
    rows = batch(("h:a:0", None), ("t:1", "1"))
    async with db() as first, db() as second:
        await first.begin()
        assert await one.stage(first, rows) == 2
        await second.begin()
        racing = asyncio.ensure_future(one.stage(second, rows))
        await asyncio.sleep(0.3)
        assert not racing.done()  # waits on the first transaction's index entries
        await first.commit()
        with pytest.raises(asyncpg.exceptions.UniqueViolationError):
            await racing
        await second.rollback()
    # The consumer applies the refused batch again: now the rows are visible and skipped.
    async with db() as session, session.begin():
        assert await one.stage(session, rows) == 0
        assert await one.stored(session) == [("h:a:0", None), ("t:1", "1")]


def rows_read(plan: dict[str, Any]) -> int:
    """Rows that the plan's scans of trades.executions returned, over all their loops."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == "executions" else 0
    return int(own) + sum(rows_read(child) for child in plan.get("Plans", ()))


async def test_a_batch_reads_only_the_keys_it_stages_not_what_is_already_staged(
    db: async_sessionmaker[AsyncSession], one: Import
) -> None:
    for start in range(0, 20_000, 2_000):
        async with db() as session, session.begin():
            keys = [(f"h:{n}:0", f"T{n}") for n in range(start, start + 2_000)]
            assert await one.stage(session, batch(*keys)) == 2_000
    later = Import()
    later.account_id = one.account_id
    columns = batch(*((f"h:new{n}:0", f"N{n}") for n in range(50)), ("h:7:0", None), ("h:x:0", "T8"))
    async with db() as session, session.begin():
        connection = await pgarrays.driver(session)
        for sql in (staging.STAGE_SQL, staging.STAGE_NEW_SQL):
            async with connection.transaction():  # a savepoint: EXPLAIN ANALYZE inserts the rows
                plan = await connection.fetchval(
                    f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}",
                    later.user_id,
                    later.account_id,
                    uuid.uuid4(),
                    later.import_id,
                    [one.import_id, later.import_id],  # the first import as committed
                    *columns.params(),
                )
                tree = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
                # One probe per key, finding the two duplicates (EXPLAIN rounds a probe's rows
                # to a whole number per loop), not the 20,000 rows of the first import read for
                # the batch, as an anti join or a hashed subplan would.
                assert rows_read(tree) <= 2, tree
            assert await staging.delete_rows(session, later.import_id) == 50
