"""Indian broker files: detection, the exact normalised rows, bad rows and broken headers (unit tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tj_imports.formats.base import MissingColumns, NoRows, ParsedRow, RowError, Source
from tj_imports.formats.registry import all_parsers, detect, parse_file

FIXTURES = Path(__file__).parent / "fixtures" / "india"


def rows(name: str, format_name: str | None = None) -> tuple[str, list[ParsedRow | RowError]]:
    parser, parsed = parse_file(FIXTURES / name, format_name=format_name)
    return parser.name, list(parsed)


def good(name: str) -> list[ParsedRow]:
    _, parsed = rows(name)
    assert all(isinstance(r, ParsedRow) for r in parsed), [r for r in parsed if isinstance(r, RowError)]
    return [r for r in parsed if isinstance(r, ParsedRow)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def assert_detected(name: str, expected: str) -> None:
    """The expected parser wins, and no other parser scores as high on the file."""
    source = Source.open(FIXTURES / name)
    assert detect(source).name == expected
    family_ok = {p.name: p for p in all_parsers().values() if (p.family == "xlsx") == (source.kind == "xlsx")}
    own = family_ok[expected].sniff(source)
    others = {n: p.sniff(source) for n, p in family_ok.items() if n != expected}
    assert all(score < own for score in others.values()), others


# --------------------------------------------------------------------------- Zerodha


@pytest.mark.parametrize("name", ["zerodha_equity.csv", "zerodha_fo.csv", "zerodha_bom.csv", "zerodha_bad_rows.csv"])
def test_zerodha_csv_detected(name: str) -> None:
    assert_detected(name, "zerodha_tradebook_csv")


def test_zerodha_csv_equity_rows() -> None:
    parsed = good("zerodha_equity.csv")
    assert parsed[0] == ParsedRow(
        line=2,
        symbol="RELIANCE",
        side="buy",
        quantity=Decimal("10"),
        price=Decimal("2950.15"),
        executed_at=utc(2026, 8, 24, 3, 50, 30),
        source_timezone="Asia/Kolkata",
        exchange="NSE",
        segment="equity",
        broker_trade_id="81234501",
        broker_order_id="1300000012345678",
    )
    assert [(r.side, r.quantity, r.broker_trade_id, r.broker_order_id) for r in parsed[1:3]] == [
        ("buy", Decimal(5), "81234502", "1300000012345678"),
        ("sell", Decimal(15), "81239999", "1300000012349999"),
    ]
    assert (parsed[3].symbol, parsed[3].exchange, parsed[3].executed_at) == ("SBIN", "BSE", utc(2026, 8, 25, 4, 30))
    assert all(r.product is None and r.fees is None and not r.day_level for r in parsed)


def test_zerodha_csv_bom_and_crlf_same_rows() -> None:
    assert good("zerodha_bom.csv") == good("zerodha_equity.csv")


def test_zerodha_csv_fo_rows() -> None:
    parsed = good("zerodha_fo.csv")
    assert [(r.symbol, r.exchange, r.segment, r.side, r.quantity, r.price, r.executed_at) for r in parsed] == [
        ("NIFTY2560524750PE", "NFO", "options", "buy", Decimal(75), Decimal("112.35"), utc(2025, 6, 2, 4, 1, 5)),
        ("NIFTY2560524750PE", "NFO", "options", "sell", Decimal(75), Decimal("98.1"), utc(2025, 6, 2, 8, 32, 59)),
        ("BANKNIFTY25JUN52000CE", "NFO", "options", "sell", Decimal(30), Decimal(410), utc(2025, 6, 3, 5, 45)),
        ("RELIANCE25JULFUT", "NFO", "futures", "buy", Decimal(500), Decimal("1432.6"), utc(2025, 6, 4, 6, 30, 1)),
        ("SENSEX2561081000CE", "BFO", "options", "buy", Decimal(20), Decimal("150.5"), utc(2025, 6, 5, 8, 15, 10)),
    ]


def test_zerodha_csv_bad_rows_reported_with_line_and_column() -> None:
    _, parsed = rows("zerodha_bad_rows.csv")
    errors = [(r.line, r.column) for r in parsed if isinstance(r, RowError)]
    assert errors == [(3, "trade_type"), (4, "quantity"), (5, "order_execution_time"), (7, "quantity")]
    assert [r.broker_trade_id for r in parsed if isinstance(r, ParsedRow)] == ["1001", "1006"]
    bad = next(r for r in parsed if isinstance(r, RowError))
    assert bad.raw == "hold"


def test_zerodha_csv_missing_required_column() -> None:
    with pytest.raises(MissingColumns) as caught:
        rows("zerodha_missing_price.csv", "zerodha_tradebook_csv")
    assert caught.value.missing == ["price"]


def test_zerodha_csv_header_only_is_no_rows() -> None:
    with pytest.raises(NoRows):
        rows("zerodha_header_only.csv")
