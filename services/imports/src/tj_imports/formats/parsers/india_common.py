"""What the Indian broker parsers share: header location by signature, and exchange trading symbols.

Brokers print derivatives in many ways (``OPTIDX NIFTY Aug 25 2026 24150.00 PE``,
``OPT NIFTY 07 Apr 2026 23000 CE``, separate expiry/strike/type columns); the journal keys on the
exchange trading symbol the trades service parses (``NIFTY2560524750PE``, ``BANKNIFTY25JUN52000CE``,
``RELIANCE25JULFUT``), so every parser formats the contract here.
"""

from __future__ import annotations

import csv
import re
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from tj_imports.formats.base import (
    Columns,
    FormatParser,
    MissingColumns,
    ParsedRow,
    ParseOptions,
    ParseResult,
    RowError,
    RowInvalid,
    Segment,
    Source,
    cell_text,
    iter_csv,
    iter_sheet_rows,
    norm,
    to_utc,
)

MONTHS = {
    m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
}
_MONTH_NAMES = {v: k for k, v in MONTHS.items()}
# Weekly option symbols spell the month as one character: 1-9, then O, N, D.
_WEEKLY_MONTH = {**{m: str(m) for m in range(1, 10)}, 10: "O", 11: "N", 12: "D"}


# --------------------------------------------------------------------------- headers


def locate_header(
    rows: Iterable[tuple[int, Sequence[Any]]],
    aliases: dict[str, Sequence[str]],
    required: Sequence[str],
    signature: int,
) -> tuple[int, Columns, list[str]] | None:
    """The first row that is this format's header: (line, columns, missing required fields).

    A row counts as the header when it names every required column, or at least ``signature`` of
    the format's columns (a recognised header that lost a column: the caller reports it missing).
    """
    partial: tuple[int, Columns, list[str]] | None = None
    for line, row in rows:
        columns = Columns(row, aliases)
        missing = columns.missing(required)
        if not missing:
            return line, columns, []
        if partial is None and len(columns.positions) >= signature:
            partial = (line, columns, missing)
    return partial


def sniff_rows(
    rows: Iterable[tuple[int, Sequence[Any]]],
    aliases: dict[str, Sequence[str]],
    required: Sequence[str],
    signature: int,
) -> int:
    """80 for a full header, + 1 per optional column named (the more specific match wins); 40 for a partial one."""
    found = locate_header(rows, aliases, required, signature)
    if found is None:
        return 0
    _, columns, missing = found
    if missing:
        return 40
    return 80 + len(columns.positions) - len(required)


def text_rows(source: Source) -> list[tuple[int, list[str]]]:
    """The sampled first lines of a text file as (line, cells)."""
    if source.kind != "text":
        return []
    return [(i, next(csv.reader([line]), [])) for i, line in enumerate(source.sample, 1)]


def sheet_rows(source: Source, sheet: str | None = None) -> list[tuple[int, list[Any]]]:
    """The sampled first rows of a workbook (one sheet, or every sheet) as (row, cells)."""
    rows: list[tuple[int, list[Any]]] = []
    for name, sheet_sample in source.sheets.items():
        if sheet is not None and norm(name) != norm(sheet):
            continue
        rows.extend((i, row) for i, row in enumerate(sheet_sample, 1))
    return rows


def csv_header(
    source: Source, label: str, aliases: dict[str, Sequence[str]], required: Sequence[str], signature: int
) -> tuple[int, Columns]:
    """Locate the header in a text file's first lines, or raise :class:`MissingColumns`."""
    found = locate_header(text_rows(source), aliases, required, signature)
    if found is None:
        raise MissingColumns(label, list(required))
    line, columns, missing = found
    if missing:
        raise MissingColumns(label, missing)
    return line, columns


def raw_of(row: Sequence[Any]) -> str:
    return ",".join(cell_text(c) for c in row)[:200]


def id_text(raw: object) -> str:
    """An id cell as text: a workbook's integral float ``12345678.0`` is ``12345678``."""
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, str):
        return raw.strip()
    return cell_text(raw)


def is_blank(row: Sequence[Any]) -> bool:
    return not any(cell_text(c) for c in row)


# --------------------------------------------------------------------------- values


