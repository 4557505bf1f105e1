"""Indian broker files: detection, the exact normalised rows, bad rows and broken headers (unit tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tj_imports.formats.base import (
    IST,
    MissingColumns,
    NoRows,
    ParsedRow,
    ParseOptions,
    RowError,
    Source,
    iter_csv,
)
from tj_imports.formats.parsers import zerodha
from tj_imports.formats.parsers.icici import icici_codes
from tj_imports.formats.parsers.india_common import (
    company_key,
    company_symbols,
    derivative,
    equity_symbol,
    locate_header,
    text_rows,
)
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


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("zerodha_equity.csv", "zerodha_tradebook_csv"),
        ("zerodha_fo.csv", "zerodha_tradebook_csv"),
        ("zerodha_bom.csv", "zerodha_tradebook_csv"),
        ("zerodha_bad_rows.csv", "zerodha_tradebook_csv"),
        ("zerodha_tradebook.xlsx", "zerodha_tradebook_xlsx"),
        ("upstox_trade.xlsx", "upstox_trade_xlsx"),
        ("angelone_trades_charges.xlsx", "angelone_trades_charges_xlsx"),
        ("dhan_trade_report.csv", "dhan_trade_report_csv"),
        ("fyers_tradebook.csv", "fyers_tradebook_csv"),
        ("fyers_tradebook_latin1.csv", "fyers_tradebook_csv"),
        ("fyers_tradebook_lower.csv", "fyers_tradebook_lower_csv"),
        ("icici_tradebook.csv", "icici_tradebook_csv"),
        ("groww_orders.xlsx", "groww_orders_xlsx"),
        ("kotak_trades.csv", "kotak_trades_csv"),
        ("paytm_tradebook.xlsx", "paytm_tradebook_xlsx"),
    ],
)
def test_detected_by_content(name: str, expected: str) -> None:
    assert_detected(name, expected)


@pytest.mark.parametrize(
    ("name", "format_name", "missing"),
    [
        ("zerodha_missing_price.csv", "zerodha_tradebook_csv", ["price"]),
        ("zerodha_tradebook_missing_price.xlsx", "zerodha_tradebook_xlsx", ["price"]),
        ("angelone_missing_quantity.xlsx", "angelone_trades_charges_xlsx", ["qty"]),
        ("dhan_missing_sell_value.csv", "dhan_trade_report_csv", ["sell_value"]),
        ("fyers_missing_qty.csv", "fyers_tradebook_csv", ["qty"]),
        ("icici_missing_price.csv", "icici_tradebook_csv", ["price"]),
        ("groww_missing_value.xlsx", "groww_orders_xlsx", ["value"]),
        ("kotak_missing_side.csv", "kotak_trades_csv", ["side"]),
    ],
)
def test_header_missing_a_required_column(name: str, format_name: str, missing: list[str]) -> None:
    """Detected from what the header still has, and rejected naming the lost column."""
    assert detect(Source.open(FIXTURES / name)).name == format_name
    with pytest.raises(MissingColumns) as caught:
        rows(name)
    assert caught.value.missing == missing


@pytest.mark.parametrize(
    "name",
    [
        "zerodha_header_only.csv",
        "upstox_header_only.xlsx",
        "dhan_header_only.csv",
        "fyers_header_only.csv",
        "paytm_header_only.xlsx",
    ],
)
def test_header_without_rows_is_no_rows(name: str) -> None:
    with pytest.raises(NoRows):
        rows(name)


def test_zerodha_csv_equity_rows() -> None:
    parsed = good("zerodha_equity.csv")
    assert parsed[0] == ParsedRow(
        line=2,
        symbol="RELIANCE",
        side="buy",
        quantity=Decimal("10"),
        price=Decimal("2950.15"),
        executed_at=utc(2026, 8, 24, 3, 50, 30),
        source_timezone=IST,
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


def test_zerodha_xlsx_banner_title_case_and_excel_dates() -> None:
    _, parsed = rows("zerodha_tradebook.xlsx")
    assert parsed == [
        ParsedRow(
            line=7,
            symbol="RELIANCE",
            side="buy",
            quantity=Decimal(10),
            price=Decimal("2950.15"),
            executed_at=utc(2026, 8, 24, 3, 50, 30),  # Excel serial 46258.389236... = 09:20:30 IST
            source_timezone=IST,
            exchange="NSE",
            segment="equity",
            broker_trade_id="81234501",
            broker_order_id="1300000012345678",
        ),
        ParsedRow(
            line=8,
            symbol="NIFTY26AUG24150PE",
            side="sell",
            quantity=Decimal(75),
            price=Decimal("98.1"),
            executed_at=utc(2026, 8, 24, 8, 32, 59),
            source_timezone=IST,
            exchange="NFO",
            segment="options",
            broker_trade_id="40000044",
            broker_order_id="1200000011113333",
        ),
        RowError(line=9, column="trade_type", reason="must be buy or sell", raw="short"),
    ]


def test_zerodha_csv_zone_override() -> None:
    _, parsed = parse_file(FIXTURES / "zerodha_equity.csv", ParseOptions(timezone="UTC"))
    first = next(iter(parsed))
    assert isinstance(first, ParsedRow)
    assert (first.executed_at, first.source_timezone) == (utc(2026, 8, 24, 9, 20, 30), "UTC")


# --------------------------------------------------------------------------- Upstox


def test_upstox_trade_sheet_rows() -> None:
    _, parsed = rows("upstox_trade.xlsx")
    assert [
        (r.line, r.symbol, r.exchange, r.segment, r.side, r.quantity, r.price, r.executed_at, r.broker_trade_id)
        for r in parsed
        if isinstance(r, ParsedRow)
    ] == [
        (12, "EXAMPLE TEXTILES LTD", "NSE", "equity", "buy", 10, 1000, utc(2026, 8, 24, 4, 45), "T1001"),
        (13, "NIFTY26AUG24150PE", "NFO", "options", "sell", 75, Decimal("112.5"), utc(2026, 8, 24, 5, 30, 5), "T1002"),
        # SENSEX as BSX on FOB; 20 Aug 2026 is a weekly expiry
        (14, "SENSEX2682081000CE", "BFO", "options", "buy", 20, Decimal("150.5"), utc(2026, 8, 24, 9), "T1003"),
        (15, "NIFTY26AUGFUT", "NFO", "futures", "buy", 75, 25000, utc(2026, 8, 24, 3, 50), "T1004"),
    ]
    assert [(r.line, r.column) for r in parsed if isinstance(r, RowError)] == [(16, "Instrument Type")]
    assert all(r.broker_order_id is None for r in parsed if isinstance(r, ParsedRow))


# --------------------------------------------------------------------------- Angel One


def test_angelone_rows_charges_and_brokerage_only_rows_skipped() -> None:
    _, parsed = rows("angelone_trades_charges.xlsx")
    assert parsed[0] == ParsedRow(
        line=6,
        symbol="NIFTY26AUG24150PE",
        side="buy",
        quantity=Decimal(75),
        price=Decimal("112.35"),
        executed_at=utc(2026, 8, 23, 18, 30),
        source_timezone=IST,
        exchange="NFO",
        segment="options",
        fees=Decimal("27.22"),
        charges={
            "brokerage": Decimal(20),
            "gst": Decimal("3.6"),
            "sebi_fees": Decimal("0.01"),
            "exchange_txn": Decimal("3.35"),
            "stamp_duty": Decimal("0.25"),
            "ipft": Decimal("0.01"),
        },
        broker_trade_id="2600000001",
        broker_order_id="1100000000000001",
        day_level=True,
    )
    sell, equity = parsed[1], parsed[2]
    assert isinstance(sell, ParsedRow) and isinstance(equity, ParsedRow)
    assert (sell.side, sell.price, sell.fees, sell.charges and sell.charges["stt"]) == (
        "sell",
        Decimal("98.1"),
        Decimal("33.90"),
        Decimal("7.36"),
    )
    assert (equity.symbol, equity.exchange, equity.segment, equity.executed_at, equity.day_level) == (
        "RELIANCE",
        "NSE",
        "equity",
        utc(2026, 8, 24, 4, 35),
        False,
    )
    # row 9 is brokerage-only (quantity 0, no trade id): skipped; row 10 has no price; the NOTE footer ends it
    assert parsed[3:] == [RowError(line=10, column="Buy Price", reason="a buy needs a Buy Price", raw=parsed[3].raw)]
    assert len(parsed) == 4


# --------------------------------------------------------------------------- Dhan


def test_dhan_day_level_buy_and_sell_per_row() -> None:
    parser, parsed = rows("dhan_trade_report.csv")
    assert all_parsers()[parser].day_level
    assert "day-level" in all_parsers()[parser].label
    got = [r for r in parsed if isinstance(r, ParsedRow)]
    assert len(got) == len(parsed) == 6
    assert all(r.day_level and r.broker_trade_id is None and r.broker_order_id is None for r in got)
    assert [(r.line, r.symbol, r.exchange, r.segment, r.side, r.quantity, r.price, r.executed_at) for r in got] == [
        (2, "NIFTY2640723000CE", "NFO", "options", "buy", 75, 100, utc(2026, 4, 5, 18, 30)),
        (2, "NIFTY2640723000CE", "NFO", "options", "sell", 75, 120, utc(2026, 4, 5, 18, 30)),
        (3, "WIPRO26APRFUT", "NFO", "futures", "buy", 3000, 245, utc(2026, 4, 6, 18, 30)),
        # the company name becomes its NSE symbol (india_company_names.csv)
        (4, "RELIANCE", "NSE", "equity", "sell", 10, Decimal("2950.55"), utc(2026, 4, 6, 18, 30)),
        (5, "CRUDEOIL26APRFUT", "MCX", "commodity", "buy", 100, 6000, utc(2026, 4, 7, 18, 30)),
        (5, "CRUDEOIL26APRFUT", "MCX", "commodity", "sell", 100, 6030, utc(2026, 4, 7, 18, 30)),
    ]
    # the row's charges are split by value (7,500 : 9,000) and add up to the row's total
    buy, sell = got[0], got[1]
    assert buy.charges == {
        "brokerage": Decimal("18.18"),
        "gst": Decimal("3.27"),
        "stt": Decimal("4.09"),
        "sebi_fees": Decimal("0.01"),
        "exchange_txn": Decimal("2.41"),
    }
    assert buy.fees is not None and sell.fees is not None
    assert buy.fees + sell.fees == Decimal("61.52")  # 40 + 7.20 + 9 + 0.02 + 5.30
    assert got[2].charges == {
        "brokerage": Decimal("20.00"),
        "gst": Decimal("3.60"),
        "sebi_fees": Decimal("0.74"),
        "stamp_duty": Decimal("15.00"),
        "exchange_txn": Decimal("1.50"),
    }


def test_dhan_bad_rows() -> None:
    _, parsed = rows("dhan_bad_rows.csv")
    assert [(r.line, r.column) for r in parsed if isinstance(r, RowError)] == [
        (2, "Date"),  # 31 February
        (3, "Buy Qty."),  # nothing bought or sold
        (4, "Buy Value"),
    ]
    assert [(r.line, r.price) for r in parsed if isinstance(r, ParsedRow)] == [(5, 1500)]


# --------------------------------------------------------------------------- Fyers


def test_fyers_preamble_dates_grouping_and_no_trade_ids() -> None:
    _, parsed = rows("fyers_tradebook.csv")
    assert parsed[0] == ParsedRow(
        line=6,
        symbol="NIFTY26AUG24150PE",
        side="buy",
        quantity=Decimal(75),
        price=Decimal("112.50"),
        executed_at=utc(2026, 8, 25, 9, 50, 21),  # "25 Aug 2026, 03:20:21 PM" IST
        source_timezone=IST,
        exchange="NFO",
        segment="options",
        broker_order_id="26082500012345",  # the OMS id; the exchange id is in scientific notation
        product="MIS",
    )
    assert all(r.broker_trade_id is None for r in parsed if isinstance(r, ParsedRow))
    equity = parsed[2]
    assert isinstance(equity, ParsedRow)
    assert (equity.symbol, equity.exchange, equity.quantity, equity.product) == ("SBIN", "NSE", 1500, "CNC")
    suspect = parsed[3]
    assert isinstance(suspect, RowError) and suspect.line == 9 and "suspect" in suspect.reason
    future = parsed[4]
    assert isinstance(future, ParsedRow)
    assert (future.symbol, future.segment, future.quantity, future.product) == (
        "RELIANCE26SEPFUT",
        "futures",
        Decimal("152250.00"),  # "1,52,250.00"
        "NRML",  # Overnight on a derivative
    )
    assert len(parsed) == 5


def test_fyers_latin1_file() -> None:
    source = Source.open(FIXTURES / "fyers_tradebook_latin1.csv")
    assert source.encoding in {"cp1252", "latin-1"}
    (row,) = good("fyers_tradebook_latin1.csv")
    assert (row.line, row.symbol, row.quantity) == (5, "SBIN", 10)


def test_fyers_lower_case_dialect() -> None:
    parsed = good("fyers_tradebook_lower.csv")
    assert [(r.symbol, r.exchange, r.segment, r.side, r.quantity, r.price, r.executed_at) for r in parsed] == [
        ("TATAMOTORS", "NSE", "equity", "buy", 20, Decimal("955.40"), utc(2026, 8, 21, 4, 0, 12)),
        ("BANKNIFTY26AUG52000CE", "NFO", "options", "sell", 35, Decimal("410.25"), utc(2026, 8, 21, 7, 35)),
    ]
    # a real order id is kept as the order id; a mangled one (1.26082E+11) is dropped; never a trade id
    assert [(r.broker_order_id, r.broker_trade_id) for r in parsed] == [("126082100001", None), (None, None)]


def test_fyers_bad_rows() -> None:
    _, parsed = rows("fyers_bad_rows.csv")
    assert [(r.line, r.column) for r in parsed if isinstance(r, RowError)] == [
        (2, "Date & time"),
        (3, "Side"),
        (4, "Qty"),
    ]
    assert [r.line for r in parsed if isinstance(r, ParsedRow)] == [5]


# --------------------------------------------------------------------------- ICICI Direct


def test_icici_codes_dates_and_charges() -> None:
    parsed = good("icici_tradebook.csv")
    assert parsed[0] == ParsedRow(
        line=2,
        symbol="JSWSTEEL",  # ICICI code JSWSTE
        side="buy",
        quantity=Decimal(25),
        price=Decimal("680.50"),
        executed_at=utc(2021, 9, 2, 18, 30),
        source_timezone=IST,
        exchange="NSE",
        segment="equity",
        fees=Decimal("52.60"),
        charges={
            "stt": Decimal("17.00"),
            "exchange_txn": Decimal("0.60"),
            "stamp_duty": Decimal("2.55"),
            "brokerage": Decimal("32.45"),
        },
        broker_order_id="20210903N900012345",
        day_level=True,
    )
    assert [(r.symbol, r.side, r.price, r.exchange, r.executed_at) for r in parsed[1:]] == [
        ("RELIANCE", "sell", Decimal("2380.00"), "NSE", utc(2021, 9, 2, 18, 30)),
        ("ZZUNKN", "buy", Decimal("12.34"), "BSE", utc(2025, 12, 16, 18, 30)),  # unknown code kept; "17-Dec-25"
    ]


def test_icici_bad_rows() -> None:
    _, parsed = rows("icici_bad_rows.csv")
    errors = [r for r in parsed if isinstance(r, RowError)]
    assert [(r.line, r.column, r.raw) for r in errors] == [(2, "Date", "2021-09-03"), (3, "STT", "x")]
    assert [r.line for r in parsed if isinstance(r, ParsedRow)] == [4]


# --------------------------------------------------------------------------- Groww


def test_groww_price_from_value_and_only_executed() -> None:
    _, parsed = rows("groww_orders.xlsx")
    assert parsed == [
        ParsedRow(
            line=7,
            symbol="EXBANK",
            side="buy",
            quantity=Decimal(3),
            price=Decimal("333.33333333"),  # 1000 / 3, to the 8 places the journal stores
            executed_at=utc(2026, 8, 24, 5, 0),
            source_timezone=IST,
            exchange="NSE",
            segment="equity",
            broker_order_id="1100000000012345",
        ),
        # row 8 was cancelled: not a trade, not an error
        ParsedRow(
            line=9,
            symbol="EXBANK",
            side="sell",
            quantity=Decimal(3),
            price=Decimal(370),
            executed_at=utc(2026, 8, 25, 9, 35),
            source_timezone=IST,
            exchange="BSE",
            segment="equity",
            broker_order_id="1100000000012347",
        ),
        RowError(line=10, column="Quantity", reason="quantity must be greater than zero", raw="0"),
    ]


# --------------------------------------------------------------------------- Kotak


def test_kotak_rows_and_derivative_exchanges() -> None:
    parsed = good("kotak_trades.csv")
    assert [(r.symbol, r.exchange, r.segment, r.side, r.quantity, r.price, r.executed_at) for r in parsed] == [
        ("INFY", "NSE", "equity", "buy", 40, Decimal("1502.25"), utc(2026, 8, 25, 3, 47, 44)),
        ("INFY", "NSE", "equity", "sell", 40, Decimal("1511.00"), utc(2026, 8, 25, 9, 29, 1)),
        ("NIFTY26AUG24150PE", "NFO", "options", "buy", 150, Decimal("101.05"), utc(2026, 8, 25, 4, 31, 30)),
        ("CRUDEOIL26SEPFUT", "MCX", "commodity", "sell", 100, Decimal("6012.00"), utc(2026, 8, 25, 14, 0)),
    ]
    assert [(r.broker_order_id, r.broker_trade_id) for r in parsed[:1]] == [("250825000012345", None)]


def test_kotak_bad_rows() -> None:
    _, parsed = rows("kotak_bad_rows.csv")
    assert [(r.line, r.column) for r in parsed if isinstance(r, RowError)] == [
        (2, "Security Name"),  # DERV but not a contract name
        (3, "Trade Time"),
        (4, "Market Rate"),
    ]
    assert [r.line for r in parsed if isinstance(r, ParsedRow)] == [5]


# --------------------------------------------------------------------------- Paytm Money


def test_paytm_rows_products_and_charges() -> None:
    _, parsed = rows("paytm_tradebook.xlsx")
    assert parsed[0] == ParsedRow(
        line=4,
        symbol="TATASTEEL",
        side="buy",
        quantity=Decimal(50),
        price=Decimal("150.25"),
        executed_at=utc(2026, 8, 24, 4, 15, 10),
        source_timezone=IST,
        exchange="NSE",
        segment="equity",
        fees=Decimal("8.91"),
        charges={
            "exchange_txn": Decimal("0.22"),
            "gst": Decimal("0.04"),
            "stt": Decimal("7.51"),
            "sebi_fees": Decimal("0.01"),
            "stamp_duty": Decimal("1.13"),
        },
        broker_trade_id="7700001",
        broker_order_id="2608240001",
        product="CNC",
    )
    assert [(r.symbol, r.exchange, r.segment, r.product) for r in parsed[1:3] if isinstance(r, ParsedRow)] == [
        ("TATASTEEL", "NSE", "equity", "MIS"),
        ("NIFTY26AUG24150PE", "NFO", "options", "NRML"),
    ]
    assert parsed[3] == RowError(line=7, column="Price", reason="not a number", raw="n/a")


# --------------------------------------------------------------------------- symbols


@pytest.mark.parametrize(
    ("name", "exchange", "symbol"),
    [
        ("OPTIDX NIFTY Aug 25 2026 24150.00 PE (BT)", "NFO", "NIFTY26AUG24150PE"),  # last Tuesday: monthly
        ("OPTIDX NIFTY Aug 18 2026 24150.00 PE", "NFO", "NIFTY2681824150PE"),  # weekly
        ("OPT NIFTY 07 Apr 2026 23000 CE", "NFO", "NIFTY2640723000CE"),
        ("OPT BANKNIFTY 26 Jun 2025 52000 CE", "NFO", "BANKNIFTY25JUN52000CE"),
        ("FUT WIPRO 28 Apr 2026", "NFO", "WIPRO26APRFUT"),
        ("FUTCOM CRUDEOIL 17 Apr 2026", "MCX", "CRUDEOIL26APRFUT"),
        ("OPTCOM CRUDEOIL 09 Apr 2026 6000 CE", "MCX", "CRUDEOIL26APR6000CE"),  # MCX options are monthly
        ("OPTCUR USDINR 24 Apr 2026 83.50 CE", "CDS", "USDINR26APR83.5CE"),
        ("NIFTY2560524750PE", "NFO", "NIFTY2560524750PE"),  # already a trading symbol
        ("RELIANCE25JULFUT", "NFO", "RELIANCE25JULFUT"),
    ],
)
def test_contract_names_to_trading_symbols(name: str, exchange: str, symbol: str) -> None:
    contract = derivative(name, exchange)
    assert contract is not None and contract.symbol == symbol


@pytest.mark.parametrize("name", ["RELIANCE INDUSTRIES LTD", "BANK OF BARODA", "OPTIDX NIFTY Aug 31 2026 24150 XX"])
def test_names_that_are_not_contracts(name: str) -> None:
    assert derivative(name, "NSE") is None


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("RELIANCE INDUSTRIES LTD", "RELIANCE"),
        ("Reliance Industries Limited", "RELIANCE"),
        ("DR. REDDY'S LABORATORIES LTD.", "DRREDDY"),
        ("MAHINDRA & MAHINDRA LTD", "M&M"),
        ("Larsen & Toubro Ltd", "LT"),
        ("GAIL (INDIA) LTD", "GAIL"),
        ("BAJAJ-AUTO LTD", "BAJAJ-AUTO"),
        ("INFY", "INFY"),  # already a symbol
        ("EXAMPLE TEXTILES LTD", "EXAMPLE TEXTILES LTD"),  # unknown: kept as written
    ],
)
def test_company_names_to_nse_symbols(name: str, symbol: str) -> None:
    assert equity_symbol(name, "Company") == symbol


def test_company_name_map_is_well_formed() -> None:
    symbols = company_symbols()
    assert len(symbols) > 150
    assert all(name == company_key(name) and symbol == symbol.strip().upper() for name, symbol in symbols.items())


def test_icici_code_map_is_well_formed() -> None:
    codes = icici_codes()
    assert codes["JSWSTE"] == "JSWSTEEL" and codes["RELIND"] == "RELIANCE"
    assert all(code.isalnum() and code.isupper() and symbol for code, symbol in codes.items())


def test_zerodha_csv_fast_path_agrees_with_the_checked_path() -> None:
    """The CSV hot path and the fully checked row function give the same executions."""
    source = Source.open(FIXTURES / "zerodha_fo.csv")
    found = locate_header(text_rows(source), zerodha.ALIASES, zerodha.REQUIRED, zerodha.SIGNATURE)
    assert found is not None
    make = zerodha._ZerodhaRows(found[1], IST)
    records = [(line, cells) for line, cells in iter_csv(source) if line > found[0]]
    assert len(records) == 5
    for line, cells in records:
        assert make.text_row(line, cells) == make.row(line, cells)
    # grouped digits are not on the hot path but still parse
    grouped = list(records[0][1])
    grouped[8] = "1,075.000000"
    assert make.text_row(2, grouped).quantity == Decimal(1075)


def test_kotak_utf16_with_bom_same_rows() -> None:
    assert Source.open(FIXTURES / "kotak_trades_utf16.csv").encoding == "utf-16"
    assert_detected("kotak_trades_utf16.csv", "kotak_trades_csv")
    assert good("kotak_trades_utf16.csv") == good("kotak_trades.csv")


def test_upstox_found_on_a_renamed_sheet() -> None:
    """Without a TRADE sheet the header signature alone still recognises the file."""
    assert_detected("upstox_renamed_sheet.xlsx", "upstox_trade_xlsx")
    (row,) = good("upstox_renamed_sheet.xlsx")
    assert (row.line, row.symbol, row.broker_trade_id) == (12, "EXAMPLE TEXTILES LTD", "T1001")
