# ruff: noqa: RUF001 - localized (Cyrillic) report headers
"""MetaTrader: the MT5 trade history report (HTML or XLSX; its ``Deals`` section) and the MT4
detailed statement (HTML; one row per closed position, two executions each).

Times are the broker's server time, which the file does not state: ``ParseOptions.timezone``,
default UTC. Volumes are in lots; a lot is converted to units with a contract size — 100,000 for
a forex pair (six letters, two ISO currencies, any broker suffix like ``EURUSD.a``/``XAUUSDm``),
the sizes in ``CONTRACT_SIZES`` for common metals and energies, and 1 for anything else (indices
and CFDs differ between brokers; their quantities stay in lots). Prices stay per unit.

The HTML is read with the standard library's :class:`html.parser.HTMLParser`, fed in chunks, so a
large report is never held in memory; ``colspan`` cells are expanded so positions line up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

from tj_imports.formats.base import (
    Columns,
    FormatParser,
    ImportFileError,
    MissingColumns,
    ParsedRow,
    ParseOptions,
    ParseResult,
    RowError,
    RowInvalid,
    Segment,
    Side,
    Source,
    UndecodableFile,
    cell_text,
    iter_sheet_rows,
    norm,
    parse_datetime,
    parse_decimal,
    positive,
    to_utc,
)
from tj_imports.formats.parsers._global import blank, drive, symbol_of

FOREX_LOT = Decimal(100_000)
CONTRACT_SIZES: dict[str, tuple[Decimal, Segment]] = {
    "XAUUSD": (Decimal(100), "commodity"),  # gold: 100 troy ounces per lot
    "XAGUSD": (Decimal(5000), "commodity"),  # silver: 5,000 ounces
    "XPTUSD": (Decimal(100), "commodity"),
    "XPDUSD": (Decimal(100), "commodity"),
    "USOIL": (Decimal(1000), "commodity"),  # 1,000 barrels
    "UKOIL": (Decimal(1000), "commodity"),
}
CURRENCIES = {
    "USD", "EUR", "GBP", "JPY", "CHF", "AUD", "NZD", "CAD", "SEK", "NOK", "DKK", "PLN", "HUF", "CZK",
    "TRY", "ZAR", "MXN", "SGD", "HKD", "CNH", "INR", "RUB", "ILS", "THB",
}  # fmt: skip

# The report's title in the terminal languages we have seen (the Deals header may be far down).
REPORT_TITLES = ["trade history report", "отчет торговой истории", "handelshistorie", "historial de operaciones"]
MT_TIME_FORMATS = ["%Y.%m.%d %H:%M:%S", "%Y.%m.%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S"]
MAX_CELL_CHARS = 2000
MAX_CELLS = 128

# Reports in other terminal languages: their headers translated to the English ones.
LOCALIZED = {
    "время": "Time", "сделка": "Deal", "символ": "Symbol", "тип": "Type", "направление": "Direction",
    "объем": "Volume", "объём": "Volume", "цена": "Price", "ордер": "Order", "комиссия": "Commission",
    "сбор": "Fee", "своп": "Swap", "прибыль": "Profit", "баланс": "Balance", "комментарий": "Comment",
    "сделки": "Deals", "zeit": "Time", "typ": "Type", "richtung": "Direction", "volumen": "Volume",
    "preis": "Price", "kommission": "Commission", "gebühr": "Fee", "gewinn": "Profit",
    "kontostand": "Balance", "kommentar": "Comment", "geschäfte": "Deals", "abschlüsse": "Deals",
}  # fmt: skip

MT5_ALIASES: dict[str, Sequence[str]] = {
    "time": ["Time"],
    "deal": ["Deal"],
    "symbol": ["Symbol"],
    "type": ["Type"],
    "direction": ["Direction"],
    "volume": ["Volume"],
    "price": ["Price"],
    "order": ["Order"],
    "commission": ["Commission"],
    "fee": ["Fee"],
    "swap": ["Swap"],
}
MT5_REQUIRED = ["time", "deal", "symbol", "type", "direction", "volume", "price"]

MT4_ALIASES: dict[str, Sequence[str]] = {
    "ticket": ["Ticket"],
    "open_time": ["Open Time"],
    "type": ["Type"],
    "size": ["Size"],
    "item": ["Item"],
    "close_time": ["Close Time"],
    "commission": ["Commission"],
    "taxes": ["Taxes"],
    "swap": ["Swap"],
}
MT4_REQUIRED = ["ticket", "open_time", "type", "size", "item", "close_time"]


# --------------------------------------------------------------------------- HTML tables


class _TableRows(HTMLParser):
    """Collects ``<tr>`` rows as lists of cell texts while it is fed; the caller drains ``rows``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[tuple[int, list[str]]] = []
        self._row: list[str] | None = None
        self._row_line = 0
        self._cell: list[str] | None = None
        self._cell_len = 0
        self._span = 1
        self._hidden = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._finish_row()
            self._row = []
            self._row_line = self.getpos()[0]
        elif tag in {"td", "th"}:
            self._finish_cell()
            if self._row is None:
                self._row = []
                self._row_line = self.getpos()[0]
            values = dict(attrs)
            span = (values.get("colspan") or "1").strip()
            self._span = min(max(int(span), 1), MAX_CELLS) if span.isdecimal() else 1  # not "¹"
            self._hidden = "hidden" in (values.get("class") or "")
            self._cell = []
            self._cell_len = 0
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"}:
            self._finish_cell()
        elif tag in {"tr", "table"}:
            self._finish_row()

    def handle_data(self, data: str) -> None:
        if self._cell is not None and self._cell_len < MAX_CELL_CHARS:
            self._cell.append(data[: MAX_CELL_CHARS - self._cell_len])
            self._cell_len += len(data)

    def _finish_cell(self) -> None:
        if self._cell is not None and self._row is not None and not self._hidden and len(self._row) < MAX_CELLS:
            self._row.append(" ".join("".join(self._cell).split()))
            self._row.extend([""] * (self._span - 1))
        self._cell = None
        self._hidden = False

    def _finish_row(self) -> None:
        self._finish_cell()
        if self._row is not None:
            self.rows.append((self._row_line, self._row[:MAX_CELLS]))
        self._row = None

    def close(self) -> None:
        super().close()
        self._finish_row()


