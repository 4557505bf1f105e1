"""Joined text columns (tj_trades.pgarrays) read back by PostgreSQL exactly as array parameters."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_trades import pgarrays

IST = timezone(timedelta(hours=5, minutes=30))
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


FORM_CASES = [(values, pg_type) for values, pg_type in CASES if pg_type in pgarrays.TEXT_FORMS and pg_type != "jsonb"]


@pytest.mark.parametrize(("values", "pg_type"), FORM_CASES, ids=[f"{t}-{i}" for i, (_, t) in enumerate(FORM_CASES)])
async def test_a_column_in_its_text_form_reads_back_as_the_array(
    db: async_sessionmaker[AsyncSession], values: list[Any], pg_type: str
) -> None:
    async with db() as session:
        connection = await pgarrays.driver(session)
        joined = pgarrays.texts(pgarrays.TEXT_FORMS[pg_type](values))
        got = await connection.fetchval(f"SELECT ({pgarrays.param(1, pg_type)})::text", joined)
        assert got == await connection.fetchval(f"SELECT ($1::{pg_type}[])::text", values)  # scales too


async def test_documents_and_json_text_read_back_as_the_documents(db: async_sessionmaker[AsyncSession]) -> None:
    documents = [{"stt": "1.25", "gst": "0.00"}, None, {}]
    as_text = [None if d is None else json.dumps(d) for d in documents]
    async with db() as session:
        connection = await pgarrays.driver(session)
        for form, values in (("jsonb", documents), ("json_text", as_text)):
            joined = pgarrays.texts(pgarrays.TEXT_FORMS[form](values))
            got = await connection.fetchval(f"SELECT ({pgarrays.param(1, 'jsonb')})::text", joined)
            assert got == await connection.fetchval("SELECT ($1::jsonb[])::text", as_text)


async def test_the_projection_stores_trades_as_the_arrays_would(db: async_sessionmaker[AsyncSession]) -> None:
    """Trades travel as joined text; an instrument with a separator character of its own sends
    them as arrays instead. Either way the stored rows are what the arrays store."""
    from tj_trades import projection, tradebook

    account, user = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 6, 5, 4, 0, tzinfo=UTC)
    executions = [
        {
            "id": uuid.uuid4(),
            "account_id": account,
            "symbol": symbol,
            "exchange": "NSE",
            "segment": "equity",
            "side": side,
            "quantity": Decimal(qty),
            "price": Decimal(price),
            "executed_at": at + timedelta(minutes=i),
            "fees": None,
            "charges": None,
            "currency": "INR",
            "broker_trade_id": None,
            "broker_order_id": None,
            "product": "MIS",
        }
        for i, (symbol, side, qty, price) in enumerate(
            [
                ("TCS", "buy", "3", "3500.5"),
                ("TCS", "sell", "3", "3512"),
                ("INFY", "sell", "7", "1500"),
                ("A\x1fB", "buy", "1", "10"),
            ]
        )
    ]
    accounts = {
        account: {
            "long_only": False,
            "brokerage_plan": "zerodha",
            "commission_schedule": None,
            "timezone": "Asia/Kolkata",
        }
    }
    trades, _ = projection._trade_rows(user, executions, accounts, tradebook.charges_of(executions, accounts))
    clean = [t for t in trades if pgarrays.clean(t["instrument"])]
    stored: dict[str, list[str]] = {}
    for way in ("joined", "arrays", "mixed"):
        async with db() as session, session.begin():
            if way == "joined":
                await projection._store_trades(session, clean)
            elif way == "arrays":
                connection = await pgarrays.driver(session)
                columns = ([t[c] for t in trades] for c, _ in projection._TRADE_COLUMNS)
                await connection.execute(projection._STORE_TRADES_ARRAYS, *columns)
            else:
                await projection._store_trades(session, trades)
            got = await session.execute(
                sa.text("SELECT t::text FROM trades.trade_rows t WHERE user_id = :u ORDER BY trade_id"), {"u": user}
            )
            stored[way] = [r[0] for r in got]
            await session.rollback()
    assert len(stored["arrays"]) == 3
    assert stored["mixed"] == stored["arrays"]
    assert stored["joined"] == [r for r in stored["arrays"] if "\x1f" not in r]
