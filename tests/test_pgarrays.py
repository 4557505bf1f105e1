"""Joined text columns (tj_trades.pgarrays) read back by PostgreSQL exactly as array parameters."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_trades import pgarrays

IST = timezone(timedelta(hours=5, minutes=30))
_SAME = uuid.uuid4()  # runs of one object are turned into text once (pgarrays._as_str)
_ONE = Decimal("1.00")
CASES: list[tuple[list[Any], str]] = [
    ([uuid.uuid4(), None, uuid.uuid4()], "uuid"),
    (["", None, "a,b", "x'y\"z\\", "{1,2}", "NULL", "é ₹ 漢"], "text"),
    ([""], "text"),
    ([None], "text"),
    ([], "text"),
    ([Decimal("1.50000000"), Decimal("1E+3"), None, Decimal("-1E-8"), Decimal("999999999999.99999999")], "numeric"),
    ([datetime(2026, 1, 5, 9, 30, 0, 123456, tzinfo=IST), None, datetime(2020, 1, 1, tzinfo=UTC)], "timestamptz"),
    ([date(2026, 1, 5), None], "date"),
    ([True, False, None], "bool"),
    ([1, None, -5, 2_147_483_647], "int"),
    ([json.dumps({"stt": "1.25", "odd": "x\x1fy\x1e"}), None], "jsonb"),
    ([_SAME, _SAME, None, None, _SAME, uuid.UUID(str(_SAME)), uuid.uuid4(), None], "uuid"),
    ([_ONE, _ONE, Decimal("1"), None, _ONE, Decimal("1.0")], "numeric"),
]


def text_form(value: Any) -> str | None:
    """The text a value travels as (what staging.check_rows keeps)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


@pytest.mark.parametrize(("values", "pg_type"), CASES, ids=[f"{t}-{i}" for i, (_, t) in enumerate(CASES)])
async def test_a_joined_column_reads_back_as_the_array(
    db: async_sessionmaker[AsyncSession], values: list[Any], pg_type: str
) -> None:
    async with db() as session:
        connection = await pgarrays.driver(session)
        joined = await connection.fetchval(
            f"SELECT {pgarrays.param(1, pg_type)}", pgarrays.texts(map(text_form, values))
        )
        direct = await connection.fetchval(f"SELECT $1::{pg_type}[]", values)
        assert joined == direct
        assert len(joined) == len(values)
        if pg_type in pgarrays.TEXT_FORMS and pg_type != "jsonb":  # the writers' own text forms, scale too
            formed = pgarrays.texts(pgarrays.TEXT_FORMS[pg_type](values))
            got = await connection.fetchval(f"SELECT ({pgarrays.param(1, pg_type)})::text", formed)
            assert got == await connection.fetchval(f"SELECT ($1::{pg_type}[])::text", values)


def test_separator_characters_are_not_clean() -> None:
    assert pgarrays.clean("NSE:RELIANCE")
    assert not pgarrays.clean("a\x1fb") and not pgarrays.clean("\x1e")


async def test_rows_are_the_columns_side_by_side_as_unnest_gives_them(db: async_sessionmaker[AsyncSession]) -> None:
    """pgarrays.rows (each column unnested in a select list) gives what ``unnest(a, b, …)`` gives:
    the n-th element of every column in the n-th row, the shorter columns padded with NULL."""
    columns = [CASES[0], CASES[1], CASES[5], CASES[8], CASES[2]]  # 3, 7, 5, 3 and 1 elements
    names = [(f"c{i}", pg_type) for i, (_, pg_type) in enumerate(columns)]
    joined = [pgarrays.texts(map(text_form, values)) for values, _ in columns]
    async with db() as session:
        connection = await pgarrays.driver(session)
        got = await connection.fetch(f"SELECT * FROM {pgarrays.rows(names, 1)} AS r", *joined)
        arrays = ", ".join(f"${i + 1}::{t}[]" for i, (_, t) in enumerate(names))
        want = await connection.fetch(f"SELECT * FROM unnest({arrays})", *(values for values, _ in columns))
    assert [tuple(r) for r in got] == [tuple(r) for r in want]
    assert len(got) == 7


async def test_documents_and_json_text_read_back_as_the_documents(db: async_sessionmaker[AsyncSession]) -> None:
    documents = [{"stt": "1.25", "gst": "0.00"}, None, {}]
    as_text = [None if d is None else json.dumps(d) for d in documents]
    async with db() as session:
        connection = await pgarrays.driver(session)
        for form, values in (("jsonb", documents), ("json_text", as_text)):
            joined = pgarrays.texts(pgarrays.TEXT_FORMS[form](values))
            got = await connection.fetchval(f"SELECT ({pgarrays.param(1, 'jsonb')})::text", joined)
            assert got == await connection.fetchval("SELECT ($1::jsonb[])::text", as_text)