def number(raw: object, column: str) -> Decimal:
    """A number, including Excel's scientific notation and Indian digit grouping (``1,52,250.00``)."""
    if isinstance(raw, bool):
        raise RowInvalid(column, "not a number", raw)
    if isinstance(raw, (int, float, Decimal)):
        value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
        if not value.is_finite():
            raise RowInvalid(column, "not a finite number", raw)
        return value
    text = cell_text(raw).replace(",", "").replace("₹", "").replace(" ", "")
    if not text:
        raise RowInvalid(column, "empty", raw)
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RowInvalid(column, "not a number", raw) from None
    if not value.is_finite():
        raise RowInvalid(column, "not a finite number", raw)
    return -value if negative else value


def optional_number(raw: object, column: str) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and raw.strip() in {"", "-", "--", "NA", "N/A"}):
        return None
    return number(raw, column)


def quantity_of(raw: object, column: str) -> Decimal:
    value = number(raw, column)
    if value <= 0:
        raise RowInvalid(column, "quantity must be greater than zero", raw)
    return value


def price_of(raw: object, column: str) -> Decimal:
    value = number(raw, column)
    if value < 0:
        raise RowInvalid(column, "price must not be negative", raw)
    return value


def charges_of(
    row: Sequence[Any], columns: Columns, names: dict[str, str], aliases: dict[str, Sequence[str]]
) -> tuple[Decimal | None, dict[str, Decimal] | None]:
    """Itemised charges (our charge name -> field) and their total; None when the row has none."""
    charges: dict[str, Decimal] = {}
    for charge, field_name in names.items():
        value = optional_number(columns.get(row, field_name), aliases[field_name][0])
        if value is not None and value != 0:
            charges[charge] = abs(value)
    if not charges:
        return None, None
    return sum(charges.values(), Decimal(0)), charges


def date_cell(raw: object, column: str, formats: Sequence[str]) -> datetime:
    """A date (or date-time) cell: a datetime, a date, an Excel serial or text in one of ``formats``."""
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=None)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if not 1 <= raw < 2_958_466:
            raise RowInvalid(column, "not a plausible Excel date", raw)
        # Whole seconds: a serial's float fraction lands a hair off (09:20:29.999997).
        return datetime(1899, 12, 30) + timedelta(seconds=round(float(raw) * 86400))
    text = " ".join(cell_text(raw).split())
    if not text:
        raise RowInvalid(column, "empty", raw)
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise RowInvalid(column, f"not a date in the expected form ({formats[0]})", raw)


def time_cell(raw: object, column: str) -> tuple[int, int, int]:
    """A time of day: a time/datetime cell, an Excel day fraction or ``HH:MM[:SS]`` (optionally AM/PM)."""
    if isinstance(raw, datetime):
        return raw.hour, raw.minute, raw.second
    if isinstance(raw, time):
        return raw.hour, raw.minute, raw.second
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and 0 <= raw < 1:
        seconds = round(float(raw) * 86400)
        return seconds // 3600, seconds // 60 % 60, seconds % 60
    text = " ".join(cell_text(raw).split()).upper()
    for fmt in ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.hour, parsed.minute, parsed.second
    raise RowInvalid(column, "not a time of day (HH:MM:SS)", raw)


def utc_of(local: datetime, zone: str, column: str) -> datetime:
    """Local wall time → aware UTC, rejecting implausible years (a typo, not a trade)."""
    if not 1990 <= local.year <= 2100:
        raise RowInvalid(column, "the date is not plausible", local.isoformat())
    return to_utc(local, zone)


def at(day: datetime, hms: tuple[int, int, int]) -> datetime:
    return day.replace(hour=hms[0], minute=hms[1], second=hms[2], microsecond=0)


_EIGHT_PLACES = Decimal("1E-8")


def average(value: Decimal, quantity: Decimal) -> Decimal:
    """Price from a total (value ÷ quantity), to the 8 decimal places the journal stores."""
    price = (value / quantity).quantize(_EIGHT_PLACES)
    tidy = price.normalize()
    return tidy if tidy.as_tuple().exponent <= 0 else price.quantize(Decimal(1))  # type: ignore[operator]


# --------------------------------------------------------------------------- symbols

_NOT_IN_SYMBOL = re.compile(r"[^A-Z0-9&._\-: ]+")


