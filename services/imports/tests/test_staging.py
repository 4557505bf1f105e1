"""Parsed rows to staged batches: fingerprints and batch limits (pure, no infrastructure)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tj_common.contracts.trades import (
    MAX_STAGE_BATCH,
    STAGED_FIELDS,
    StagedExecutionIn,
    StageImportBatch,
    staged_rows,
)
from tj_imports.formats.base import ParsedRow, ParseResult, RowError
from tj_imports.staging import MAX_BATCH_BYTES, Batcher, Fingerprints, staged_row


def row(line: int = 1, trade_id: str | None = None, quantity: str = "10", **changes: object) -> ParsedRow:
    values: dict[str, object] = {
        "line": line,
        "symbol": "RELIANCE",
        "side": "buy",
        "quantity": Decimal(quantity),
        "price": Decimal("2950.50"),
        "executed_at": datetime(2026, 6, 5, 3, 46, 2, tzinfo=UTC),
        "source_timezone": "Asia/Kolkata",
        "broker_trade_id": trade_id,
        **changes,
    }
    return ParsedRow(**values)  # type: ignore[arg-type]


def test_the_broker_trade_id_is_the_fingerprint_when_there_is_one() -> None:
    assert Fingerprints().of(row(trade_id="T123")) == "t:T123"


def test_identical_rows_get_their_occurrence_index_and_a_new_reading_the_same_keys() -> None:
    first, second = Fingerprints(), Fingerprints()
    keys = [first.of(row(line=n)) for n in (1, 2, 3)]
    assert [k.rsplit(":", 1)[1] for k in keys] == ["0", "1", "2"]
    assert len({k.rsplit(":", 1)[0] for k in keys}) == 1
    assert [second.of(row(line=n)) for n in (7, 8, 9)] == keys  # the line is not part of the key


def test_equal_quantities_written_differently_are_the_same_fill() -> None:
    assert Fingerprints().of(row(quantity="10")) == Fingerprints().of(row(quantity="10.000000"))
    assert Fingerprints().of(row(quantity="10")) != Fingerprints().of(row(quantity="11"))


def test_a_staged_row_is_a_valid_staged_execution() -> None:
    parsed = row(trade_id="T1", segment="equity", fees=Decimal("1.25"), broker_order_id="O1", day_level=True)
    staged = staged_row(parsed, "t:T1")
    model = StagedExecutionIn.model_validate(staged)
    assert model.fingerprint == "t:T1" and model.line == 1 and model.day_level
    assert model.executed_at == parsed.executed_at
    assert "product" not in staged  # absent optional fields are left out


def results(count: int, errors_every: int = 0) -> Iterator[ParseResult]:
    for n in range(1, count + 1):
        if errors_every and n % errors_every == 0:
            yield RowError(n, "quantity", "not a number", "x")
        else:
            yield row(line=n, trade_id=f"T{n}")


def test_batches_stay_within_the_contract_and_the_message_limit() -> None:
    batcher = Batcher(results(12_345, errors_every=100))
    batches, errors, rows = [], [], 0
    while True:
        chunk = batcher.take(5_000)
        batches.extend(chunk.batches)
        errors.extend(chunk.errors)
        rows += chunk.rows
        if chunk.done:
            break
    assert rows == 12_345
    assert len(errors) == 123
    assert sum(len(b["line"]) for b in batches) == 12_345 - 123
    assert all(1 <= len(b["line"]) <= MAX_STAGE_BATCH for b in batches)
    assert all(len(json.dumps(b)) < MAX_BATCH_BYTES for b in batches)
    lines = [line for b in batches for line in b["line"]]
    assert lines == sorted(lines)


def test_a_batch_is_the_staged_rows_column_by_column() -> None:
    """Each column of a batch holds, row by row, what staged_row gives (numbers in positional
    notation); a field that no row has is left out. The whole is a valid StageImportBatch."""
    parsed = [
        row(line=1, trade_id="T1", segment="equity", fees=Decimal("1.25"), broker_order_id="O1"),
        row(line=2, trade_id="T2", quantity="1E+2", day_level=True),
        row(line=3, product="MIS", charges={"stt": Decimal("7")}, fees=Decimal("7")),
    ]
    chunk = Batcher(iter(parsed)).take(10)
    assert chunk.done and len(chunk.batches) == 1
    columns = chunk.batches[0]
    assert set(columns) <= set(STAGED_FIELDS)
    fingerprints = Fingerprints()
    for n, parsed_row in enumerate(parsed):
        staged = staged_row(parsed_row, fingerprints.of(parsed_row))
        from_columns = staged_rows(columns)[n]
        assert StagedExecutionIn.model_validate(from_columns) == StagedExecutionIn.model_validate(staged)
    assert columns["quantity"][1] == "100"  # not "1E+2"
    assert columns["day_level"] == [None, True, None]
    batch = StageImportBatch(import_id=uuid.uuid4(), account_id=uuid.uuid4(), batch_no=0, columns=columns)
    assert batch.columns is not None


def test_a_columnar_batch_must_be_rectangular_and_known() -> None:
    good = {"line": [1, 2], "symbol": ["A", "B"]}
    StageImportBatch(import_id=uuid.uuid4(), account_id=uuid.uuid4(), batch_no=0, columns=good)
    for bad in ({"line": [1, 2], "symbol": ["A"]}, {"line": [1], "colour": ["red"]}, {"line": []}):
        with pytest.raises(ValidationError):
            StageImportBatch(import_id=uuid.uuid4(), account_id=uuid.uuid4(), batch_no=0, columns=bad)
    with pytest.raises(ValidationError):  # both forms, or neither
        StageImportBatch(import_id=uuid.uuid4(), account_id=uuid.uuid4(), batch_no=0)


def test_long_rows_close_a_batch_before_the_byte_limit() -> None:
    wide = (row(line=n, trade_id="T" * 120 + str(n), broker_order_id="O" * 120) for n in range(1, 5_001))
    chunk = Batcher(wide).take(10_000)
    assert chunk.done
    assert all(len(json.dumps(b)) < 1_000_000 for b in chunk.batches)
    assert max(len(b["line"]) for b in chunk.batches) < MAX_STAGE_BATCH


def test_itemised_charges_travel_as_the_contracts_charge_lines() -> None:
    charges = {"brokerage": Decimal("20"), "sebi_fees": Decimal("0.03"), "stt": Decimal("7"), "clearing": Decimal("1")}
    staged = staged_row(row(fees=Decimal("28.03"), charges=charges), "h:x:0")
    assert staged["charges"] == {"brokerage": "20", "sebi": "0.03", "stt": "7", "other": "1"}
    model = StagedExecutionIn.model_validate(staged)
    assert model.charges == {"brokerage": 20, "sebi": Decimal("0.03"), "stt": 7, "other": 1}
    assert "charges" not in staged_row(row(), "h:y:0")
