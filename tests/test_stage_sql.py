"""The staging statements against PostgreSQL: a batch whose own rows share no key is staged without
ON CONFLICT (staging.STAGE_NEW_SQL), and still never stores a fill twice."""

from __future__ import annotations

import asyncio
import json
import re
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
    assert second.values[0] == ["h:a:0", "t:1", "h:d:0"]  # keyed by its trade id, whatever fingerprint it had
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
            ("t:1", "1"),
            ("t:2", "2"),  # a row with a broker trade id is keyed by it
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
            keys = [(f"h:{n}:0", f"T{n}" if n % 2 else None) for n in range(start, start + 2_000)]
            assert await one.stage(session, batch(*keys)) == 2_000
    later = Import()
    later.account_id = one.account_id
    columns = batch(*((f"h:new{n}:0", f"N{n}") for n in range(50)), ("h:8:0", None), ("h:x:0", "T7"))
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


# The probes of the staging statement (in whatever order EXPLAIN numbers them), and the one index
# each must read: a probe that reads another index reads every row the import has staged so far.
PROBE_INDEXES = (
    "ux_executions_import_fingerprint",  # the fingerprint (or trade id) in this import or a committed one
    "ux_executions_account_broker_trade",  # the broker trade id recorded directly in the account
)


_INDEX_READ = re.compile(r"(?:Index Scan|Index Only Scan) using (\w+)|Bitmap Index Scan on (\w+)")


def subplan_indexes(plan: list[str]) -> list[set[str]]:
    """The indexes that each subplan of a text EXPLAIN reads."""
    found: list[set[str]] = []
    for line in plan:
        if line.strip().startswith("SubPlan"):
            found.append(set())
        elif found:
            found[-1].update(name for pair in _INDEX_READ.findall(line) for name in pair if name)
    return found


def literal(value: Any) -> str:
    """A parameter as an SQL literal (EXECUTE takes no bound parameters)."""
    text = "{" + ",".join(map(str, value)) + "}" if isinstance(value, list) else str(value)
    return "'" + text.replace("'", "''") + "'"


async def explain_stage(connection: Any, staged: Import, mode: str) -> list[set[str]]:
    """The indexes of the staging statement's probes, planned with ``plan_cache_mode = mode``."""
    columns = batch(("h:a:0", "T1"), ("h:b:0", None))
    args = (staged.user_id, staged.account_id, uuid.uuid4(), staged.import_id, [staged.import_id], *columns.params())
    await connection.execute(f"SET LOCAL plan_cache_mode = {mode}")
    await connection.execute(f"PREPARE probe_plan AS {staging.STAGE_NEW_SQL}")
    try:
        rows = await connection.fetch(f"EXPLAIN EXECUTE probe_plan({', '.join(map(literal, args))})")
    finally:
        await connection.execute("DEALLOCATE probe_plan")
    return subplan_indexes([row[0] for row in rows])


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_each_probe_of_the_staging_statement_reads_its_own_index(
    db: async_sessionmaker[AsyncSession], one: Import, mode: str
) -> None:
    """With statistics that give an import a handful of rows (500 imports of 4 rows each, as many
    small imports do in production). Everything here is rolled back, the statistics included."""
    async with db() as session, session.begin():
        connection = await pgarrays.driver(session)
        small = Import()
        small.user_id, small.account_id = one.user_id, one.account_id
        for n in range(500):
            small.import_id = uuid.uuid4()
            await small.stage(session, batch(*((f"h:{n}:{k}", f"T{n}-{k}") for k in range(4))))
        await connection.execute("ANALYZE trades.executions")
        probes = await explain_stage(connection, one, mode)
        assert sorted(probes, key=sorted) == sorted(({index} for index in PROBE_INDEXES), key=sorted)
        await session.rollback()