def iter_html_rows(source: Source) -> Iterator[tuple[int, list[str]]]:
    """(source line of the ``<tr>``, cell texts) for every table row, streamed."""
    parser = _TableRows()
    with source.open_text() as text:
        while True:
            try:
                chunk = text.read(65536)
            except UnicodeDecodeError:
                raise UndecodableFile(f"the file is not valid {source.encoding} text") from None
            if not chunk:
                break
            _feed(parser, chunk)
            yield from parser.rows
            parser.rows.clear()
    _feed(parser, None)
    yield from parser.rows


def _feed(parser: _TableRows, chunk: str | None) -> None:
    """Feed (or, with ``None``, close) the parser. The standard library's parser tolerates broken
    markup except a few declarations (``<![foo[``) on which it asserts: a typed error instead."""
    try:
        if chunk is None:
            parser.close()
        else:
            parser.feed(chunk)
    except AssertionError as exc:
        raise ImportFileError(f"the HTML cannot be read: {exc}") from None


def _html_text(source: Source) -> str:
    return "\n".join(source.sample).lower()


def _sample_rows(source: Source) -> list[list[str]]:
    parser = _TableRows()
    _feed(parser, "\n".join(source.sample))
    _feed(parser, None)
    return [row for _, row in parser.rows]


# --------------------------------------------------------------------------- values


def mt_decimal(raw: object, column: str) -> Decimal:
    """``1 234.50``, ``4 577,86``, ``-0,35``: the decimal mark is whichever of ``.``/``,`` comes last."""
    text = cell_text(raw)
    comma = "," in text and ("." not in text or text.rfind(",") > text.rfind("."))
    return parse_decimal(raw, column, decimal_comma=comma)


def optional_decimal(raw: object, column: str) -> Decimal:
    return Decimal(0) if cell_text(raw) in {"", "-"} else mt_decimal(raw, column)


def lot_size(symbol: str) -> tuple[Decimal, Segment | None]:
    """Units per lot and the segment, from the symbol with any broker suffix removed."""
    letters = re.sub(r"[^A-Z]", "", symbol.upper())
    for base, (size, segment) in CONTRACT_SIZES.items():
        if letters.startswith(base):
            return size, segment
    if len(letters) >= 6 and letters[:3] in CURRENCIES and letters[3:6] in CURRENCIES:
        return FOREX_LOT, "currency"
    return Decimal(1), None


def mt_side(raw: object, column: str) -> Side:
    text = cell_text(raw).lower()
    if text in {"buy", "sell"}:
        return "buy" if text == "buy" else "sell"
    raise RowInvalid(column, "type must be buy or sell", raw)


def _fees(*amounts: Decimal) -> Decimal:
    """MetaTrader writes charges as negative amounts; their sum paid is the fee (a net credit is 0)."""
    total = sum(amounts, Decimal(0))
    return -total if total < 0 else Decimal(0)


