"""projection_rows' stored charge days: each execution's entry in its account's IST day, read back
as the charges they were (charge_days_columns, day_entries, stored_charges, changed_groups)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tj_trades import pgarrays, tradebook
from tj_trades.domain.charges.india import IST, ist_trade_date
from tj_trades.projection_rows import changed_groups, charge_days_columns, day_entries, stored_charges

ACCOUNT = uuid.UUID(int=7)
OTHER = uuid.UUID(int=8)
NEW_YORK = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 2, 18, 29, 59, 999999, tzinfo=UTC),  # 23:59:59.999999 IST
        datetime(2026, 3, 2, 18, 30, tzinfo=UTC),  # midnight IST: the next day
        datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2026, 3, 2, 13, 30, tzinfo=NEW_YORK),  # 18:30 UTC, given in another zone
        datetime(2026, 3, 2, 13, 29, tzinfo=NEW_YORK),
    ],
)
def test_the_trade_date_of_an_instant_is_its_ist_day(at: datetime) -> None:
    """Instants in UTC take a shortcut (no conversion): the same day as converting them."""
    assert ist_trade_date(at) == at.astimezone(IST).date()


def _row(execution_id: int, at: datetime, account: uuid.UUID = ACCOUNT, symbol: str = "TCS") -> dict[str, Any]:
    return {
        "id": uuid.UUID(int=execution_id),
        "account_id": account,
        "exchange": "NSE",
        "symbol": symbol,
        "executed_at": at,
    }


ROWS = [
    _row(1, datetime(2026, 3, 2, 4, 0, tzinfo=UTC)),
    _row(2, datetime(2026, 3, 2, 18, 30, tzinfo=UTC)),  # 3 March in IST
    _row(3, datetime(2026, 3, 2, 5, 0, tzinfo=UTC), OTHER, "INFY"),
    _row(4, datetime(2026, 3, 2, 6, 0, tzinfo=UTC)),
]
CHARGES: dict[Any, tradebook.ExecutionCharges] = {
    uuid.UUID(int=1): tradebook.ExecutionCharges(
        Decimal("23.00"), "estimated", {"brokerage": Decimal("20.00"), "stt": Decimal("3.00")}
    ),
    uuid.UUID(int=2): tradebook.ExecutionCharges(Decimal("5.5"), "broker", {"unitemised": Decimal("5.5")}),
    uuid.UUID(int=3): tradebook.NO_CHARGES,
    uuid.UUID(int=4): tradebook.ExecutionCharges(Decimal("0.00"), "estimated", {"brokerage": Decimal("0.00")}),
}


def _days(columns: list[str]) -> dict[tuple[str, str], str | None]:
    """The columns' rows: (account, day) -> entries (None for NULL)."""
    accounts, days, entries = (c.split(pgarrays.SEP)[1:] for c in columns)
    return {(a, d): None if e == pgarrays.NULL else e for a, d, e in zip(accounts, days, entries, strict=True)}


def test_each_execution_is_stored_in_its_account_and_ist_day() -> None:
    days = _days(charge_days_columns(ROWS, CHARGES))
    assert days == {
        (str(ACCOUNT), "2026-03-02"): (
            f"{uuid.UUID(int=1)}\t23.00\testimated\t" + '{"brokerage": "20.00", "stt": "3.00"}\n'
            f"{uuid.UUID(int=4)}\t0.00\testimated\t" + '{"brokerage": "0.00"}'
        ),
        (str(ACCOUNT), "2026-03-03"): f"{uuid.UUID(int=2)}\t5.5\tbroker\t" + '{"unitemised": "5.5"}',
        (str(OTHER), "2026-03-02"): f"{uuid.UUID(int=3)}\t\tnone\t",
    }


def test_days_asked_for_are_all_there_and_a_day_without_executions_is_null() -> None:
    asked = {ACCOUNT: {date(2026, 3, 2), date(2026, 3, 4)}}  # not the 3rd; the 4th has none
    days = _days(charge_days_columns(ROWS, CHARGES, asked))
    assert set(days) == {(str(ACCOUNT), "2026-03-02"), (str(ACCOUNT), "2026-03-04")}
    assert days[(str(ACCOUNT), "2026-03-04")] is None
    assert charge_days_columns([], {}, {}) == ["", "", ""]


def test_stored_days_read_back_as_the_charges_they_hold() -> None:
    entries = day_entries(e for e in _days(charge_days_columns(ROWS, CHARGES)).values() if e is not None)
    ids = [r["id"] for r in ROWS]
    assert stored_charges(entries, ids) == CHARGES
    assert stored_charges(entries, [uuid.UUID(int=9), uuid.UUID(int=1)]) == {
        uuid.UUID(int=1): CHARGES[uuid.UUID(int=1)]
    }
    assert changed_groups(ROWS, CHARGES, entries) == set()
    moved = {
        **CHARGES,
        uuid.UUID(int=4): tradebook.ExecutionCharges(Decimal("0"), "estimated", {"brokerage": Decimal("0")}),
    }
    assert changed_groups(ROWS, moved, entries) == {(ACCOUNT, "NSE:TCS")}  # as written, not only the value
    assert changed_groups(ROWS, CHARGES, {}) == {(ACCOUNT, "NSE:TCS"), (OTHER, "NSE:INFY")}
