"""What every broker-file parser shares: the normalised row, the typed errors, the source file
abstraction, header matching and value parsing.

A parser never raises anything but :class:`ImportFileError` subclasses (fatal for the file) and
yields :class:`RowError` for a bad row (the row is skipped and reported; the import goes on).
Parsers read the file as a stream: a text file line by line, a workbook with openpyxl's
read-only row iterator, so memory stays flat however long the file is.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import itertools
import re
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar, Literal, TextIO, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Side = Literal["buy", "sell"]
Segment = Literal["equity", "futures", "options", "currency", "commodity"]
Family = Literal["csv", "xlsx", "html"]

IST = "Asia/Kolkata"
# One line of a text file may not exceed this (a 10 MB single line is a bad file, not a row).
MAX_LINE_CHARS = 1_000_000
SAMPLE_LINES = 40


# --------------------------------------------------------------------------- errors


class ImportFileError(Exception):
    """The file as a whole cannot be imported. ``code`` is the API error code (DESIGN §11)."""

    code: ClassVar[str] = "InvalidImportFile"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class EmptyFile(ImportFileError):
    code = "EmptyFile"


class BinaryFile(ImportFileError):
    code = "BinaryFile"


class UndecodableFile(ImportFileError):
    code = "UndecodableFile"


class LineTooLong(ImportFileError):
    code = "LineTooLong"


class UnknownFormat(ImportFileError):
    code = "UnknownFormat"

    def __init__(self, headers: Sequence[str]) -> None:
        seen = ", ".join(h for h in headers if h) or "none"
        super().__init__(
            f"the file's format is not recognised (headers seen: {seen}); "
            "choose a format, save a column mapping, or use the template in docs/import-template.md"
        )
        self.headers = list(headers)


class MissingColumns(ImportFileError):
    code = "MissingColumns"

    def __init__(self, format_label: str, missing: Sequence[str]) -> None:
        super().__init__(f"{format_label}: required column(s) missing: {', '.join(missing)}")
        self.missing = list(missing)


class NoRows(ImportFileError):
    code = "NoRows"


class ArchiveRejected(ImportFileError):
    code = "ArchiveRejected"


class UnknownTimeZone(ImportFileError):
    code = "UnknownTimeZone"


# --------------------------------------------------------------------------- rows


@dataclass(slots=True)
class ParsedRow:
    """One execution, normalised. ``executed_at`` is aware and in UTC.

    Not frozen, though nothing changes one after its parser made it: a frozen dataclass sets
    each field through ``object.__setattr__``, and a million-row file paid ~2.4 s of the imports
    service's CPU for that (3.3 µs a row against 0.9 µs)."""

    line: int  # 1-based line (CSV) or row (sheet) in the source
    symbol: str  # exchange trading symbol, upper case (e.g. RELIANCE, NIFTY2560524750PE)
    side: Side
    quantity: Decimal  # > 0, in shares/contracts (lots already multiplied out when the file is in lots)
    price: Decimal  # >= 0, per share/contract
    executed_at: datetime
    source_timezone: str  # IANA zone the file's times were in
    exchange: str = "NSE"
    segment: Segment | None = None
    currency: str = "INR"
    fees: Decimal | None = None  # total charges for the fill when the file carries them
    charges: dict[str, Decimal] | None = None  # typed charges when the file itemises them
    broker_trade_id: str | None = None
    broker_order_id: str | None = None
    product: Literal["MIS", "CNC", "NRML"] | None = None
    day_level: bool = False  # the file gives only the trade date (e.g. Dhan)


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str | None
    reason: str
    raw: str | None = None


ParseResult = ParsedRow | RowError


@dataclass(slots=True)
class RowBlock:
    """Consecutive rows that a parser turned into their staged form a block at a time, the hot
    path of large files (:meth:`FormatParser.stream`). ``columns`` holds one list per field of
    the trades contract's ``StagedExecutionIn``, each as long as the block, in the form that
    ``tj_imports.staging.ColumnBatch`` gives the same rows as :class:`ParsedRow` s: the block
    and the rows it replaces stage identically."""

    columns: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.columns["line"])

    def split(self, at: int) -> tuple[RowBlock, RowBlock]:
        """The first ``at`` rows, and the rest."""
        head = {name: values[:at] for name, values in self.columns.items()}
        tail = {name: values[at:] for name, values in self.columns.items()}
        return RowBlock(head), RowBlock(tail)