def clean_symbol(text: str, column: str) -> str:
    """Upper case, single spaces, only the characters a journal symbol may hold (names like ``DR. REDDY'S``)."""
    symbol = " ".join(_NOT_IN_SYMBOL.sub("", text.upper()).split())[:64]
    if not symbol:
        raise RowInvalid(column, "empty", text)
    return symbol


COMPANY_NAMES_FILE = Path(__file__).with_name("india_company_names.csv")
_NAME_PUNCTUATION = re.compile(r"[.,'()\"/]+")
_LEGAL_SUFFIX = re.compile(r"(?: (?:LTD|LIMITED|PVT|PRIVATE))+$")


def company_key(name: str) -> str:
    """A company name as compared with ``india_company_names.csv``: upper case, ``&`` read as AND,
    punctuation and a trailing LTD / LIMITED dropped, single spaces."""
    text = _NAME_PUNCTUATION.sub(" ", name.upper().replace("&", " AND ").replace("-", " "))
    return _LEGAL_SUFFIX.sub("", " ".join(text.split()))


def data_pairs(path: Path) -> Iterator[tuple[str, str]]:
    """The ``key,value`` lines of a documented data file next to the parsers (blank lines and
    ``#`` comments skipped), the value in upper case."""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(",")
        if key.strip() and value.strip():
            yield key.strip(), value.strip().upper()


@cache
def company_symbols() -> dict[str, str]:
    """Normalised company name -> NSE symbol, from the documented data file."""
    return {company_key(name): symbol for name, symbol in data_pairs(COMPANY_NAMES_FILE)}


def equity_symbol(name: str, column: str) -> str:
    """The NSE symbol of an equity row that names the company (``RELIANCE INDUSTRIES LTD`` →
    ``RELIANCE``); a name the map does not know, or a row that already holds a symbol, as written."""
    symbol = clean_symbol(name, column)
    return company_symbols().get(company_key(symbol), symbol)


def strike_text(strike: Decimal) -> str:
    """``24150.00`` → ``24150``; ``82.50`` → ``82.5``."""
    text = format(strike.normalize(), "f")
    return text


def is_monthly_expiry(expiry: date) -> bool:
    """Whether ``expiry`` is the month's last expiry of its series, i.e. no same-weekday expiry follows.

    Holds across the exchanges' weekday changes and holiday shifts: a weekly expiry is always at least
    a week before the monthly one, so only the monthly expiry has its next week in another month.
    """
    return (expiry + timedelta(days=7)).month != expiry.month


def future_symbol(underlying: str, expiry_year: int, expiry_month: int) -> str:
    return f"{underlying}{expiry_year % 100:02d}{_MONTH_NAMES[expiry_month]}FUT"


def option_symbol(underlying: str, expiry: date, strike: Decimal, right: str, *, monthly: bool | None = None) -> str:
    """NSE/BSE option trading symbol: monthly ``UNDERLYING YY MON STRIKE CE``, weekly ``UNDERLYING YY M DD STRIKE CE``.

    ``monthly`` None decides from the date (MCX and currency contracts: pass True, their expiries are
    not at month end)."""
    code = option_right(right)
    if code is None:
        raise ValueError("option type must be CE or PE")
    is_monthly = is_monthly_expiry(expiry) if monthly is None else monthly
    yy = f"{expiry.year % 100:02d}"
    if is_monthly:
        return f"{underlying}{yy}{_MONTH_NAMES[expiry.month]}{strike_text(strike)}{code}"
    return f"{underlying}{yy}{_WEEKLY_MONTH[expiry.month]}{expiry.day:02d}{strike_text(strike)}{code}"


def option_right(text: str) -> str | None:
    """CE / PE from ``CE``, ``Call``, ``European Put``, ``CA``/``PA`` (American); None if not an option type."""
    words = set(norm_words(text))
    if words & {"CE", "CALL", "C", "CA"}:
        return "CE"
    if words & {"PE", "PUT", "P", "PA"}:
        return "PE"
    return None


def norm_words(text: str) -> list[str]:
    return re.findall(r"[A-Z]+", text.upper())


