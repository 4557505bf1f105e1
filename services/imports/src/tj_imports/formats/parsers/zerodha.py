"""Zerodha Console tradebook: the CSV download (equity and F&O) and the XLSX variant.

The symbol column already holds the exchange trading symbol (``NIFTY2560524750PE``,
``RELIANCE25JULFUT``). One order can fill many times at the same time and price, so the key is
``trade_id``. The file cannot tell intraday (MIS) from delivery (CNC): ``product`` stays None.
The CSV path is the hot one (files of a million rows): plain ``csv`` records, positional access,
``datetime.fromisoformat`` and ``Decimal(str)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from tj_common.contracts.trades import TRADE_KEY
from tj_imports.formats.base import (
    IST,
    Columns,
    FormatParser,
    MissingColumns,
    ParsedRow,
    ParseOptions,
    ParseResult,
    RowBlock,
    RowError,
    RowInvalid,
    Segment,
    Side,
    Source,
    StreamItem,
    cell_text,
    iter_csv,
    iter_csv_blocks,
    iter_sheet_rows,
    to_utc,
)
from tj_imports.formats.parsers.india_common import (
    date_cell,
    derivative_exchange,
    id_text,
    locate_header,
    number,
    raw_of,
    sheet_rows,
    sniff_rows,
    text_rows,
)

ALIASES: dict[str, Sequence[str]] = {
    "symbol": ("symbol", "tradingsymbol", "trading_symbol"),
    "isin": ("isin",),
    "trade_date": ("trade_date",),
    "exchange": ("exchange",),
    "segment": ("segment",),
    "series": ("series",),
    "trade_type": ("trade_type",),
    "auction": ("auction",),
    "quantity": ("quantity", "qty"),
    "price": ("price", "trade_price"),
    "trade_id": ("trade_id",),
    "order_id": ("order_id",),
    "order_execution_time": ("order_execution_time", "execution_time"),
    "expiry_date": ("expiry_date",),
}
REQUIRED = ("symbol", "trade_date", "exchange", "trade_type", "quantity", "price", "trade_id")
SIGNATURE = 6  # columns of the layout a header must name to count as a (damaged) Zerodha header

_DERIVATIVE_SEGMENTS = {"FO", "NFO", "BFO", "F&O", "CDS", "BCD", "COM", "MCX"}
_SIDES: dict[str, Side] = {"buy": "buy", "sell": "sell", "BUY": "buy", "SELL": "sell", "Buy": "buy", "Sell": "sell"}
_IST_OFFSET = timedelta(hours=5, minutes=30)  # India has no daylight saving: a fixed offset is exact


def _classify(exchange: str, segment: str, symbol: str) -> tuple[str, Segment]:
    """(exchange code, segment) from Zerodha's exchange/segment columns and the symbol's suffix."""
    segment = segment.upper()
    exchange = exchange.upper()
    if exchange == "MCX" or segment in {"COM", "MCX"}:
        return "MCX", "commodity"
    if segment in {"CDS", "BCD"} or exchange in {"CDS", "BCD"}:
        return ("BCD" if exchange in {"BSE", "BCD"} else "CDS"), "currency"
    if segment in _DERIVATIVE_SEGMENTS or exchange in {"NFO", "BFO"}:
        kind: Segment = "futures" if symbol.endswith("FUT") else "options"
        return derivative_exchange(exchange), kind
    return exchange or "NSE", "equity"


# Whole CSV columns checked at once, joined with the unit separator before every value (_column).
_EACH_ID = re.compile(r"(?:\x1f[^\x1f\s](?:[^\x1f]*[^\x1f\s])?)+")  # not empty, nothing to strip
_EACH_OPTIONAL_ID = re.compile(r"(?:\x1f(?:[^\x1f\s](?:[^\x1f]*[^\x1f\s])?)?)*")
_EACH_NUMBER = re.compile(r"(?:\x1f(?:0|[1-9][0-9]*)(?:\.[0-9]+)?)+")  # str(Decimal(v)) is v
_A_ZERO = re.compile(r"\x1f0(?:\.0+)?(?=\x1f|\Z)")
_EACH_LOCAL_TIME = re.compile(r"(?:\x1f[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9])+")
BLOCK_ROWS = 1_000


def _column(values: Sequence[str], pattern: re.Pattern[str], count: int) -> str | None:
    """The column joined, each value after a unit separator, if every value is in ``pattern``'s
    form (and none holds a separator of its own); else None."""
    joined = "\x1f" + "\x1f".join(values)
    if joined.count("\x1f") != count or not pattern.fullmatch(joined):
        return None
    return joined


class _ZerodhaRows:
    """Turns one tradebook record into a ParsedRow; shared by the CSV and XLSX layouts."""

    def __init__(self, columns: Columns, zone: str) -> None:
        p = columns.positions
        self.i_symbol = p["symbol"]
        self.i_date = p["trade_date"]
        self.i_exchange = p["exchange"]
        self.i_segment = p.get("segment")
        self.i_side = p["trade_type"]
        self.i_qty = p["quantity"]
        self.i_price = p["price"]
        self.i_trade = p["trade_id"]
        self.i_order = p.get("order_id")
        self.i_time = p.get("order_execution_time")
        self.width = max(p.values()) + 1
        self.zone = zone
        self.fixed_ist = zone == IST
        self.classified: dict[tuple[str, str, str], tuple[str, Segment]] = {}
        self.minutes: dict[str, str] = {}  # local minute -> UTC minute (block)

    def text_row(self, line: int, cells: list[str]) -> ParsedRow:
        """The CSV hot path: every cell is a str and the common row needs no fallback.

        Anything unusual (grouped numbers, a missing time, an unknown side, a short row) goes to
        :meth:`row`, which checks every value and says what is wrong."""
        try:
            symbol = cells[self.i_symbol].strip().upper()
            side = _SIDES[cells[self.i_side].strip()]
            quantity = Decimal(cells[self.i_qty])
            price = Decimal(cells[self.i_price])
            local = datetime.fromisoformat(cells[self.i_time])  # type: ignore[index]
            trade_id = cells[self.i_trade].strip()
            classified = self.classified[(cells[self.i_exchange], cells[self.i_segment], symbol[-3:])]  # type: ignore[index]
            usable = (
                symbol
                and trade_id
                and quantity > 0
                and price >= 0
                and quantity.is_finite()
                and price.is_finite()
                and local.tzinfo is None
                and 1990 <= local.year <= 2100
                and self.fixed_ist
            )
        except (IndexError, KeyError, TypeError, ValueError, ArithmeticError):
            usable = False
        if not usable:
            return self.row(line, cells)
        order_id = cells[self.i_order].strip() if self.i_order is not None else ""
        return ParsedRow(
            line=line,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            executed_at=(local - _IST_OFFSET).replace(tzinfo=UTC),
            source_timezone=self.zone,
            exchange=classified[0],
            segment=classified[1],
            broker_trade_id=trade_id,
            broker_order_id=order_id or None,
        )

    def block(self, lines: list[int], records: list[list[str]]) -> RowBlock | None:
        """CSV records as one row block, when every record is as ordinary as :meth:`text_row`'s
        and in the plainest form of each value (a whole column checked at once); else None, and
        the caller reads the records one by one. The columns are what staging.ColumnBatch
        makes of text_row's rows: the fast path changes no value (tests/test_row_blocks.py)."""
        if not self.fixed_ist or self.i_time is None or self.i_segment is None or not records:
            return None
        if min(map(len, records)) < self.width:
            return None
        cells = list(zip(*records, strict=False))
        count = len(records)
        symbols = _column(cells[self.i_symbol], _EACH_ID, count)
        quantities = _column(cells[self.i_qty], _EACH_NUMBER, count)
        prices = _column(cells[self.i_price], _EACH_NUMBER, count)
        trade_ids = _column(cells[self.i_trade], _EACH_ID, count)
        times = _column(cells[self.i_time], _EACH_LOCAL_TIME, count)
        if symbols is None or quantities is None or prices is None or trade_ids is None or times is None:
            return None
        if _A_ZERO.search(quantities):
            return None
        order_ids: list[str | None]
        if self.i_order is None:
            order_ids = [None] * count
        else:
            joined = _column(cells[self.i_order], _EACH_OPTIONAL_ID, count)
            if joined is None:
                return None
            order_ids = [value or None for value in cells[self.i_order]]
        try:
            sides = list(map(_SIDES.__getitem__, cells[self.i_side]))
        except KeyError:
            return None
        symbol_list = symbols.upper().split("\x1f")[1:]
        utc = self._utc_minutes(cells[self.i_time])
        if utc is None:
            return None
        executed = [utc[t[:16]] + t[16:] + "+00:00" for t in cells[self.i_time]]
        classified = self.classified
        keys = list(zip(cells[self.i_exchange], cells[self.i_segment], [s[-3:] for s in symbol_list], strict=True))
        for key, symbol in zip(keys, symbol_list, strict=True):
            if key not in classified:
                classified[key] = _classify(key[0].strip(), key[1].strip(), symbol)
        kinds = [classified[key] for key in keys]
        nothing: list[Any] = [None] * count
        return RowBlock(
            {
                "symbol": symbol_list,
                "exchange": [kind[0] for kind in kinds],
                "segment": [kind[1] for kind in kinds],
                "side": sides,
                "quantity": list(cells[self.i_qty]),
                "price": list(cells[self.i_price]),
                "executed_at": executed,
                "fees": nothing,
                "charges": nothing,
                "currency": ["INR"] * count,
                "broker_trade_id": list(cells[self.i_trade]),
                "broker_order_id": order_ids,
                "product": nothing,
                "fingerprint": [TRADE_KEY + trade_id for trade_id in cells[self.i_trade]],
                "line": lines,
                "source_timezone": [self.zone] * count,
                "day_level": nothing,
            }
        )

    def _utc_minutes(self, times: Sequence[str]) -> dict[str, str] | None:
        """Each local minute of ``times`` (``YYYY-MM-DDTHH:MM``) → the UTC minute, from a cache;
        None if one is no date and time text_row would take (an impossible date, an implausible
        year)."""
        minutes = self.minutes
        if len(minutes) > 50_000:
            minutes.clear()
        for minute in {t[:16] for t in times}:
            if minute in minutes:
                continue
            try:
                local = datetime.fromisoformat(minute)
            except ValueError:
                return None
            if not 1990 <= local.year <= 2100:
                return None
            minutes[minute] = (local - _IST_OFFSET).isoformat()[:16]
        return minutes

    def row(self, line: int, cells: Sequence[Any]) -> ParsedRow:
        if len(cells) < self.width:
            cells = list(cells) + [""] * (self.width - len(cells))
        symbol = cell_text(cells[self.i_symbol]).upper()
        if not symbol:
            raise RowInvalid("symbol", "empty", None)
        side_raw = cell_text(cells[self.i_side]).lower()
        if side_raw == "buy":
            side: Side = "buy"
        elif side_raw == "sell":
            side = "sell"
        else:
            raise RowInvalid("trade_type", "must be buy or sell", side_raw)
        quantity = self.decimal(cells[self.i_qty], "quantity")
        if quantity <= 0:
            raise RowInvalid("quantity", "must be greater than zero", cells[self.i_qty])
        price = self.decimal(cells[self.i_price], "price")
        if price < 0:
            raise RowInvalid("price", "must not be negative", cells[self.i_price])
        executed_at, day_level = self.when(cells)
        exchange_raw = cell_text(cells[self.i_exchange])
        segment_raw = cell_text(cells[self.i_segment]) if self.i_segment is not None else ""
        suffix = symbol[-3:]
        key = (
            cells[self.i_exchange] if isinstance(cells[self.i_exchange], str) else exchange_raw,
            (cells[self.i_segment] if isinstance(cells[self.i_segment], str) else segment_raw)
            if self.i_segment is not None
            else "",
            suffix,
        )
        classified = self.classified.get(key)
        if classified is None:
            classified = self.classified[key] = _classify(exchange_raw, segment_raw, symbol)
        trade_id = id_text(cells[self.i_trade])
        if not trade_id:
            raise RowInvalid("trade_id", "empty", None)
        order_id = id_text(cells[self.i_order]) if self.i_order is not None else ""
        return ParsedRow(
            line=line,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            executed_at=executed_at,
            source_timezone=self.zone,
            exchange=classified[0],
            segment=classified[1],
            broker_trade_id=trade_id,
            broker_order_id=order_id or None,
            day_level=day_level,
        )

    @staticmethod
    def decimal(raw: Any, column: str) -> Decimal:
        if isinstance(raw, str):
            try:
                value = Decimal(raw)
            except InvalidOperation:
                return number(raw, column)  # grouping, currency signs; raises RowInvalid for junk
            if not value.is_finite():
                raise RowInvalid(column, "not a finite number", raw)
            return value
        return number(raw, column)

    def when(self, cells: Sequence[Any]) -> tuple[datetime, bool]:
        """The execution time, or the trade date (day-level) when the file has no time for the row."""
        raw = cells[self.i_time] if self.i_time is not None else None
        day_level = False
        local: datetime
        if isinstance(raw, str) and raw:
            try:
                local = datetime.fromisoformat(raw)
            except ValueError:
                local = date_cell(raw, "order_execution_time", ("%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S"))
        elif isinstance(raw, (datetime, int, float)) and not isinstance(raw, bool):
            local = date_cell(raw, "order_execution_time", ())
        else:
            day_level = True
            raw_date = cells[self.i_date]
            try:
                local = (
                    datetime.fromisoformat(raw_date)
                    if isinstance(raw_date, str)
                    else date_cell(raw_date, "trade_date", ())
                )
            except ValueError:
                local = date_cell(raw_date, "trade_date", ("%d-%m-%Y", "%d/%m/%Y"))
        if not 1990 <= local.year <= 2100:
            raise RowInvalid("order_execution_time", "the date is not plausible", local.isoformat())
        if local.tzinfo is not None:
            return local.astimezone(UTC), day_level
        if self.fixed_ist:
            return (local - _IST_OFFSET).replace(tzinfo=UTC), day_level
        return to_utc(local, self.zone), day_level