StreamItem = ParseResult | RowBlock


@dataclass(frozen=True)
class ParseOptions:
    timezone: str | None = None  # overrides the format's default time zone (e.g. IBKR statements)
    currency: str | None = None  # the account's base currency when the file does not say
    mapping: dict[str, str] | None = None  # generic: our field -> the file's header


class RowInvalid(Exception):
    """Raised inside a parser's row function; the driver turns it into a :class:`RowError`."""

    def __init__(self, column: str | None, reason: str, raw: object = None) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason
        self.raw = None if raw is None else str(raw)[:200]


# --------------------------------------------------------------------------- the source file


def _decode_prefix(prefix: bytes) -> str:
    """The codec of a text file: BOM first, then UTF-8, else latin-1 (always decodable)."""
    if prefix.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        prefix.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the prefix is still UTF-8.
        if exc.start >= len(prefix) - 3:
            return "utf-8"
        return "cp1252" if not any(0x80 <= b <= 0x9F for b in prefix) else "latin-1"


@dataclass
class Source:
    """A file on local disk (the imports service spools the S3 object to a temporary file)."""

    path: Path
    kind: Literal["text", "xlsx", "html", "zip"] = "text"
    encoding: str = "utf-8"
    sample: list[str] = field(default_factory=list)  # first lines (text/html) — for sniffing
    sheets: dict[str, list[list[Any]]] = field(default_factory=dict)  # xlsx: first rows per sheet

    @classmethod
    def open(cls, path: Path) -> Source:
        size = path.stat().st_size
        if size == 0:
            raise EmptyFile("the file is empty")
        with path.open("rb") as fh:
            head = fh.read(65536)
        if head.startswith(b"PK\x03\x04"):
            return cls._open_zip(path)
        if head.startswith((b"\xd0\xcf\x11\xe0",)):
            raise BinaryFile("legacy .xls workbooks are not supported; save the file as .xlsx or CSV")
        encoding = _decode_prefix(head)
        if encoding != "utf-16" and b"\x00" in head:
            raise BinaryFile("the file is binary, not a text, CSV or XLSX file")
        source = cls(path=path, encoding=encoding)
        try:
            with source.open_text() as text:
                for _ in range(SAMPLE_LINES):
                    line = text.readline(MAX_LINE_CHARS + 1)
                    if not line:
                        break
                    if len(line) > MAX_LINE_CHARS:
                        raise LineTooLong(f"line {len(source.sample) + 1} is longer than {MAX_LINE_CHARS} characters")
                    source.sample.append(line.rstrip("\r\n"))
        except UnicodeDecodeError as exc:
            raise UndecodableFile(f"the file is not valid {encoding} text: {exc.reason}") from None
        if not any(s.strip() for s in source.sample):
            raise EmptyFile("the file has no content")
        joined = "\n".join(source.sample[:10]).lower()
        if "<html" in joined or "<table" in joined or "<!doctype html" in joined:
            source.kind = "html"
        return source

    @classmethod
    def _open_zip(cls, path: Path) -> Source:
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                total = sum(info.file_size for info in zf.infolist())
        except zipfile.BadZipFile:
            raise BinaryFile("the file looks like a ZIP archive but cannot be read") from None
        if "xl/workbook.xml" not in names:
            raise ArchiveRejected("archives are not accepted; upload the CSV or XLSX file itself")
        # A workbook that inflates absurdly is a zip bomb, not a trade file.
        if total > 200 * path.stat().st_size + 50_000_000:
            raise ArchiveRejected("the workbook expands to an implausible size (zip bomb?)")
        source = cls(path=path, kind="xlsx")
        for name, rows in iter_sheets(path, max_rows=SAMPLE_LINES):
            source.sheets[name] = rows
        return source

    def open_text(self) -> TextIO:
        return io.TextIOWrapper(self.path.open("rb"), encoding=self.encoding, newline="")

    def first_rows(self) -> list[list[str]]:
        """The first rows as cells, whatever the kind (for sniffing and error messages)."""
        if self.kind == "xlsx":
            rows: list[list[str]] = []
            for sheet in self.sheets.values():
                rows.extend([cell_text(c) for c in row] for row in sheet)
            return rows
        return [next(csv.reader([line]), []) for line in self.sample]

    def delimiter(self) -> str:
        """The text file's separator as far as the first lines tell: ``;`` or tab when they
        outnumber commas (European-locale and tab-separated exports), else ``,``."""
        text = "\n".join(self.sample[:10])
        counts = {",": text.count(","), ";": text.count(";"), "\t": text.count("\t")}
        return max(counts, key=lambda d: (counts[d], d == ","))

    def header_cells(self) -> list[str]:
        """The header row as written: the first row with at least two non-empty cells (split on
        the file's own separator), trailing empty cells dropped. For messages and mappings."""
        if self.kind == "text":
            rows = [next(csv.reader([line], delimiter=self.delimiter()), []) for line in self.sample]
        else:
            rows = self.first_rows()
        for row in rows:
            cells = [cell_text(c) for c in row]
            if sum(1 for c in cells if c) >= 2:
                while cells and not cells[-1]:
                    cells.pop()
                return cells
        return []