def derivative_exchange(exchange: str) -> str:
    """The exchange code derivatives trade under: NSE → NFO, BSE → BFO; others unchanged."""
    exchange = exchange.upper()
    return {"NSE": "NFO", "NSEFO": "NFO", "NFO": "NFO", "BSE": "BFO", "BSEFO": "BFO", "BFO": "BFO"}.get(
        exchange, exchange
    )


def derivative_segment(exchange: str, is_option: bool) -> Segment:
    if exchange == "MCX":
        return "commodity"
    if exchange in {"CDS", "BCD"}:
        return "currency"
    return "options" if is_option else "futures"


# `OPTIDX NIFTY Aug 25 2026 24150.00 PE (BT)`, `OPT NIFTY 07 Apr 2026 23000 CE`, `FUT WIPRO 28 Apr 2026`,
# `FUTCOM CRUDEOIL 19 Sep 2026`, `NIFTY 28AUG2025 24500 CE`, `BAJAJ-AUTO-28-Aug-2025-FUT`.
_DESCRIPTIVE = re.compile(
    r"(?:(?P<kind>OPT|FUT)(?P<sub>IDX|STK|CUR|COM|IVX)?[\s-]+)?"
    r"(?P<u>[A-Z0-9&_.-]+?)[\s-]+"
    r"(?:(?P<mon1>[A-Z]{3})[A-Z]*[\s-]*(?P<day1>\d{1,2})|(?P<day2>\d{1,2})[\s-]*(?P<mon2>[A-Z]{3})[A-Z]*)"
    r"[\s,-]*(?P<year>\d{4}|\d{2})"
    r"(?:[\s-]+(?P<strike>\d+(?:\.\d+)?)[\s-]*(?P<right>CE|PE|CA|PA|CALL|PUT))?"
    r"(?:[\s-]*(?P<fut>FUT|FUTURES?))?"
    r"(?:\s*\(.*\))?",
)
# Exchange trading symbols as they are: monthly (`BANKNIFTY25JUN52000CE`, `RELIANCE25JULFUT`) and weekly
# (`NIFTY2560524750PE`).
_COMPACT = re.compile(
    r"[A-Z0-9&_-]+?\d{2}(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)(?:\d+(?:\.\d+)?(?:CE|PE)|FUT)"
    r"|[A-Z][A-Z&-]*\d{2}[1-9OND]\d{2}\d+(?:\.\d+)?(?:CE|PE)"
)


class Contract:
    """A derivative read from a broker's name for it: its trading symbol and whether it is an option."""

    __slots__ = ("expiry", "is_option", "symbol", "underlying")

    def __init__(self, symbol: str, underlying: str, expiry: date | None, is_option: bool) -> None:
        self.symbol = symbol
        self.underlying = underlying
        self.expiry = expiry
        self.is_option = is_option


def derivative(text: str, exchange: str) -> Contract | None:
    """A derivative's trading symbol from a compact symbol or a descriptive name; None for anything else.

    ``OPTIDX NIFTY Aug 25 2026 24150.00 PE (BT)`` → ``NIFTY2682524150PE`` (weekly),
    ``FUT WIPRO 28 Apr 2026`` → ``WIPRO26APRFUT``; ``BANKNIFTY25JUN52000CE`` stays as it is.
    """
    name = " ".join(text.split()).upper()
    if _COMPACT.fullmatch(name):
        return Contract(name, "", None, not name.endswith("FUT"))
    return descriptive_contract(name, exchange)


def descriptive_contract(text: str, exchange: str) -> Contract | None:
    found = _DESCRIPTIVE.fullmatch(" ".join(text.split()).upper())
    if found is None:
        return None
    is_option = found["strike"] is not None
    if found["kind"] is not None and (found["kind"] == "OPT") != is_option:
        return None
    if found["kind"] is None and not is_option and found["fut"] is None:
        return None  # a name with a date in it, not a contract
    if is_option and found["fut"] is not None:
        return None
    month = MONTHS.get(found["mon1"] or found["mon2"] or "")
    if month is None:
        return None
    year = int(found["year"])
    try:
        expiry = date(year if year >= 100 else 2000 + year, month, int(found["day1"] or found["day2"]))
    except ValueError:
        return None
    underlying = UNDERLYING_ALIASES.get(found["u"], found["u"])
    monthly_only = exchange in {"MCX", "CDS", "BCD"} or found["sub"] in {"COM", "CUR"}
    if is_option:
        symbol = option_symbol(
            underlying, expiry, Decimal(found["strike"]), found["right"], monthly=True if monthly_only else None
        )
    else:
        symbol = future_symbol(underlying, expiry.year, expiry.month)
    return Contract(symbol, underlying, expiry, is_option)


