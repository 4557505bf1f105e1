"""The fast row checks of staged imports agree with the contract model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tj_common.contracts import trades as contract
from tj_trades.staging import Columns, check_rows

NOW = datetime(2026, 6, 5, 12, 0, tzinfo=UTC)


def row(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": "nifty2560524750pe",
        "exchange": "nfo",
        "side": "buy",
        "quantity": "75",
        "price": "101.05",
        "executed_at": "2026-06-05T09:15:00+05:30",
        "fingerprint": "h:abc:0",
        "line": 7,
    }
    return {**body, **changes}


def test_a_good_row_is_normalised() -> None:
    columns, rejected = check_rows([row(fees="12.5", broker_trade_id=" T1 ")], "INR", NOW)
    assert rejected == []
    values = dict(zip(Columns.NAMES, (c[0] for c in columns.values), strict=True))
    assert values["symbol"] == "NIFTY2560524750PE"
    assert values["exchange"] == "NFO"
    assert values["quantity"] == "75" and values["fees"] == "12.5"  # text forms, read by PostgreSQL
    assert values["currency"] == "INR"
    assert values["broker_trade_id"] == "T1"
    assert datetime.fromisoformat(values["executed_at"]) == datetime(2026, 6, 5, 3, 45, tzinfo=UTC)
    assert values["source_line"] == "7" and values["day_level"] == "f"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-3"}, "quantity"),
        ({"price": "-1"}, "price"),
        ({"price": "1.123456789"}, "price"),
        ({"price": "1E+13"}, "price"),
        ({"quantity": "0.00000000"}, "quantity"),
        ({"fees": "-0.5"}, "fees"),
        ({"fingerprint": "h:\x1fx:0"}, "fingerprint"),
        ({"broker_trade_id": "T\x1e1"}, "broker_trade_id"),
        ({"side": "short"}, "side"),
        ({"executed_at": "2026-06-05T09:15:00"}, "executed_at"),
        ({"symbol": "BAD/SYMBOL"}, "symbol"),
        ({"fingerprint": "x"}, "fingerprint"),
        ({"product": "BO"}, "product"),
        ({"unexpected": 1}, "unexpected"),
        ({"currency": "USD"}, "currency USD does not match"),
        ({"executed_at": "2026-06-06T09:15:00+05:30"}, "in the future"),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_and_reason(changes: dict[str, Any], reason: str) -> None:
    columns, rejected = check_rows([row(), row(**changes)], "INR", NOW)
    assert len(columns) == 1
    assert [r.line for r in rejected] == [7]
    assert reason in rejected[0].reason


def test_the_fast_checks_accept_what_the_contract_accepts() -> None:
    samples = [row(), row(segment="options", product="NRML", fees=0, day_level=True, source_timezone="Asia/Kolkata")]
    for sample in samples:
        contract.StagedExecutionIn.model_validate(sample)
    columns, rejected = check_rows(samples, "INR", NOW)
    assert (len(columns), rejected) == (2, [])


def test_itemised_charges_are_stored_with_their_total() -> None:
    charges = {"brokerage": "20", "stt": "3.5", "gst": 3}
    columns, rejected = check_rows([row(charges=charges), row(charges=charges, fees="30")], "INR", NOW)
    assert rejected == []
    stored = [dict(zip(Columns.NAMES, values, strict=True)) for values in zip(*columns.values, strict=True)]
    assert [Decimal(r["fees"]) for r in stored] == [Decimal("26.5"), Decimal("30")]  # the lines' total unless given
    assert json.loads(stored[0]["charges"]) == {"brokerage": "20", "stt": "3.5", "gst": "3"}
    contract.StagedExecutionIn.model_validate(row(charges=charges, fees="30"))


@pytest.mark.parametrize(
    "changes",
    [
        {"charges": {"rebate": "1"}},
        {"charges": {"stt": "-1"}},
        {"charges": {"stt": "1.123456789"}},
        {"charges": ["stt", "1"]},
        {"charges": {"stt": "5"}, "fees": "4"},
    ],
)
def test_bad_charges_are_rejected_as_the_contract_rejects_them(changes: dict[str, Any]) -> None:
    columns, rejected = check_rows([row(**changes)], "INR", NOW)
    assert len(columns) == 0 and [r.line for r in rejected] == [7]
    with pytest.raises(ValidationError):
        contract.StagedExecutionIn.model_validate(row(**changes))


@pytest.mark.parametrize(
    ("given", "stored"),
    [("75", "75"), ("0075.50", "0075.50"), (75, "75"), ("1E+2", "1E+2"), (" 7.5 ", "7.5"), (2.5, "2.5"), ("75.", "75")],
)
def test_numbers_keep_a_text_form_postgresql_reads_as_the_same_value(given: Any, stored: str) -> None:
    columns, rejected = check_rows([row(quantity=given)], "INR", NOW)
    assert rejected == []
    values = dict(zip(Columns.NAMES, (c[0] for c in columns.values), strict=True))
    assert values["quantity"] == stored and Decimal(stored) == Decimal(str(given).strip())


def test_the_joined_columns_are_the_text_forms() -> None:
    columns, rejected = check_rows([row(fees="12.5"), row(fingerprint="h:def:0")], "INR", NOW)
    assert rejected == []
    joined = dict(zip(Columns.NAMES, columns.joined(), strict=True))
    assert joined["quantity"] == "\x1f75\x1f75" and joined["fees"] == "\x1f12.5\x1f\x1e"
    assert joined["executed_at"].count("2026-06-05T09:15:00+05:30") == 2


@pytest.mark.parametrize(
    "given",
    ["2026-06-05T09:15:00+05:30", "2026-06-05T03:45:00Z", "2026-06-05T09:15:00.5+05:30", "20260605T091500+0530"],
)
def test_an_instant_keeps_a_text_form_of_the_same_instant(given: str) -> None:
    columns, rejected = check_rows([row(executed_at=given)], "INR", NOW)
    assert rejected == []
    values = dict(zip(Columns.NAMES, (c[0] for c in columns.values), strict=True))
    assert datetime.fromisoformat(values["executed_at"]) == datetime.fromisoformat(given)
    assert values["executed_at"] == given or values["executed_at"] == datetime.fromisoformat(given).isoformat()