def cell_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def iter_sheets(path: Path, max_rows: int | None = None) -> Iterator[tuple[str, list[list[Any]]]]:
    for name, rows in iter_sheet_rows(path):
        taken: list[list[Any]] = []
        for row in rows:
            taken.append(list(row))
            if max_rows is not None and len(taken) >= max_rows:
                break
        yield name, taken


def iter_sheet_rows(path: Path) -> Iterator[tuple[str, Iterator[tuple[Any, ...]]]]:
    """Each sheet's rows, streamed (openpyxl read-only mode).

    openpyxl is handed an open file, not the path: given a path it refuses any name not ending
    in .xlsx, and uploads are spooled under names of our choosing. A workbook that breaks while
    it is read (a corrupt sheet XML) is a :class:`BinaryFile`, like one that cannot be opened."""
    import openpyxl

    _stop_dimension_search_at_sheet_data()
    with path.open("rb") as handle:
        try:
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a broken workbook
            raise BinaryFile(f"the workbook cannot be read: {type(exc).__name__}") from None
        try:
            for sheet in _guarded(iter(workbook.worksheets)):
                yield sheet.title, _guarded(sheet.iter_rows(values_only=True))
        finally:
            workbook.close()


@functools.cache
def _stop_dimension_search_at_sheet_data() -> None:
    """openpyxl's read-only worksheet looks for the sheet's ``<dimension>`` record when it is
    created, listening for *end* tags: in a workbook without that record (openpyxl's own
    write-only output, some report generators) the search only ends with ``</sheetData>``, so
    opening the workbook reads every row once before we read them again, and sampling 40 rows
    of a million-row sheet reads all of it. Listening for *start* tags finds the record, or its
    absence, at the top of the sheet; the answer is the same. Skipped if openpyxl's internals move."""
    from openpyxl.worksheet import _reader

    parser_class: Any = getattr(_reader, "WorkSheetParser", None)
    dimension_tag = getattr(_reader, "DIMENSION_TAG", None)
    data_tag = getattr(_reader, "DATA_TAG", None)
    sheet_dimension: Any = getattr(_reader, "SheetDimension", None)
    iterparse: Any = getattr(_reader, "iterparse", None)
    if None in (parser_class, dimension_tag, data_tag, sheet_dimension, iterparse):
        return

    def parse_dimensions(self: Any) -> Any:
        for _event, element in iterparse(self.source, events=("start",)):
            if element.tag == dimension_tag:
                return sheet_dimension.from_tree(element).boundaries
            if element.tag == data_tag:
                return None
        return None

    parser_class.parse_dimensions = parse_dimensions