# Brokers' abbreviations of index names.
UNDERLYING_ALIASES = {"BSX": "SENSEX", "BKX": "BANKEX", "NIFTY 50": "NIFTY", "NIFTY BANK": "BANKNIFTY"}


# --------------------------------------------------------------------------- a table-shaped file


class TableParser(FormatParser):
    """A file that is one table under a recognisable header (after optional preamble rows).

    Subclasses give the column aliases, the required fields and :meth:`row`; this class finds the
    header by signature (never by file name), streams the records and turns :class:`RowInvalid`
    into :class:`RowError`. Abstract (``row``), so the registry never lists it.
    """

    aliases: ClassVar[dict[str, Sequence[str]]]
    required: ClassVar[tuple[str, ...]]
    signature: ClassVar[int]  # columns a damaged header must still name to be recognised
    markers: ClassVar[tuple[str, ...]] = ()  # preamble/title words (lower case) that add to the score
    sheet: ClassVar[str | None] = None  # xlsx: the sheet the table is on (others are not read)

    def sample(self, source: Source) -> list[tuple[int, list[Any]]]:
        if self.family == "xlsx":
            return sheet_rows(source, self._sheet_in(source)) if source.kind == "xlsx" else []
        return text_rows(source)

    def _sheet_in(self, source: Source) -> str | None:
        """The format's sheet when the workbook has it; None (every sheet) when it was renamed."""
        if self.sheet is not None and any(norm(name) == norm(self.sheet) for name in source.sheets):
            return self.sheet
        return None

    def sniff(self, source: Source) -> int:
        rows = self.sample(source)
        score = sniff_rows(rows, self.aliases, self.required, self.signature)
        if score and self.markers:
            text = " ".join(cell_text(c).lower() for _, row in rows[:20] for c in row)
            score += sum(5 for m in self.markers if m in text)
        return score

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        zone = self.zone(options)
        if self.family == "xlsx":
            if source.kind != "xlsx":
                raise MissingColumns(self.label, list(self.required))
            sheet = self._sheet_in(source)
            for name, sample in source.sheets.items():
                if sheet is not None and norm(name) != norm(sheet):
                    continue
                found = locate_header(list(enumerate(sample, 1)), self.aliases, self.required, self.signature)
                if found is None:
                    continue
                line, columns, missing = found
                if missing:
                    raise MissingColumns(self.label, missing)
                return self._rows(self._sheet_records(source, name), line, columns, zone)
            raise MissingColumns(self.label, list(self.required))
        line, columns = csv_header(source, self.label, self.aliases, self.required, self.signature)
        return self._rows(iter_csv(source), line, columns, zone)

    @staticmethod
    def _sheet_records(source: Source, sheet: str) -> Iterator[tuple[int, Sequence[Any]]]:
        for name, rows in iter_sheet_rows(source.path):
            if name == sheet:
                yield from enumerate(rows, 1)

    def _rows(
        self, records: Iterable[tuple[int, Sequence[Any]]], header_line: int, columns: Columns, zone: str
    ) -> Iterator[ParseResult]:
        for line, cells in records:
            if line <= header_line or is_blank(cells):
                continue
            if self.is_footer(cells):
                break
            try:
                parsed = list(self.row(line, cells, columns, zone))
            except RowInvalid as exc:
                yield RowError(line, exc.column, exc.reason, exc.raw if exc.raw is not None else raw_of(cells))
                continue
            except (ValueError, ArithmeticError) as exc:  # a value no check foresaw: the row, not the file
                yield RowError(line, None, f"unreadable value: {exc}"[:200], raw_of(cells))
                continue
            yield from parsed

    def is_footer(self, cells: Sequence[Any]) -> bool:
        """A row that ends the table (totals, notes)."""
        first = next((cell_text(c) for c in cells if cell_text(c)), "").lower()
        return first.startswith(("note:", "total", "grand total", "disclaimer"))

    @abstractmethod
    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        """The executions of one record (none for a record that is not a trade). Raises RowInvalid."""
