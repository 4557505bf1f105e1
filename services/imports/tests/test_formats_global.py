"""Global broker files and our template: detection by content, exact normalised rows, row errors,
missing columns and header-only files. Fixtures are made-up values in each broker's published
layout (tests/fixtures/global; the XLSX from tests/fixtures/build_global_xlsx.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tj_imports.formats import registry
from tj_imports.formats.base import (
    MissingColumns,
    NoRows,
    ParsedRow,
    ParseOptions,
    ParseResult,
    RowError,
    Source,
    UnknownFormat,
)
from tj_imports.formats.parsers.mapped import InvalidMapping, header_signature, headers_of

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "global"
D = Decimal


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def parse(name: str, options: ParseOptions | None = None, format_name: str | None = None) -> list[ParseResult]:
    _, rows = registry.parse_file(FIXTURES / name, options, format_name)
    return list(rows)


def brief(item: ParseResult) -> tuple[object, ...]:
    """The fields every test compares: where, what, which way, how much, when, fees, key."""
    if isinstance(item, RowError):
        return ("error", item.line, item.column)
    return (
        item.line,
        item.symbol,
        item.side,
        item.quantity,
        item.price,
        item.executed_at,
        item.fees,
        item.broker_trade_id,
    )


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("ibkr_flex.csv", "ibkr_flex_csv"),
        ("ibkr_flex_compact.csv", "ibkr_flex_csv"),
        ("ibkr_activity.csv", "ibkr_activity_csv"),
        ("mt5_report.html", "mt5_report_html"),
        ("mt5_report_ru.html", "mt5_report_html"),
        ("mt5_report.xlsx", "mt5_report_xlsx"),
        ("mt4_statement.html", "mt4_statement_html"),
        ("thinkorswim.csv", "thinkorswim_statement_csv"),
        ("schwab.csv", "schwab_transactions_csv"),
        ("robinhood.csv", "robinhood_activity_csv"),
        ("webull.csv", "webull_orders_csv"),
        ("tradovate.csv", "tradovate_orders_csv"),
        ("ninjatrader_us.csv", "ninjatrader_executions_csv"),
        ("ninjatrader_eu.csv", "ninjatrader_executions_csv"),
        ("template.csv", "generic_template_csv"),
    ],
)
def test_detected_by_content(fixture: str, expected: str, tmp_path: Path) -> None:
    # The file name says nothing: detection must come from the content alone.
    anonymous = tmp_path / "upload.bin"
    anonymous.write_bytes((FIXTURES / fixture).read_bytes())
    assert registry.detect(Source.open(anonymous)).name == expected


def test_ibkr_flex_rows() -> None:
    rows = [brief(r) for r in parse("ibkr_flex.csv")]
    assert rows == [
        (2, "AAPL", "buy", D(100), D("190.25"), utc(2026, 1, 5, 14, 30, 15), D(1), "401001"),
        (3, "AAPL", "sell", D(100), D("191.5"), utc(2026, 1, 5, 20, 45, 1), D(1), "401002"),
        # 2 contracts x multiplier 100; IBKR's padded OCC symbol is closed up
        (4, "SPY260220C00600000", "buy", D(200), D("3.45"), utc(2026, 1, 6, 15, 10), D("1.3"), "401003"),
        (5, "ESH6", "sell", D(50), D("6010.25"), utc(2026, 1, 6, 16, 0), D("2.25"), "401004"),
        ("error", 6, "Date/Time"),  # 25:00:00
        # a positive commission is a rebate, never a negative fee
        (7, "NVDA", "buy", D(5), D("140.10"), utc(2026, 1, 7, 15, 0), D(0), "401006"),
    ]
    first = parse("ibkr_flex.csv")[0]
    assert isinstance(first, ParsedRow)
    assert (first.segment, first.currency, first.broker_order_id, first.day_level) == ("equity", "USD", "9001", False)


def test_ibkr_statement_time_zone_is_a_setting() -> None:
    rows = parse("ibkr_flex.csv", ParseOptions(timezone="Europe/London"))
    first = rows[0]
    assert isinstance(first, ParsedRow)
    assert first.executed_at == utc(2026, 1, 5, 9, 30, 15)
    assert first.source_timezone == "Europe/London"


def test_ibkr_flex_compact_is_day_level() -> None:
    rows = parse("ibkr_flex_compact.csv")
    assert [brief(r) for r in rows] == [
        (2, "TSLA", "buy", D(20), D("250.5"), utc(2026, 2, 10, 17, 0), D(1), None),
        (3, "TSLA", "sell", D(20), D(255), utc(2026, 2, 11, 17, 0), D(1), None),
        (4, "EUR.USD", "buy", D(10000), D("1.0850"), utc(2026, 2, 11, 17, 0), D(2), None),
        ("error", 5, "Quantity"),
    ]
    assert all(r.day_level for r in rows if isinstance(r, ParsedRow))
    fx = rows[2]
    assert isinstance(fx, ParsedRow)
    assert (fx.segment, fx.exchange) == ("currency", "IDEALFX")


def test_ibkr_activity_statement_reads_only_order_rows() -> None:
    rows = parse("ibkr_activity.csv")
    assert [brief(r) for r in rows] == [
        (8, "AAPL", "buy", D(100), D("190.25"), utc(2026, 1, 5, 14, 30, 15), D(1), None),
        (10, "AAPL", "sell", D(100), D("191.5"), utc(2026, 1, 5, 20, 45, 1), D(1), None),
        (12, "SPY 20FEB26 600 C", "buy", D(200), D("3.45"), utc(2026, 1, 6, 15, 10), D("1.3"), None),
        ("error", 13, "Date/Time"),  # 30 February
    ]


def test_ibkr_activity_statement_with_trades_far_down(tmp_path: Path) -> None:
    lines = (FIXTURES / "ibkr_activity.csv").read_text().splitlines(keepends=True)
    filler = [f"Net Asset Value,Data,Stock,{i},{i},0,{i},0\n" for i in range(80)]
    path = tmp_path / "statement.csv"
    path.write_text("".join(lines[:6] + filler + lines[6:]))
    parser, rows = registry.parse_file(path)
    assert parser.name == "ibkr_activity_csv"
    assert len([r for r in rows if isinstance(r, ParsedRow)]) == 3


def test_mt5_html_deals() -> None:
    rows = parse("mt5_report.html")  # UTF-16 with BOM, as the terminal writes it
    assert [brief(r) for r in rows] == [
        # 0.10 lot of a forex pair = 10,000 units; fees = commission + fee + swap paid
        (24, "EURUSD", "buy", D(10000), D("1.085"), utc(2026, 1, 5, 10, 0, 2), D("0.35"), "6001"),
        (25, "EURUSD", "sell", D(10000), D("1.0862"), utc(2026, 1, 5, 14, 30), D("0.47"), "6002"),
        # gold: 100 oz per lot, broker suffix kept; "4 577.86" with a space thousands separator
        (26, "XAUUSDM", "sell", D(2), D("4577.86"), utc(2026, 1, 6, 16, 20, 5), D(0), "6003"),
        # an index CFD: no known contract size, quantity stays in lots
        (27, "US500", "buy", D(1), D("6010.5"), utc(2026, 1, 6, 18, 0), D(0), "6004"),
        ("error", 28, "Direction"),
    ]
    segments = [r.segment for r in rows if isinstance(r, ParsedRow)]
    assert segments == ["currency", "currency", "commodity", None]


def test_mt5_server_time_zone_is_an_option() -> None:
    first = parse("mt5_report.html", ParseOptions(timezone="Europe/Athens"))[0]
    assert isinstance(first, ParsedRow)
    assert first.executed_at == utc(2026, 1, 5, 8, 0, 2)  # EET = UTC+2 in January


def test_mt5_localized_headers_and_decimal_commas() -> None:
    assert [brief(r) for r in parse("mt5_report_ru.html")] == [
        (6, "XAUUSD", "buy", D(5), D("4577.86"), utc(2026, 2, 2, 11, 0), D("1.50"), "9101"),
    ]


def test_mt5_xlsx_deals() -> None:
    assert [brief(r) for r in parse("mt5_report.xlsx")] == [
        (14, "EURUSD", "buy", D(10000), D("1.085"), utc(2026, 1, 5, 10, 0, 2), D("0.35"), "6001"),
        (15, "EURUSD", "sell", D(10000), D("1.0862"), utc(2026, 1, 5, 14, 30), D("0.47"), "6002"),
        (16, "XAUUSDM", "sell", D(2), D("4577.86"), utc(2026, 1, 6, 16, 20, 5), D(0), "6003"),
        ("error", 17, "Time"),  # month 13
    ]


def test_mt4_closed_position_is_two_executions() -> None:
    rows = parse("mt4_statement.html")
    assert [brief(r) for r in rows] == [
        # the duplicated Price header: open price first, close price second
        (18, "EURUSD", "buy", D(20000), D("1.084"), utc(2026, 1, 5, 9, 15), D("1.65"), "30002-open"),
        (18, "EURUSD", "sell", D(20000), D("1.0865"), utc(2026, 1, 5, 17, 45, 30), D(0), "30002-close"),
        (19, "XAUUSD", "sell", D(1), D("4600.10"), utc(2026, 1, 6, 10, 0), D(0), "30003-open"),
        (19, "XAUUSD", "buy", D(1), D("4590.10"), utc(2026, 1, 6, 12, 0), D(0), "30003-close"),
        ("error", 21, "Close Time"),  # closes before it opens (wrong-order dates)
        # an open trade: only its opening fill
        (28, "USDJPY", "sell", D(5000), D("156.25"), utc(2026, 1, 9, 11, 0), D("0.35"), "30010-open"),
    ]


def test_thinkorswim_trade_history_with_fees_from_cash_balance() -> None:
    rows = parse("thinkorswim.csv")
    assert [brief(r) for r in rows] == [
        # matched a TRD line 1 s later that charged nothing
        (20, "AAPL", "buy", D(100), D("170.00"), utc(2025, 5, 1, 12, 35), D(0), None),
        # the vertical: fee (0.04 + 2.60) on the first leg; the continuation row inherits the time
        (21, "SPY250620C00550000", "buy", D(200), D("3.10"), utc(2025, 5, 1, 13, 0), D("2.64"), None),
        (22, "SPY250620C00555000", "sell", D(200), D("1.90"), utc(2025, 5, 1, 13, 0), D(0), None),
        (23, "AAPL", "sell", D(100), D("172.50"), utc(2025, 5, 2, 14, 14, 59), D("0.01"), None),
        ("error", 24, "Price"),
    ]


def test_thinkorswim_section_ends_at_the_next_title(tmp_path: Path) -> None:
    text = (FIXTURES / "thinkorswim.csv").read_text().replace("MKT\n\nProfits and Losses", "MKT\nProfits and Losses")
    assert "MKT\nProfits and Losses" in text
    path = tmp_path / "statement.csv"
    path.write_text(text)
    assert [brief(r) for r in registry.parse_file(path)[1]] == [brief(r) for r in parse("thinkorswim.csv")]


def test_thinkorswim_unmatched_order_has_no_fee(tmp_path: Path) -> None:
    text = (FIXTURES / "thinkorswim.csv").read_text().replace("5/2/25,10:15:00,TRD", "5/2/25,10:20:00,TRD")
    path = tmp_path / "statement.csv"
    path.write_text(text)
    _, rows = registry.parse_file(path)
    sell = [r for r in rows if isinstance(r, ParsedRow) and r.side == "sell" and r.symbol == "AAPL"]
    assert [r.fees for r in sell] == [None]


def test_schwab_trades_only() -> None:
    rows = parse("schwab.csv")
    assert [brief(r) for r in rows] == [
        # "as of" is the trade date; day-level at noon New York
        (2, "AAPL", "buy", D(50), D("195.10"), utc(2025, 12, 15, 17, 0), None, None),
        (3, "AAPL", "sell", D(50), D("197.40"), utc(2025, 12, 17, 17, 0), D("0.07"), None),
        (5, "SPY260620C00600000", "buy", D(200), D("12.35"), utc(2025, 12, 18, 17, 0), D("1.32"), None),
        ("error", 7, "Price"),
    ]
    assert all(r.day_level for r in rows if isinstance(r, ParsedRow))


def test_robinhood_fees_from_amount() -> None:
    rows = parse("robinhood.csv")
    assert [brief(r) for r in rows] == [
        (2, "AMD", "buy", D(10), D("150.00"), utc(2026, 1, 6, 17, 0), D(0), None),
        # 10 x 155.25 = 1,552.50 sold for 1,552.46 credited: 0.04 of fees
        (3, "AMD", "sell", D(10), D("155.25"), utc(2026, 1, 7, 17, 0), D("0.04"), None),
        (4, "SPY260620C00600000", "buy", D(100), D("12.50"), utc(2026, 1, 8, 17, 0), D("0.04"), None),
        ("error", 6, "Quantity"),
    ]


def test_webull_filled_orders_at_average_price() -> None:
    rows = parse("webull.csv")
    assert [brief(r) for r in rows] == [
        (2, "TSLA", "buy", D(10), D("249.95"), utc(2026, 6, 1, 13, 30, 12), None, None),
        (3, "TSLA", "sell", D(10), D("260.10"), utc(2026, 6, 2, 14, 0, 1), None, None),
        (5, "AAPL", "buy", D(5), D("181.00"), utc(2026, 12, 1, 14, 45, 3), None, None),  # EST = UTC-5
        ("error", 6, "Filled Time"),
    ]


def test_tradovate_leading_spaces_and_contract() -> None:
    rows = parse("tradovate.csv")
    assert [brief(r) for r in rows] == [
        (2, "MESZ5", "buy", D(2), D("6012.25"), utc(2025, 11, 20, 14, 31, 2), None, "210001"),
        (3, "MESZ5", "sell", D(2), D("6020.50"), utc(2025, 11, 20, 15, 2, 45), None, "210003"),
        ("error", 5, "Product"),  # MNQZ5 labelled MES
    ]
    assert {r.segment for r in rows if isinstance(r, ParsedRow)} == {"futures"}


EXEC = "1b2c3d4e5f60718293a4b5c6d7e8f9"  # the middle of the fixture's execution ids


def test_ninjatrader_us_locale() -> None:
    rows = parse("ninjatrader_us.csv")
    assert [brief(r) for r in rows] == [
        (2, "ES 12-25", "buy", D(1), D("6010.25"), utc(2025, 11, 20, 14, 31, 2), D("2.09"), f"a{EXEC}0"),
        (3, "ES 12-25", "sell", D(1), D("6015.50"), utc(2025, 11, 20, 19, 45, 10), D("2.09"), f"b{EXEC}1"),
        (4, "NQ 12-25", "sell", D(2), D(21000), utc(2025, 11, 21, 15, 0), D("4.18"), f"c{EXEC}2"),
        ("error", 5, "Action"),
    ]  # fmt: skip


def test_ninjatrader_european_locale() -> None:
    # ';' separators, decimal commas, day-first dates, a euro sign after the commission
    rows = parse("ninjatrader_eu.csv", ParseOptions(timezone="Europe/Berlin"))
    assert [brief(r) for r in rows] == [
        (2, "FDAX 12-25", "buy", D(1), D("23450.5"), utc(2025, 11, 20, 8, 5, 1), D("2.20"),
         "e1b2c3d4e5f60718293a4b5c6d7e8f94"),
        (3, "FDAX 12-25", "sell", D(1), D(23461), utc(2025, 11, 20, 16, 30, 59), D("2.20"),
         "f1b2c3d4e5f60718293a4b5c6d7e8f95"),
    ]  # fmt: skip


def test_template_rows() -> None:
    rows = parse("template.csv")
    assert [brief(r) for r in rows] == [
        (2, "RELIANCE", "buy", D(10), D("2950.50"), utc(2026, 3, 2, 3, 45, 4), D("12.40"), "T1001"),
        (3, "RELIANCE", "sell", D(10), D("2961.00"), utc(2026, 3, 2, 9, 40), D("12.90"), "T1002"),  # +05:30
        (4, "AAPL", "buy", D(5), D("190.00"), utc(2026, 3, 3, 14, 30), D("1.00"), None),  # Z
        ("error", 5, "timezone"),
        ("error", 6, "side"),
    ]
    first = rows[0]
    assert isinstance(first, ParsedRow)
    assert (first.exchange, first.segment, first.product, first.broker_order_id) == ("NSE", "equity", "MIS", "O501")


def test_template_without_zone_needs_the_accounts_zone(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("date,time,symbol,side,quantity,price\n2026-03-02,09:15:00,INFY,buy,1,1500\n")
    assert [brief(r) for r in registry.parse_file(path)[1]] == [("error", 2, "timezone")]
    rows = list(registry.parse_file(path, ParseOptions(timezone="Asia/Kolkata"))[1])
    assert [brief(r) for r in rows] == [(2, "INFY", "buy", D(1), D(1500), utc(2026, 3, 2, 3, 45), None, None)]


def test_the_documented_example_parses(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "import-template.md"
    example = doc.read_text().split("```csv\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.csv"
    path.write_text(example)
    parser, rows = registry.parse_file(path)
    parsed = list(rows)
    assert parser.name == "generic_template_csv"
    assert len(parsed) >= 3
    assert all(isinstance(r, ParsedRow) for r in parsed), parsed


MAPPING = {
    "date": "Trade Day",
    "time": "Clock",
    "symbol": "Ticker",
    "side": "Direction",
    "quantity": "Units",
    "price": "Fill Price",
    "fees": "Charges",
    "broker_trade_id": "Ref",
}


def test_mapped_file() -> None:
    rows = parse("mapped_unknown.csv", ParseOptions(timezone="Asia/Kolkata", mapping=MAPPING), "mapped")
    assert [brief(r) for r in rows] == [
        # ';' file: decimal commas; 03/04/2026 is day-first (3 April)
        (2, "TCS", "buy", D(4), D("3500.50"), utc(2026, 4, 3, 3, 50), D("5.10"), "X-1"),
        (3, "TCS", "sell", D(4), D(3525), utc(2026, 4, 3, 9, 30), D("5.20"), "X-2"),
        ("error", 4, "date"),  # 31 April
    ]


def test_mapped_file_with_explicit_date_format() -> None:
    options = ParseOptions(timezone="Asia/Kolkata", mapping={**MAPPING, "date_format": "%m/%d/%Y"})
    first = parse("mapped_unknown.csv", options, "mapped")[0]
    assert isinstance(first, ParsedRow)
    assert first.executed_at == utc(2026, 3, 4, 3, 50)


def test_mapped_errors() -> None:
    with pytest.raises(InvalidMapping):
        parse("mapped_unknown.csv", ParseOptions(mapping={"symbol": "Ticker"}), "mapped")
    with pytest.raises(InvalidMapping):
        parse("mapped_unknown.csv", ParseOptions(mapping={**MAPPING, "colour": "Ticker"}), "mapped")
    with pytest.raises(MissingColumns) as missing:
        parse("mapped_unknown.csv", ParseOptions(mapping={**MAPPING, "price": "Avg Price"}), "mapped")
    assert missing.value.missing == ["price"]


def test_unknown_file_names_its_headers_and_has_a_stable_signature(tmp_path: Path) -> None:
    source = Source.open(FIXTURES / "mapped_unknown.csv")
    with pytest.raises(UnknownFormat) as unknown:
        registry.detect(source)
    assert "Trade Day" in unknown.value.detail and "Fill Price" in unknown.value.detail
    assert headers_of(source) == ["Trade Day", "Clock", "Ticker", "Direction", "Units", "Fill Price", "Charges", "Ref"]
    respelled = tmp_path / "other.csv"
    respelled.write_text(
        "trade day ; CLOCK;ticker;direction;units;fill price;charges;REF\n01/01/2026;1;A;BUY;1;1;1;x\n"
    )
    assert header_signature(Source.open(respelled)) == header_signature(source)
    different = tmp_path / "different.csv"
    different.write_text("Trade Day;Clock;Ticker\n01/01/2026;1;A\n")
    assert header_signature(Source.open(different)) != header_signature(source)


# --------------------------------------------------------------------------- missing columns, no rows

# format -> (fixture, header line index (0-based), a required column to drop)
CSV_CASES = {
    "ibkr_flex_csv": ("ibkr_flex.csv", 0, "Quantity"),
    "ibkr_activity_csv": ("ibkr_activity.csv", 6, "T. Price"),
    "thinkorswim_statement_csv": ("thinkorswim.csv", 18, "Qty"),
    "schwab_transactions_csv": ("schwab.csv", 0, "Action"),
    "robinhood_activity_csv": ("robinhood.csv", 0, "Trans Code"),
    "webull_orders_csv": ("webull.csv", 0, "Avg Price"),
    "tradovate_orders_csv": ("tradovate.csv", 0, "B/S"),
    "ninjatrader_executions_csv": ("ninjatrader_us.csv", 0, "ID"),
    "generic_template_csv": ("template.csv", 0, "side"),
}


def _lines(fixture: str) -> list[str]:
    return (FIXTURES / fixture).read_text().splitlines(keepends=True)


@pytest.mark.parametrize("format_name", sorted(CSV_CASES))
def test_missing_column(format_name: str, tmp_path: Path) -> None:
    fixture, at, column = CSV_CASES[format_name]
    lines = _lines(fixture)
    header = next(csv.reader([lines[at]]))
    assert column in header
    kept = [c for c in header if c != column]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(kept)
    lines[at] = buffer.getvalue()
    path = tmp_path / "file.csv"
    path.write_text("".join(lines))
    with pytest.raises(MissingColumns):
        list(registry.parse_file(path, format_name=format_name)[1])


@pytest.mark.parametrize("format_name", sorted(CSV_CASES))
def test_header_without_rows(format_name: str, tmp_path: Path) -> None:
    fixture, at, _ = CSV_CASES[format_name]
    path = tmp_path / "file.csv"
    path.write_text("".join(_lines(fixture)[: at + 1]))
    parser, rows = registry.parse_file(path)
    assert parser.name == format_name
    with pytest.raises(NoRows):
        list(rows)


MT5_EMPTY = (
    "<html><head><title>1: T - Trade History Report</title></head><body><table>"
    "<tr><th colspan=14><b>Deals</b></th></tr>"
    "<tr><td>Time</td><td>Deal</td><td>Symbol</td><td>Type</td><td>Direction</td><td>Volume</td>"
    "<td>Price</td><td>Order</td><td>Commission</td><td>Fee</td><td>Swap</td><td>Profit</td></tr>"
    "<tr><td>2026.01.02 09:00:00</td><td>1</td><td></td><td>balance</td><td></td><td></td><td></td><td></td>"
    "<td>0</td><td>0</td><td>0</td><td>100</td></tr>"
    "</table></body></html>"
)
MT4_EMPTY = (
    "<html><head><title>Statement: 1</title></head><body><table>"
    "<tr><td colspan=13><b>Closed Transactions:</b></td></tr>"
    "<tr><td>Ticket</td><td>Open Time</td><td>Type</td><td>Size</td><td>Item</td><td>Price</td><td>S / L</td>"
    "<td>T / P</td><td>Close Time</td><td>Price</td><td>Commission</td><td>Taxes</td><td>Swap</td><td>Profit</td></tr>"
    "<tr><td colspan=13><b>Summary:</b></td></tr>"
    "</table></body></html>"
)


@pytest.mark.parametrize(("format_name", "html"), [("mt5_report_html", MT5_EMPTY), ("mt4_statement_html", MT4_EMPTY)])
def test_html_header_without_rows(format_name: str, html: str, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(html)
    parser, rows = registry.parse_file(path)
    assert parser.name == format_name
    with pytest.raises(NoRows):
        list(rows)


@pytest.mark.parametrize(
    ("format_name", "html", "drop"),
    [("mt5_report_html", MT5_EMPTY, "<td>Direction</td>"), ("mt4_statement_html", MT4_EMPTY, "<td>Item</td>")],
)
def test_html_missing_column(format_name: str, html: str, drop: str, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(html.replace(drop, ""))
    with pytest.raises(MissingColumns):
        list(registry.parse_file(path, format_name=format_name)[1])


def test_mt5_xlsx_missing_column_and_no_rows(tmp_path: Path) -> None:
    import openpyxl

    header = ["Time", "Deal", "Symbol", "Type", "Direction", "Volume", "Price", "Order", "Commission", "Fee", "Swap"]
    for drop, error in ((None, NoRows), ("Volume", MissingColumns)):
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        assert sheet is not None
        sheet.append(["Trade History Report"])
        sheet.append(["Deals"])
        sheet.append([h for h in header if h != drop])
        path = tmp_path / f"{drop}.xlsx"
        workbook.save(path)
        with pytest.raises(error):
            list(registry.parse_file(path, format_name="mt5_report_xlsx")[1])


def test_mapped_workbook_with_signed_quantities(tmp_path: Path) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["My trades export"])
    sheet.append(["When", "Instrument", "Qty", "Px"])
    sheet.append([datetime(2026, 5, 4, 10, 0, 5), "HDFCBANK", 25, 1650.5])
    sheet.append([datetime(2026, 5, 4, 14, 0), "HDFCBANK", -25, 1662.25])
    sheet.append(["yesterday", "HDFCBANK", 5, 1600])
    path = tmp_path / "mine.xlsx"
    workbook.save(path)
    source = Source.open(path)
    assert headers_of(source) == ["When", "Instrument", "Qty", "Px"]
    mapping = {"datetime": "When", "symbol": "Instrument", "quantity": "Qty", "price": "Px"}
    rows = list(registry.parse_file(path, ParseOptions(timezone="Asia/Kolkata", mapping=mapping), "mapped")[1])
    assert [brief(r) for r in rows] == [
        (3, "HDFCBANK", "buy", D(25), D("1650.5"), utc(2026, 5, 4, 4, 30, 5), None, None),
        (4, "HDFCBANK", "sell", D(25), D("1662.25"), utc(2026, 5, 4, 8, 30), None, None),  # negative = sell
        ("error", 5, "datetime"),
    ]


def test_mapped_date_column_holding_date_times(tmp_path: Path) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Trade date", "Scrip", "Quantity", "Rate"])
    sheet.append([datetime(2026, 5, 4, 10, 0, 5), "SBIN", 10, 800])  # a date-time: the time is kept
    sheet.append([datetime(2026, 5, 5), "SBIN", -10, 810])  # a bare date: day-level
    path = tmp_path / "dates.xlsx"
    workbook.save(path)
    mapping = {"date": "Trade date", "symbol": "Scrip", "quantity": "Quantity", "price": "Rate"}
    rows = list(registry.parse_file(path, ParseOptions(timezone="Asia/Kolkata", mapping=mapping), "mapped")[1])
    assert [(r.executed_at, r.day_level) for r in rows if isinstance(r, ParsedRow)] == [
        (utc(2026, 5, 4, 4, 30, 5), False),
        (utc(2026, 5, 5, 6, 30), True),
    ]


def test_ibkr_flex_with_header_and_trailer_records(tmp_path: Path) -> None:
    """Flex queries "with header and trailer records": BOF/BOA/BOS rows, a record type and section
    code before each row, and one header per account block."""
    lines = (FIXTURES / "ibkr_flex.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:3]
    body = [
        '"BOF","U1234567","Trades","1","20260105","20260105","20260106;101010","Trades"',
        '"BOA","U1234567"',
        '"BOS","TRNT","Trades; trade date basis"',
        f'"HEADER","TRNT",{header}',
        *(f'"DATA","TRNT",{row}' for row in rows),
        '"EOS","TRNT","2"',
        '"EOA","U1234567"',
        '"BOA","U7654321"',
        f'"HEADER","TRNT",{header}',
        f'"DATA","TRNT",{rows[0].replace("401001", "501001")}',
        '"EOA","U7654321"',
        '"EOF","U1234567"',
    ]
    path = tmp_path / "flex.csv"
    path.write_text("\n".join(body) + "\n")
    parser, parsed = registry.parse_file(path)
    assert parser.name == "ibkr_flex_csv"
    assert [(r.line, r.broker_trade_id) for r in parsed if isinstance(r, ParsedRow)] == [
        (5, "401001"),
        (6, "401002"),
        (11, "501001"),
    ]


NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def test_dimension_search_stops_at_the_sheet_data() -> None:
    """openpyxl looks for a sheet's <dimension> when it opens it; without one it used to read to
    </sheetData> (every row, before we read them again). Ours stops where the rows begin."""
    from openpyxl.worksheet._reader import WorkSheetParser

    from tj_imports.formats.base import iter_sheet_rows

    assert [name for name, _ in iter_sheet_rows(FIXTURES / "mt5_report.xlsx")] == ["Sheet1"]  # installs it
    rows_then_garbage = f'<worksheet xmlns="{NS}"><sheetData><row r="1"><c r="A1"><v>1</v></c></row><<<'.encode()
    assert WorkSheetParser(io.BytesIO(rows_then_garbage), []).parse_dimensions() is None
    sized = f'<worksheet xmlns="{NS}"><dimension ref="A1:C9"/><sheetData></sheetData></worksheet>'.encode()
    assert WorkSheetParser(io.BytesIO(sized), []).parse_dimensions() == (1, 1, 3, 9)


def test_workbook_without_a_dimension_record(tmp_path: Path) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)  # writes no <dimension>
    sheet = workbook.create_sheet("Sheet1")
    sheet.append(["Trade History Report"])
    sheet.append(["Deals"])
    sheet.append(["Time", "Deal", "Symbol", "Type", "Direction", "Volume", "Price", "Order", "Commission"])
    sheet.append(["2026.01.05 10:00:02", 6001, "EURUSD", "buy", "in", 0.1, 1.085, 8001, -0.35])
    sheet.append(["2026.01.05 14:30:00", 6002, "EURUSD", "sell", "out", 0.1, 1.0862, 8002, -0.35])
    path = tmp_path / "report.xlsx"
    workbook.save(path)
    parser, rows = registry.parse_file(path)
    assert parser.name == "mt5_report_xlsx"
    assert [brief(r) for r in rows] == [
        (4, "EURUSD", "buy", D(10000), D("1.085"), utc(2026, 1, 5, 10, 0, 2), D("0.35"), "6001"),
        (5, "EURUSD", "sell", D(10000), D("1.0862"), utc(2026, 1, 5, 14, 30), D("0.35"), "6002"),
    ]


@pytest.mark.parametrize("fixture", ["mapped_unknown.csv", "template.csv", "thinkorswim.csv", "mt5_report.xlsx"])
def test_signature_of_a_file_is_the_one_mappings_are_stored_under(fixture: str) -> None:
    # The mappings endpoint keys a saved mapping by the headers the client sends; the import
    # finds it again from the file: the two must agree.
    from tj_imports.handlers import header_signature as stored_signature

    source = Source.open(FIXTURES / fixture)
    assert stored_signature(headers_of(source)) == header_signature(source)
    assert stored_signature([f"  {h.upper()} " for h in headers_of(source)]) == header_signature(source)