def _guarded(items: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from items
    except ImportFileError:
        raise
    except Exception as exc:  # zip, XML and value errors from inside the workbook
        raise BinaryFile(f"the workbook cannot be read: {type(exc).__name__}") from None


def iter_csv(source: Source, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, cells) for every CSV record; typed errors for broken files."""
    with source.open_text() as text:
        reader = csv.reader(_bounded_lines(text), delimiter=delimiter)
        with _typed_errors(source, reader):
            for cells in reader:
                yield reader.line_num, cells


@contextlib.contextmanager
def _typed_errors(source: Source, reader: Any) -> Iterator[None]:
    """A CSV reader's errors as the import's typed errors."""
    try:
        yield
    except csv.Error as exc:
        raise LineTooLong(f"line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UndecodableFile(f"the file is not valid {source.encoding} text: {exc.reason}") from None


def iter_csv_blocks(source: Source, after: int, size: int) -> Iterator[tuple[list[int], list[list[str]]]]:
    """:func:`iter_csv`'s non-empty records past line ``after``, ``size`` at a time, as (line
    numbers, records): the hot path of large files reads records without a generator step each."""
    with source.open_text() as text:
        reader = csv.reader(_bounded_lines(text))
        lines: list[int] = []
        records: list[list[str]] = []
        with _typed_errors(source, reader):
            for cells in reader:
                if cells and reader.line_num > after:
                    lines.append(reader.line_num)
                    records.append(cells)
                    if len(records) >= size:
                        yield lines, records
                        lines, records = [], []
        if records:
            yield lines, records


READ_CHARS = 1 << 20  # text read at a time, then cut into lines


def _bounded_lines(text: TextIO) -> Iterator[str]:
    """The file's lines as ``readline`` cuts them (``\\n``, ``\\r`` or ``\\r\\n``, kept), read a
    megabyte at a time; LineTooLong for a line past MAX_LINE_CHARS, before it is all in memory."""
    return itertools.chain.from_iterable(_line_blocks(text))


def _line_blocks(text: TextIO) -> Iterator[list[str]]:
    number = 0  # lines handed out
    carry = ""  # the start of a line whose end is not read yet
    while True:
        read = text.read(READ_CHARS)
        block = carry + read
        if not read:
            lines = io.StringIO(block, newline="").readlines()
        else:
            # A \\r at the end may be the first half of \\r\\n: it stays for the next read.
            body = block[:-1] if block.endswith("\r") else block
            cut = max(body.rfind("\n"), body.rfind("\r")) + 1
            lines = io.StringIO(block[:cut], newline="").readlines() if cut else []
            carry = block[cut:]
        if lines and max(map(len, lines)) > MAX_LINE_CHARS:
            long = next(n for n, line in enumerate(lines, number + 1) if len(line) > MAX_LINE_CHARS)
            raise LineTooLong(f"line {long} is longer than {MAX_LINE_CHARS} characters")
        number += len(lines)
        if read and len(carry) > MAX_LINE_CHARS:
            raise LineTooLong(f"line {number + 1} is longer than {MAX_LINE_CHARS} characters")
        if lines:
            yield lines
        if not read:
            return


# --------------------------------------------------------------------------- headers


def norm(header: object) -> str:
    """Case-, space- and punctuation-insensitive header key: ``"Trade Date "`` → ``"tradedate"``."""
    return re.sub(r"[^a-z0-9]", "", str(header or "").lower())


class Columns:
    """Where each of a parser's fields sits in a header row, by aliases."""

    def __init__(self, header: Sequence[object], aliases: dict[str, Sequence[str]]) -> None:
        index: dict[str, int] = {}
        for i, cell in enumerate(header):
            index.setdefault(norm(cell), i)
        self.positions: dict[str, int] = {}
        for name, names in aliases.items():
            for alias in names:
                if norm(alias) in index:
                    self.positions[name] = index[norm(alias)]
                    break

    def matches(self, required: Iterable[str]) -> bool:
        return all(r in self.positions for r in required)

    def missing(self, required: Iterable[str]) -> list[str]:
        return [r for r in required if r not in self.positions]

    def get(self, row: Sequence[Any], name: str) -> Any:
        i = self.positions.get(name)
        if i is None or i >= len(row):
            return None
        value = row[i]
        return value.strip() if isinstance(value, str) else value

    def text(self, row: Sequence[Any], name: str) -> str:
        return cell_text(self.get(row, name))


# --------------------------------------------------------------------------- values


_NUMBER_JUNK = re.compile(r"[\s$₹€£,']")


def parse_decimal(raw: object, column: str, *, decimal_comma: bool = False) -> Decimal:
    """A number as brokers write it: ``1,52,250.00``, ``$1,234.50``, ``(250.00)``, ``4 577,86``."""
    if isinstance(raw, bool):
        raise RowInvalid(column, "not a number", raw)
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw))
    if isinstance(raw, Decimal):
        return raw
    text = cell_text(raw)
    if not text:
        raise RowInvalid(column, "empty", raw)
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    if decimal_comma:
        text = text.replace(".", "").replace(" ", "").replace("\u00a0", "").replace(",", ".")
    text = _NUMBER_JUNK.sub("", text.replace("\u00a0", ""))
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RowInvalid(column, "not a number", raw) from None
    if not value.is_finite():
        raise RowInvalid(column, "not a finite number", raw)
    return -value if negative else value


