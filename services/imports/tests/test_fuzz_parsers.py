"""Fuzzing every registered parser (Indian and global alike: the list comes from the registry):
whatever the bytes, opening, detecting, sniffing and parsing a file ends in rows, row errors or a
typed :class:`ImportFileError` — never another exception — and every row is a valid execution.

Inputs: fixture files mutated byte-wise; CSV text built from the fixtures' own header lines with
generated cells; and workbooks with those headers and cells of every type openpyxl writes.
``TJ_FUZZ_EXAMPLES`` sets the examples per strategy (200 by default; ``make fuzz`` runs 10,000).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tj_imports.formats import registry
from tj_imports.formats.base import (
    FormatParser,
    ImportFileError,
    ParsedRow,
    ParseOptions,
    RowError,
    Source,
)

EXAMPLES = int(os.environ.get("TJ_FUZZ_EXAMPLES", "200"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MAX_ROWS = 3000  # rows taken from one parse: enough to cross every section of a mutated fixture
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def _fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix in {".csv", ".html", ".xlsx", ".txt"})


SEEDS = {p.relative_to(FIXTURES).as_posix(): p.read_bytes() for p in _fixture_files()}


def _header_lines() -> list[str]:
    """Lines of the text fixtures that look like headers or sections (3+ separators, no digits
    in the first cell), so generated files reach each parser's row code."""
    lines: set[str] = set()
    for name, data in SEEDS.items():
        if not name.endswith(".csv"):
            continue
        utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
        text = data.decode("utf-16" if utf16 else "utf-8", errors="replace").lstrip("\ufeff")
        for line in text.splitlines()[:30]:
            if max(line.count(","), line.count(";")) >= 3 and not any(ch.isdigit() for ch in line.split(",")[0]):
                lines.add(line)
    return sorted(lines)


HEADERS = _header_lines()

# Values brokers write, and values they should not.
TOKENS = [
    "", " ", "0", "-1", "1", "100", "0.05", "1,52,250.00", "4 577,86", "(250.00)", "$1,234.50", "₹10", "1e999",
    "NaN", "Infinity", "-0", "99999999999999999999999", "2.2E+15", "buy", "SELL", " Buy", "BTO", "in", "out",
    "Filled", " Filled", "Executed", "Entry", "Exit", "2026-01-05", "20260105;093000", "2026.01.05 10:00:02",
    "05-01-2026", "31-02-2026", "5/1/25 08:35:00", "25 Aug 2026, 03:20:21 PM", "06/01/2026 07:21:12 EDT",
    "12/16/2025 as of 12/15/2025", "2026-01-05T09:30:00", "9999-12-31 23:59:59", "0001-01-01", "00:00:00",
    "25:61:61", "AAPL", "RELIANCE", "NIFTY2560524750PE", "BANKNIFTY25JUN52000CE", "MESZ5", "ES 12-25",
    "SPY 06/20/2026 600.00 C", "OPTIDX NIFTY Aug 25 2026 24150.00 PE (BT)", "EURUSD", "XAUUSDm", "/ESZ25",
    "CALL", "PUT", "20 JUN 25", "NSE", "BSE", "NFO", "MCX", "Trades", "Header", "Data", "Order", "Deals",
    "=cmd|' /C calc'!A0", '"', "'", ";", ",", "\t", "<td>", "\x00", "\ufeff", "é", "ü", "🙂", "a" * 300,
]  # fmt: skip
MUTATION_TOKENS = [t.encode("utf-8", errors="replace") for t in TOKENS] + [
    b"\n",
    b"\r\n",
    b"\r",
    b'"',
    b"<tr>",
    b"</td><td>",
    b"</table>",
    b"<!--",
    b"<![foo[",
    b"<!DOCTYPE [",
    b"&#0;",
    b"&amp;",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3",
    b"\x80\x81",
]

cells = st.one_of(st.sampled_from(TOKENS), st.text(max_size=20), st.integers(-(10**12), 10**12).map(str))


def _options(parser: FormatParser, source: Source, zone: str | None) -> ParseOptions:
    if parser.name != "mapped":
        return ParseOptions(timezone=zone)
    headers = [h for h in source.header_cells() if h]
    fields = ["date", "time", "symbol", "side", "quantity", "price", "fees", "broker_trade_id"]
    return ParseOptions(timezone=zone or "Asia/Kolkata", mapping=dict(zip(fields, headers, strict=False)))