class ZerodhaTradebookCsv(FormatParser):
    """Zerodha Console tradebook CSV (equity, F&O with ``expiry_date``, currency, commodity)."""

    name: ClassVar[str] = "zerodha_tradebook_csv"
    label: ClassVar[str] = "Zerodha Console tradebook (CSV)"
    broker: ClassVar[str] = "zerodha"
    family = "csv"

    def sniff(self, source: Source) -> int:
        if source.kind != "text":
            return 0
        return sniff_rows(text_rows(source), ALIASES, REQUIRED, SIGNATURE)

    def stream(self, source: Source, options: ParseOptions) -> Iterator[StreamItem]:
        """:meth:`parse`, with runs of ordinary records as row blocks of up to BLOCK_ROWS."""
        header_line, columns = self._header(source)
        return self._blocks(source, header_line, columns, self.zone(options))

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        header_line, columns = self._header(source)
        return self._rows(source, header_line, columns, self.zone(options))

    def _header(self, source: Source) -> tuple[int, Columns]:
        found = locate_header(text_rows(source), ALIASES, REQUIRED, SIGNATURE)
        if found is None:
            raise MissingColumns(self.label, list(REQUIRED))
        header_line, columns, missing = found
        if missing:
            raise MissingColumns(self.label, missing)
        return header_line, columns

    def _rows(self, source: Source, header_line: int, columns: Columns, zone: str) -> Iterator[ParseResult]:
        make = _ZerodhaRows(columns, zone)
        for line, cells in iter_csv(source):
            if line <= header_line or not cells:
                continue
            yield from _one(make, line, cells)

    def _blocks(self, source: Source, header_line: int, columns: Columns, zone: str) -> Iterator[StreamItem]:
        make = _ZerodhaRows(columns, zone)
        for lines, records in iter_csv_blocks(source, header_line, BLOCK_ROWS):
            yield from _block_or_rows(make, lines, records)