def parse_side(raw: object, column: str) -> Side:
    text = cell_text(raw).lower()
    if text in {"buy", "b", "bought", "bot", "buy to open", "buy to close", "bto", "btc", "purchase"}:
        return "buy"
    if text in {"sell", "s", "sold", "sld", "sell to open", "sell to close", "sto", "stc", "sell short", "short"}:
        return "sell"
    raise RowInvalid(column, "side must be buy or sell", raw)


def parse_datetime(raw: object, column: str, formats: Sequence[str]) -> datetime:
    """A naive local date-time from a cell: a ``datetime`` cell, an Excel serial, or text in one of ``formats``."""
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=None) if raw.tzinfo else raw
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return excel_serial(raw, column)
    text = cell_text(raw)
    if not text:
        raise RowInvalid(column, "empty", raw)
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise RowInvalid(column, f"not a date/time in the expected form ({formats[0]})", raw)


def excel_serial(value: float, column: str) -> datetime:
    from datetime import timedelta

    if not 1 <= value < 2_958_466:
        raise RowInvalid(column, "not a plausible Excel date", value)
    return datetime(1899, 12, 30) + timedelta(days=float(value))


def to_utc(local: datetime, timezone: str) -> datetime:
    """Local wall time in ``timezone`` (IANA) → aware UTC."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    return local.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def positive(value: Decimal, column: str) -> Decimal:
    if value <= 0:
        raise RowInvalid(column, "must be greater than zero", value)
    return value


# --------------------------------------------------------------------------- parsers


class FormatParser(ABC):
    """One broker file layout. Subclasses register themselves in ``tj_imports.formats.registry``."""

    name: ClassVar[str]  # stable id, e.g. "zerodha_tradebook_csv" (the API's ``format``)
    label: ClassVar[str]  # e.g. "Zerodha Console tradebook (CSV)"
    broker: ClassVar[str]  # e.g. "zerodha"
    family: ClassVar[Family]
    timezone: ClassVar[str] = IST  # the broker's time zone, when the file has no offset
    day_level: ClassVar[bool] = False  # the format has no execution times (documented to the user)

    @abstractmethod
    def sniff(self, source: Source) -> int:
        """0 = not this format; higher = more certain (header signature 80, + preamble/sheet 10...)."""

    @abstractmethod
    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        """Every data row as a :class:`ParsedRow` or a :class:`RowError`, in file order.

        Raises only :class:`ImportFileError` (e.g. :class:`MissingColumns`, :class:`NoRows`)."""

    def stream(self, source: Source, options: ParseOptions) -> Iterator[StreamItem]:
        """What the import pipeline reads: :meth:`parse`'s rows and errors, except that a parser
        may hand over runs of ordinary rows as :class:`RowBlock` s, which stage exactly as the
        rows would. Raises only :class:`ImportFileError`."""
        return self.parse(source, options)

    def zone(self, options: ParseOptions) -> str:
        zone = options.timezone or self.timezone
        if not known_zone(zone):
            raise UnknownTimeZone(f"{zone!r} is not an IANA time zone (e.g. Asia/Kolkata)")
        return zone


@functools.lru_cache(maxsize=256)
def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_Item = TypeVar("_Item", bound=StreamItem)


def find_header(
    rows: Iterable[tuple[int, Sequence[Any]]], aliases: dict[str, Sequence[str]], required: Sequence[str]
) -> tuple[int, Columns] | None:
    """The first row whose cells name every required column (banner and preamble rows skipped)."""
    for line, row in rows:
        columns = Columns(row, aliases)
        if columns.matches(required):
            return line, columns
    return None


def rows_of(parsed: Iterable[_Item]) -> Iterator[_Item]:
    """Pass-through that raises :class:`NoRows` when a recognised file has no data row."""
    any_row = False
    for item in parsed:
        any_row = True
        yield item
    if not any_row:
        raise NoRows("the file has a recognised header but no trade rows")