def _localize(row: Sequence[Any]) -> list[str]:
    return [LOCALIZED.get(cell_text(c).lower(), cell_text(c)) for c in row]


def _section_title(row: Sequence[Any]) -> str | None:
    cells = [cell_text(c) for c in row if cell_text(c)]
    if len(cells) == 1:
        return norm(LOCALIZED.get(cells[0].lower().rstrip(":"), cells[0]))
    return None


# --------------------------------------------------------------------------- MT5


class _Mt5Deals(FormatParser):
    """The Deals section of an MT5 report, from rows of cells (HTML or XLSX)."""

    def deals(
        self, rows: Iterable[tuple[int, Sequence[Any]]], options: ParseOptions, zone: str
    ) -> Iterator[ParseResult]:
        in_deals = False
        columns: Columns | None = None
        seen_section = False
        for line, row in rows:
            if blank(row):
                continue
            title = _section_title(row)
            if title is not None and title.isalpha() and not title.startswith(("buy", "sell", "balance")):
                in_deals = title == "deals"
                seen_section = seen_section or in_deals
                columns = None
                continue
            if not in_deals:
                continue
            if columns is None:
                candidate = Columns(_localize(row), MT5_ALIASES)
                if candidate.matches(MT5_REQUIRED):
                    columns = candidate
                else:
                    raise MissingColumns(self.label, candidate.missing(MT5_REQUIRED))
                continue
            kind = cell_text(columns.get(row, "type")).lower()
            if kind not in {"buy", "sell"}:
                continue  # balance, credit, charge, correction... rows and the totals row
            yield drive(self._row, line, row, columns, options, zone)
        if not seen_section:
            raise MissingColumns(self.label, ["the Deals section"])

    def _row(self, line: int, row: Sequence[Any], columns: Columns, options: ParseOptions, zone: str) -> ParsedRow:
        symbol = symbol_of(columns.get(row, "symbol"), "Symbol")
        direction = norm(columns.get(row, "direction"))
        if direction not in {"in", "out", "inout", "outby"}:
            raise RowInvalid("Direction", "direction must be in, out, in/out or out by", columns.get(row, "direction"))
        size, segment = lot_size(symbol)
        lots = positive(mt_decimal(columns.get(row, "volume"), "Volume"), "Volume")
        local = parse_datetime(columns.get(row, "time"), "Time", MT_TIME_FORMATS)
        return ParsedRow(
            line=line,
            symbol=symbol,
            side=mt_side(columns.get(row, "type"), "Type"),
            quantity=lots * size,
            price=positive(mt_decimal(columns.get(row, "price"), "Price"), "Price"),
            executed_at=to_utc(local, zone),
            source_timezone=zone,
            exchange="MT5",
            segment=segment,
            currency=(options.currency or "USD")[:3],
            fees=_fees(
                optional_decimal(columns.get(row, "commission"), "Commission"),
                optional_decimal(columns.get(row, "fee"), "Fee"),
                optional_decimal(columns.get(row, "swap"), "Swap"),
            ),
            broker_trade_id=cell_text(columns.get(row, "deal")) or None,
            broker_order_id=cell_text(columns.get(row, "order")) or None,
        )


def _mt5_header_seen(rows: Iterable[Sequence[Any]]) -> bool:
    in_deals = False
    for row in rows:
        title = _section_title(row)
        if title is not None:
            in_deals = title == "deals"
        elif in_deals and Columns(_localize(row), MT5_ALIASES).matches(MT5_REQUIRED):
            return True
    return False


class Mt5ReportHtml(_Mt5Deals):
    name = "mt5_report_html"
    label = "MetaTrader 5 trade history report (HTML)"
    broker = "metatrader"
    family = "html"
    timezone = "UTC"

    def sniff(self, source: Source) -> int:
        if source.kind != "html":
            return 0
        if _mt5_header_seen(_sample_rows(source)):
            return 90
        text = _html_text(source)
        if any(title in text for title in REPORT_TITLES):
            return 85
        return 0

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        return self.deals(iter_html_rows(source), options, self.zone(options))


class Mt5ReportXlsx(_Mt5Deals):
    name = "mt5_report_xlsx"
    label = "MetaTrader 5 trade history report (XLSX)"
    broker = "metatrader"
    family = "xlsx"
    timezone = "UTC"

    def sniff(self, source: Source) -> int:
        if source.kind != "xlsx":
            return 0
        for rows in source.sheets.values():
            if _mt5_header_seen(rows):
                return 90
            if any("trade history report" in cell_text(c).lower() for row in rows[:5] for c in row):
                return 60
        return 0

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        zone = self.zone(options)
        for _, rows in iter_sheet_rows(source.path):
            numbered = ((i, row) for i, row in enumerate(rows, start=1))
            yield from self.deals(numbered, options, zone)
            return