def _block_or_rows(make: _ZerodhaRows, lines: list[int], records: list[list[str]]) -> Iterator[StreamItem]:
    block = make.block(lines, records)
    if block is not None:
        yield block
        return
    for line, cells in zip(lines, records, strict=True):
        yield from _one(make, line, cells)


def _one(make: _ZerodhaRows, line: int, cells: list[str]) -> Iterator[ParseResult]:
    """One CSV record's row, its row error, or nothing for a blank record."""
    try:
        yield make.text_row(line, cells)
    except RowInvalid as exc:
        if not any(c.strip() for c in cells):
            return
        yield RowError(line, exc.column, exc.reason, exc.raw if exc.raw is not None else raw_of(cells))
    except (ValueError, ArithmeticError) as exc:  # a value no check foresaw: the row, not the file
        yield RowError(line, None, f"unreadable value: {exc}"[:200], raw_of(cells))


class ZerodhaTradebookXlsx(FormatParser):
    """Zerodha Console tradebook XLSX: banner rows, then the header in Title Case; Excel dates."""

    name: ClassVar[str] = "zerodha_tradebook_xlsx"
    label: ClassVar[str] = "Zerodha Console tradebook (XLSX)"
    broker: ClassVar[str] = "zerodha"
    family = "xlsx"

    def sniff(self, source: Source) -> int:
        if source.kind != "xlsx":
            return 0
        rows = sheet_rows(source)
        score = sniff_rows(rows, ALIASES, REQUIRED, SIGNATURE)
        if score and any("tradebook" in cell_text(c).lower() for _, row in rows[:15] for c in row):
            score += 10
        return score

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        for name, sample in source.sheets.items():
            found = locate_header(list(enumerate(sample, 1)), ALIASES, REQUIRED, SIGNATURE)
            if found is None:
                continue
            header_line, columns, missing = found
            if missing:
                raise MissingColumns(self.label, missing)
            return self._rows(source, name, header_line, columns, self.zone(options))
        raise MissingColumns(self.label, list(REQUIRED))

    def _rows(self, source: Source, sheet: str, header_line: int, columns: Columns, zone: str) -> Iterator[ParseResult]:
        make = _ZerodhaRows(columns, zone)
        for name, rows in iter_sheet_rows(source.path):
            if name != sheet:
                continue
            for line, cells in enumerate(rows, 1):
                if line <= header_line or not any(cell_text(c) for c in cells):
                    continue
                try:
                    yield make.row(line, cells)
                except RowInvalid as exc:
                    yield RowError(line, exc.column, exc.reason, exc.raw if exc.raw is not None else raw_of(cells))
                except (ValueError, ArithmeticError) as exc:
                    yield RowError(line, None, f"unreadable value: {exc}"[:200], raw_of(cells))
