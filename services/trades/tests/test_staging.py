"""The fast row checks of staged imports agree with the contract model."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tj_common.contracts import trades as contract
from tj_trades.domain.charges.india import IST
from tj_trades.staging import Columns, _fast_columns, check_columns, check_rows, time_ordered_ids

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
    assert values["fingerprint"] == "t:T1"  # a row with a broker trade id is keyed by it
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
        ({"fingerprint": "t:99"}, "broker_trade_id"),  # "t:" keys a row by a trade id it lacks
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


# -- columnar batches: check_columns is check_rows, a column at a time -------------------------


def canonical(n: int, **changes: Any) -> dict[str, Any]:
    """A row as the imports service writes it (UTC instant, upper-case codes, plain numbers)."""
    body: dict[str, Any] = {
        "symbol": "RELIANCE",
        "exchange": "NSE",
        "segment": "equity",
        "side": "buy" if n % 2 == 0 else "sell",
        "quantity": "10.000000",
        "price": f"{1000 + n}.05",
        "executed_at": f"2026-06-05T03:45:{n % 60:02d}+00:00",
        "currency": "INR",
        "fingerprint": f"t:{5000 + n}",
        "line": n + 2,
        "source_timezone": "Asia/Kolkata",
        "broker_trade_id": str(5000 + n),
        "broker_order_id": str(9000 + n // 2),
    }
    return {**body, **changes}


def outcome(result: tuple[Columns, list[contract.StagedRowRejected]]) -> tuple[list[str], list[tuple[int, str]]]:
    columns, rejected = result
    return columns.joined(), [(r.line, r.reason) for r in rejected]


def test_a_batch_as_the_imports_service_writes_it_is_checked_a_column_at_a_time() -> None:
    rows = [canonical(n) for n in range(50)] + [canonical(50, fees="12.5", product="MIS", day_level=True)]
    cols = contract.staged_columns(rows)
    fast = _fast_columns(cols, "INR", NOW)
    assert fast is not None  # no value goes through check_rows
    assert outcome(fast) == outcome(check_rows(rows, "INR", NOW))
    values = dict(zip(Columns.NAMES, fast[0].values, strict=True))
    assert values["day_level"][-1] == "t" and values["day_level"][0] == "f"


@pytest.mark.parametrize(
    "change",
    [
        {"symbol": "reliance"},
        {"symbol": " RELIANCE"},
        {"symbol": "RELI\x1fANCE"},
        {"fingerprint": "t:1\x1ft:2"},
        {"broker_trade_id": "T\x1f1"},
        {"broker_trade_id": " 77 "},
        {"broker_trade_id": ""},
        {"broker_trade_id": None},  # its fingerprint is "t:…"
        {"quantity": "0"},
        {"quantity": "0.000"},
        {"quantity": 10},
        {"quantity": "\u0661\u0660"},  # Arabic-Indic digits: a Decimal, not plain ASCII
        {"price": "1E+2"},
        {"price": "-1"},
        {"executed_at": "2026-06-05T09:15:00+05:30"},
        {"executed_at": "2026-02-30T03:45:00+00:00"},
        {"executed_at": "2099-01-01T00:00:00+00:00"},
        {"executed_at": "2026-06-05T03:45:00"},
        {"currency": "USD"},
        {"currency": "inr"},
        {"segment": ["equity"]},
        {"side": "short"},
        {"exchange": "nse"},
        {"charges": {"stt": "1.5"}},
        {"charges": {"stt": "1.5"}, "fees": "1"},
        {"line": True},
        {"line": 0},
        {"day_level": "yes"},
        {"source_timezone": "x" * 65},
        {"fees": "-2"},
    ],
)
def test_a_batch_with_any_other_value_is_checked_as_rows(change: dict[str, Any]) -> None:
    rows = [canonical(n) for n in range(5)]
    rows[3] = {**rows[3], **change}
    cols = contract.staged_columns(rows)
    assert _fast_columns(cols, "INR", NOW) is None
    assert outcome(check_columns(cols, "INR", NOW)) == outcome(check_rows(contract.staged_rows(cols), "INR", NOW))


def test_a_row_with_a_broker_trade_id_is_keyed_by_it_whatever_its_fingerprint() -> None:
    rows = [canonical(n) for n in range(3)]
    rows[1]["fingerprint"] = "h:abc:0"
    rows[2] = {**rows[2], "broker_trade_id": None, "fingerprint": "h:def:0"}
    cols = contract.staged_columns(rows)
    fast = _fast_columns(cols, "INR", NOW)
    assert fast is not None
    assert fast[0].values[Columns.NAMES.index("fingerprint")] == ["t:5000", "t:5001", "h:def:0"]
    assert outcome(fast) == outcome(check_rows(rows, "INR", NOW))


def test_a_column_left_out_or_null_is_an_absent_field() -> None:
    rows = [canonical(n) for n in range(3)]
    for r in rows:
        del r["exchange"], r["currency"]
    rows[1]["broker_order_id"] = None
    cols = contract.staged_columns(rows)
    assert "exchange" not in cols
    fast = _fast_columns(cols, "INR", NOW)
    assert fast is not None
    values = dict(zip(Columns.NAMES, fast[0].values, strict=True))
    assert values["exchange"] == ["NSE"] * 3 and values["currency"] == ["INR"] * 3
    assert outcome(fast) == outcome(check_rows(contract.staged_rows(cols), "INR", NOW))


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=10**13),
    st.sampled_from(["buy", "sell", "equity", "MIS", "INR", "NSE", "0", "10.5", "2026-06-05T03:45:00+00:00"]),
    st.text(alphabet="AZaz09 .:-+T\x1f\x1e_", max_size=12),
)
_fields = st.sampled_from(sorted(contract.StagedExecutionIn.model_fields))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.dictionaries(_fields, _values, max_size=4), min_size=1, max_size=6),
    st.booleans(),
)
def test_check_columns_is_check_rows(changes: list[dict[str, Any]], canonical_base: bool) -> None:
    """Whatever the values, a columnar batch gets exactly what its rows get."""
    rows = [{**(canonical(n) if canonical_base else row(line=n + 1)), **c} for n, c in enumerate(changes)]
    cols = contract.staged_columns(rows)
    assert outcome(check_columns(cols, "INR", NOW)) == outcome(check_rows(contract.staged_rows(cols), "INR", NOW))


def test_new_execution_ids_are_uuid7_in_time_order() -> None:
    before = datetime.now(UTC)
    first, second = time_ordered_ids(2000), time_ordered_ids(2000)
    ids = [uuid.UUID(text) for text in first + second]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert len(set(ids)) == 4000
    assert first == sorted(first) and [str(u) for u in ids[:2000]] == first
    stamp = datetime.fromtimestamp((ids[0].int >> 80) / 1000, UTC)
    assert abs((stamp - before).total_seconds()) < 5
    columns = check_rows([row(), row(fingerprint="h:def:0")], "INR", NOW)[0]
    params = columns.params()
    assert params[:-1] == columns.joined() and params[-1].count("\x1f") == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["NSE", "bse"]),
            st.sampled_from(["RELIANCE", "tcs"]),
            st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 6, 1)),
            st.sampled_from([0, 330, -300, 345, 60]),  # offsets in minutes
            st.sampled_from(["seconds", "milliseconds", "microseconds"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_the_groups_of_a_batch_are_its_rows_instruments_and_ist_days(
    given_rows: list[tuple[str, str, datetime, int, str]],
) -> None:
    rows = []
    expected = set()
    for n, (exchange, symbol, local, minutes, spec) in enumerate(given_rows):
        at = local.replace(tzinfo=timezone(timedelta(minutes=minutes)))
        rows.append(
            row(
                exchange=exchange,
                symbol=symbol,
                executed_at=at.isoformat(timespec=spec),
                line=n + 1,
                fingerprint=f"h:{n}:0",
            )
        )
        expected.add((f"{exchange.upper()}:{symbol.upper()}", at.astimezone(IST).date()))
    columns, rejected = check_rows(rows, "INR", NOW)
    assert rejected == []
    assert columns.groups() == expected


def test_the_ist_day_of_a_group_turns_at_1830_utc() -> None:
    times = ["2026-03-02T18:29:59+00:00", "2026-03-02T18:30:00+00:00", "2026-03-03T00:00:00.5+05:30"]
    rows = [row(executed_at=t, line=n + 1, fingerprint=f"h:{n}:0") for n, t in enumerate(times)]
    columns, _ = check_rows(rows, "INR", NOW)
    assert sorted(columns.groups()) == [
        ("NFO:NIFTY2560524750PE", datetime(2026, 3, 2).date()),
        ("NFO:NIFTY2560524750PE", datetime(2026, 3, 3).date()),
    ]