# --------------------------------------------------------------------------- MT4


class Mt4StatementHtml(FormatParser):
    """MT4 detailed statement: ``Closed Transactions`` rows become an opening and a closing execution;
    ``Open Trades`` rows the opening one only. Commission, taxes and swap go on the opening fill."""

    name = "mt4_statement_html"
    label = "MetaTrader 4 detailed statement (HTML)"
    broker = "metatrader"
    family = "html"
    timezone = "UTC"

    def sniff(self, source: Source) -> int:
        if source.kind != "html":
            return 0
        text = _html_text(source)
        if "closed transactions" in text or ("statement" in text and "ticket" in text and "item" in text):
            return 88
        return 0

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        zone = self.zone(options)
        section = ""
        columns: Columns | None = None
        prices: list[int] = []
        seen_header = False
        for line, row in iter_html_rows(source):
            if blank(row):
                continue
            title = _section_title(row)
            if title is not None and not title.isdigit():
                section = title
                columns = None
                continue
            candidate = Columns(row, MT4_ALIASES)
            if candidate.matches(MT4_REQUIRED):
                columns = candidate
                prices = [i for i, c in enumerate(row) if norm(c) == "price"]
                seen_header = True
                continue
            if columns is None or section not in {"closedtransactions", "opentrades"}:
                continue
            if cell_text(columns.get(row, "type")).lower() not in {"buy", "sell"}:
                continue  # balance/credit rows, cancelled pending orders, totals
            if len(prices) < 1:
                raise MissingColumns(self.label, ["Price"])
            closed = section == "closedtransactions"
            if closed and len(prices) < 2:
                raise MissingColumns(self.label, ["the closing Price"])
            result = drive(self._legs, line, row, columns, prices, closed, options, zone)
            if isinstance(result, RowError):
                yield result
            else:
                yield from result
        if not seen_header:
            raise MissingColumns(self.label, ["Ticket, Open Time, Type, Size, Item, Price, Close Time, Price"])

    def _legs(
        self,
        line: int,
        row: Sequence[Any],
        columns: Columns,
        prices: list[int],
        closed: bool,
        options: ParseOptions,
        zone: str,
    ) -> list[ParsedRow]:
        symbol = symbol_of(columns.get(row, "item"), "Item")
        size, segment = lot_size(symbol)
        quantity = positive(mt_decimal(columns.get(row, "size"), "Size"), "Size") * size
        side = mt_side(columns.get(row, "type"), "Type")
        ticket = cell_text(columns.get(row, "ticket"))
        if not ticket:
            raise RowInvalid("Ticket", "empty", None)
        opened = to_utc(parse_datetime(columns.get(row, "open_time"), "Open Time", MT_TIME_FORMATS), zone)
        fees = _fees(
            optional_decimal(columns.get(row, "commission"), "Commission"),
            optional_decimal(columns.get(row, "taxes"), "Taxes"),
            optional_decimal(columns.get(row, "swap"), "Swap"),
        )
        common: dict[str, Any] = {
            "line": line,
            "symbol": symbol,
            "quantity": quantity,
            "source_timezone": zone,
            "exchange": "MT4",
            "segment": segment,
            "currency": (options.currency or "USD")[:3],
            "broker_order_id": ticket,
        }
        legs = [
            ParsedRow(
                side=side,
                price=positive(mt_decimal(_at(row, prices[0]), "Price"), "Price"),
                executed_at=opened,
                fees=fees,
                broker_trade_id=f"{ticket}-open",
                **common,
            )
        ]
        if closed:
            closed_at = to_utc(parse_datetime(columns.get(row, "close_time"), "Close Time", MT_TIME_FORMATS), zone)
            if closed_at < opened:
                raise RowInvalid("Close Time", "closes before it opens", columns.get(row, "close_time"))
            legs.append(
                ParsedRow(
                    side="sell" if side == "buy" else "buy",
                    price=positive(mt_decimal(_at(row, prices[1]), "Price"), "Price"),
                    executed_at=closed_at,
                    fees=Decimal(0),
                    broker_trade_id=f"{ticket}-close",
                    **common,
                )
            )
        return legs


def _at(row: Sequence[Any], index: int) -> Any:
    return row[index] if index < len(row) else None
