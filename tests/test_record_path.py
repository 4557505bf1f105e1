"""The RecordExecutions write path without per-fill pydantic or SQLAlchemy objects: what it inserts
and answers must be exactly what the database holds and what the contract models would write."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_common.consumer import Delivery
from tj_common.contracts import trades as contract
from tj_common.envelope import Envelope
from tj_trades import projection, repository
from tj_trades.handlers import _execution_rows
from tj_trades.models import projection_dirty

IST = timezone(timedelta(hours=5, minutes=30))
NY = timezone(timedelta(hours=-5))


def fill(**fields: Any) -> dict[str, Any]:
    return {
        "symbol": "reliance",
        "side": "buy",
        "quantity": "10",
        "price": "2500.5",
        "executed_at": "2026-01-05T09:30:00+05:30",
        **fields,
    }


FILLS = [
    fill(),
    fill(quantity="0.00000001", price="0", executed_at="2026-01-05T04:00:00.123456Z", exchange="bse"),
    fill(quantity="1E+2", price="999999999999.99999999", side="sell", segment="equity", product="MIS"),
    fill(fees="12.5", broker_trade_id="T-1", broker_order_id="O 1", executed_at="2026-01-05T10:00:00-05:00"),
    fill(fees="40", charges={"brokerage": "20", "stt": "2.50", "gst": "3.6000"}, currency="inr"),
    fill(charges={"stamp_duty": "1E-2"}, product="CNC", segment="options", symbol="NIFTY2560524750PE"),
]


def rows_of(fills: list[dict[str, Any]], *, user_id: uuid.UUID, account_id: uuid.UUID) -> list[dict[str, Any]]:
    """The rows the RecordExecutions handler builds for these fills (tj_trades.handlers)."""
    payload = {"account_id": str(account_id), "executions": fills}
    envelope = Envelope(type=contract.RECORD_EXECUTIONS, user_id=user_id, payload=payload)
    delivery = Delivery(topic="trades.commands", partition=0, offset=0, envelope=envelope)
    account = {"id": account_id, "base_currency": "INR"}
    command = contract.RecordExecutions.model_validate(payload)
    rows, problem = _execution_rows(delivery, user_id, account, command, datetime.now(UTC), set())
    assert problem is None, problem
    return rows


@pytest.mark.parametrize("separator", [None, "\x1f", "\x1e"], ids=["joined-columns", "unit-sep", "record-sep"])
async def test_inserted_rows_are_what_the_database_reads_back(
    db: async_sessionmaker[AsyncSession], separator: str | None
) -> None:
    fills = [dict(f) for f in FILLS]
    if separator is not None:  # a free-text id the joined columns cannot carry: the ordinary insert
        fills[3]["broker_trade_id"] = f"T{separator}1"
    user_id = uuid.uuid4()
    rows = rows_of(fills, user_id=user_id, account_id=uuid.uuid4())
    async with db() as session, session.begin():
        stored = await repository.insert_executions(session, rows)
        read = (await repository.executions_of_commands(session, [rows[0]["command_id"]]))[rows[0]["command_id"]]
        marked = (
            await session.execute(
                select(
                    projection_dirty.c.user_id,
                    projection_dirty.c.account_id,
                    projection_dirty.c.instrument,
                    projection_dirty.c.day,
                ).where(projection_dirty.c.user_id == user_id)
            )
        ).all()
        await session.rollback()
    # The insert marks the projection groups of what it stored, whichever way the rows travelled.
    assert sorted(marked) == sorted(projection.groups_of_rows(user_id, rows))
    assert len(stored) == len(rows) == len(read)
    by_id = {r["id"]: r for r in read}
    for mine in stored:
        theirs = by_id[mine["id"]]
        assert mine == theirs
        # Equal as the answer's JSON too (a Decimal's scale, an instant's zone).
        assert contract.execution_out_json(mine) == contract.execution_out_json(theirs)
    assert len({r["recorded_at"] for r in stored}) == 1


async def test_a_broker_trade_id_recorded_twice_is_still_refused_by_the_database(
    db: async_sessionmaker[AsyncSession],
) -> None:
    """The handler checks first; the unique index is the last word (a race between replicas)."""
    user_id, account_id = uuid.uuid4(), uuid.uuid4()
    first = rows_of([fill(broker_trade_id="T-9")], user_id=user_id, account_id=account_id)
    again = rows_of([fill(broker_trade_id="T-9")], user_id=user_id, account_id=account_id)
    async with db() as session, session.begin():
        await repository.insert_executions(session, first)
        with pytest.raises(Exception, match="ux_executions_account_broker_trade"):
            await repository.insert_executions(session, again)
        await session.rollback()


amounts = st.decimals(min_value=0, max_value=Decimal("999999999999.99999999"), places=8, allow_nan=False)
small_amounts = st.decimals(min_value=0, max_value=Decimal("99999999.99999999"), places=8, allow_nan=False)
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
stored_rows = st.fixed_dictionaries(
    {
        "id": st.uuids(),
        "account_id": st.uuids(),
        "symbol": st.from_regex(r"[A-Z0-9&._\-: ]{1,64}", fullmatch=True).map(str.strip).filter(bool),
        "exchange": st.sampled_from(["NSE", "BSE", "NASDAQ"]),
        "segment": st.sampled_from([None, "equity", "futures", "options"]),
        "side": st.sampled_from(["buy", "sell"]),
        "quantity": amounts.filter(lambda d: d > 0).map(lambda d: d.quantize(Decimal("1e-8"))),
        "price": amounts.map(lambda d: d.quantize(Decimal("1e-8"))),
        "executed_at": instants,
        "fees": st.none() | amounts.map(lambda d: d.quantize(Decimal("1e-8"))),
        "charges": st.none()
        | st.dictionaries(st.sampled_from(contract.CHARGE_LINES), small_amounts.map(str), max_size=4),
        "currency": st.sampled_from(["INR", "USD"]),
        "broker_trade_id": st.none() | st.text(max_size=20).map(str.strip),
        "broker_order_id": st.none() | st.text(max_size=20).map(str.strip),
        "product": st.sampled_from([None, "MIS", "CNC", "NRML"]),
        "recorded_at": instants,
    }
)


@settings(max_examples=300, deadline=None)
@given(stored_rows)
def test_execution_json_is_what_the_contract_model_writes(row: dict[str, Any]) -> None:
    if row["charges"] and row["fees"] is not None:
        row["fees"] = max(row["fees"], sum(map(Decimal, row["charges"].values())))
    assert contract.execution_out_json(row) == contract.ExecutionOut.model_validate(row).model_dump(mode="json")


def test_execution_json_writes_other_zones_as_pydantic_does() -> None:
    row = dict.fromkeys(contract.ExecutionOut.model_fields)
    row.update(
        id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        symbol="X",
        exchange="NSE",
        side="buy",
        quantity=Decimal("1"),
        price=Decimal("2.5"),
        currency="INR",
        executed_at=datetime(2026, 1, 5, 9, 30, tzinfo=IST),
        recorded_at=datetime(2026, 1, 5, 9, 30, 0, 500000, tzinfo=NY),
    )
    assert contract.execution_out_json(row) == contract.ExecutionOut.model_validate(row).model_dump(mode="json")