def _check_row(parser: FormatParser, item: object) -> None:
    assert isinstance(item, (ParsedRow, RowError)), (parser.name, item)
    if isinstance(item, RowError):
        assert item.line >= 0 and item.reason, (parser.name, item)
        return
    assert item.quantity > 0, (parser.name, item)
    assert item.price >= 0, (parser.name, item)
    assert item.quantity.is_finite() and item.price.is_finite(), (parser.name, item)
    assert item.executed_at.tzinfo is not None and item.executed_at.utcoffset() == UTC.utcoffset(None), item
    assert item.side in {"buy", "sell"} and item.symbol, (parser.name, item)
    assert item.fees is None or (item.fees.is_finite() and item.fees >= 0), (parser.name, item)


def _exercise(path: Path, zone: str | None) -> None:
    """Open, detect, then sniff and parse with every parser; only typed errors may escape."""
    try:
        source = Source.open(path)
    except ImportFileError:
        return
    try:
        registry.detect(source)
    except ImportFileError:
        pass
    for parser in registry.all_parsers().values():
        try:
            score = parser.sniff(source)
            assert isinstance(score, int) and score >= 0, (parser.name, score)
        except ImportFileError:
            pass
        try:
            for count, item in enumerate(parser.parse(source, _options(parser, source, zone))):
                _check_row(parser, item)
                if count >= MAX_ROWS:
                    break
        except ImportFileError:
            pass


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tj-fuzz-") as directory:
        yield Path(directory)


def test_every_parser_is_registered() -> None:
    names = set(registry.all_parsers())
    assert {"ibkr_flex_csv", "mt5_report_html", "mt5_report_xlsx", "generic_template_csv", "mapped"} <= names
    assert len(SEEDS) >= 10 and HEADERS


def test_fixtures_themselves_parse_cleanly(scratch: Path) -> None:
    for data in SEEDS.values():
        path = scratch / "seed"
        path.write_bytes(data)
        _exercise(path, None)
        _exercise(path, "Asia/Kolkata")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "insert", "token", "delete", "duplicate", "truncate"]))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(MUTATION_TOKENS))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "duplicate":
            size = draw(st.integers(1, 512))
            data[at:at] = data[at : at + size]
        else:
            del data[at:]
    return bytes(data)


@FUZZ
@given(data=mutated(), zone=st.sampled_from([None, "Asia/Kolkata", "America/New_York", "Mars/Olympus", "../etc"]))
def test_mutated_fixtures(data: bytes, zone: str | None, scratch: Path) -> None:
    path = scratch / "mutated"
    path.write_bytes(data)
    _exercise(path, zone)


@st.composite
def generated_csv(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from(HEADERS))
    delimiter = ";" if header.count(";") > header.count(",") else ","
    width = len(header.split(delimiter))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    preamble = draw(st.lists(st.lists(cells, max_size=3), max_size=3))
    writer.writerows(preamble)
    buffer.write(header + "\n")
    rows = draw(st.lists(st.lists(cells, min_size=max(width - 2, 0), max_size=width + 2), max_size=12))
    writer.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return buffer.getvalue().encode(encoding, errors="replace")


@FUZZ
@given(data=generated_csv(), zone=st.sampled_from([None, "Asia/Kolkata"]))
def test_generated_csv(data: bytes, zone: str | None, scratch: Path) -> None:
    path = scratch / "generated.csv"
    path.write_bytes(data)
    _exercise(path, zone)


sheet_cells = st.one_of(
    cells,
    st.none(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=False, width=64),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
    st.dates(min_value=date(1900, 3, 1), max_value=date(2100, 1, 1)),
    st.times(),
)


def _cell(value: object) -> object:
    if isinstance(value, str):
        # openpyxl refuses control characters in cells; a broker's workbook cannot hold them either.
        return "".join(ch for ch in value if ch >= " " or ch in "\t\n")
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    return value


@st.composite
def generated_workbook(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from(HEADERS))
    delimiter = ";" if header.count(";") > header.count(",") else ","
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = draw(st.sampled_from(["Sheet1", "TRADE", "Deals", "Tradebook", "Orders"]))
    for row in draw(st.lists(st.lists(cells, max_size=3), max_size=4)):
        sheet.append([_cell(c) for c in row])
    sheet.append([_cell(c) for c in next(csv.reader([header], delimiter=delimiter))])
    width = len(header.split(delimiter))
    for row in draw(st.lists(st.lists(sheet_cells, min_size=max(width - 2, 0), max_size=width + 1), max_size=8)):
        sheet.append([_cell(c) for c in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@FUZZ
@given(data=generated_workbook(), zone=st.sampled_from([None, "Asia/Kolkata"]))
def test_generated_workbooks(data: bytes, zone: str | None, scratch: Path) -> None:
    path = scratch / "generated.xlsx"
    path.write_bytes(data)
    _exercise(path, zone)
