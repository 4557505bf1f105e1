"""Interactive Brokers: Flex Query trade CSV (full and compact column sets) and the multi-section
Activity Statement CSV. Times carry no offset: they are in the statement's time zone, a setting
(``ParseOptions.timezone``) that defaults to America/New_York."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from tj_imports.formats.base import (
    Columns,
    FormatParser,
    MissingColumns,
    ParsedRow,
    ParseOptions,
    ParseResult,
    RowInvalid,
    Segment,
    Side,
    Source,
    cell_text,
    iter_csv,
    norm,
    parse_decimal,
    positive,
    to_utc,
)
from tj_imports.formats.parsers._global import (
    US_EASTERN,
    blank,
    drive,
    is_occ_symbol,
    locate_header,
    sniff_header,
    symbol_of,
)

SEGMENTS: dict[str, Segment] = {
    "STK": "equity",
    "ETF": "equity",
    "OPT": "options",
    "FOP": "options",
    "FUT": "futures",
    "CASH": "currency",
    "CMDTY": "commodity",
    # Activity Statement "Asset Category" names
    "STOCKS": "equity",
    "EQUITYANDINDEXOPTIONS": "options",
    "OPTIONSONFUTURES": "options",
    "FUTURES": "futures",
    "FOREX": "currency",
}

FLEX_ALIASES: dict[str, Sequence[str]] = {
    "account": ["ClientAccountID"],
    "currency": ["CurrencyPrimary", "Currency"],
    "asset_class": ["AssetClass"],
    "symbol": ["Symbol"],
    "multiplier": ["Multiplier"],
    "trade_id": ["TradeID", "IBExecID", "ExecID"],
    "order_id": ["IBOrderID", "OrderID"],
    "datetime": ["Date/Time", "DateTime"],
    "trade_date": ["TradeDate"],
    "side": ["Buy/Sell"],
    "quantity": ["Quantity"],
    "price": ["TradePrice", "Price"],
    "commission": ["IBCommission", "Commission"],
    "exchange": ["Exchange", "ListingExchange"],
    "code": ["Open/CloseIndicator", "Code"],
}
FLEX_REQUIRED = ["account", "symbol", "quantity", "price"]

ACTIVITY_ALIASES: dict[str, Sequence[str]] = {
    "discriminator": ["DataDiscriminator"],
    "asset_category": ["Asset Category"],
    "currency": ["Currency"],
    "symbol": ["Symbol"],
    "datetime": ["Date/Time"],
    "exchange": ["Exchange"],
    "quantity": ["Quantity"],
    "price": ["T. Price"],
    "commission": ["Comm/Fee", "Comm in USD"],
    "code": ["Code"],
}
ACTIVITY_REQUIRED = ["discriminator", "symbol", "datetime", "quantity", "price"]

_DATE_TIME = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:[;,T ]\s*(\d{2}):?(\d{2}):?(\d{2}))?$")
# Flex files "with header and trailer records" prefix each row with a record type and section code.
_RECORD_TYPES = {"HEADER", "DATA"}


def ibkr_datetime(raw: object, column: str) -> tuple[datetime, bool]:
    """``20260105;093000``, ``20260105``, ``2026-01-05, 09:30:00`` → (naive local time, date only?)."""
    text = cell_text(raw)
    match = _DATE_TIME.match(text)
    if not match:
        raise RowInvalid(column, "not a date/time in the form YYYYMMDD;HHMMSS", raw)
    year, month, day, hour, minute, second = match.groups()
    try:
        if hour is None:
            return datetime(int(year), int(month), int(day), 12), True
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second)), False
    except ValueError:
        raise RowInvalid(column, "impossible date or time", raw) from None


def _fees(commission: object, column: str) -> Decimal | None:
    """IBKR writes commissions as cash flows: negative = a fee paid. A rebate (positive) is no fee."""
    if cell_text(commission) == "":
        return None
    value = parse_decimal(commission, column)
    return -value if value < 0 else Decimal(0)


def _side(quantity: Decimal, side_text: str, column: str) -> Side:
    from_sign: Side = "sell" if quantity < 0 else "buy"
    text = side_text.strip().upper()
    if "(CA" in text:
        raise RowInvalid(column, "a cancelled trade (IBKR correction row) is not an execution", side_text)
    if text in {"BUY", "SELL"} and text.lower() != from_sign:
        raise RowInvalid(column, "Buy/Sell contradicts the sign of Quantity", side_text)
    return from_sign


class IbkrFlexCsv(FormatParser):
    name = "ibkr_flex_csv"
    label = "Interactive Brokers Flex Query trades (CSV)"
    broker = "ibkr"
    family = "csv"
    timezone = US_EASTERN

    def sniff(self, source: Source) -> int:
        found = sniff_header(source, FLEX_ALIASES, FLEX_REQUIRED)
        if found is None:
            found = sniff_header(_unprefixed(source), FLEX_ALIASES, FLEX_REQUIRED)
        if found is None:
            return 0
        score, columns = found
        if not columns.matches(["side"]) or not (columns.matches(["datetime"]) or columns.matches(["trade_date"])):
            return 0
        return score + 5

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        rows = _records(iter_csv(source))
        _, columns = locate_header(rows, FLEX_ALIASES, FLEX_REQUIRED, self.label)
        if not (columns.matches(["datetime"]) or columns.matches(["trade_date"])):
            raise MissingColumns(self.label, ["Date/Time or TradeDate"])
        zone = self.zone(options)
        for line, row in rows:
            if blank(row):
                continue
            if norm(columns.text(row, "symbol")) == "symbol":
                # Flex files concatenate one block per account or section, each with its header again.
                again = Columns(row, FLEX_ALIASES)
                if again.matches(FLEX_REQUIRED):
                    columns = again
                    continue
            yield drive(self._row, line, row, columns, zone, options)

    def _row(self, line: int, row: Sequence[Any], columns: Columns, zone: str, options: ParseOptions) -> ParsedRow:
        asset = columns.text(row, "asset_class").upper() or "STK"
        segment = SEGMENTS.get(asset)
        if segment is None:
            raise RowInvalid("AssetClass", "asset class is not a tradable instrument", asset)
        quantity = parse_decimal(columns.get(row, "quantity"), "Quantity")
        if quantity == 0:
            raise RowInvalid("Quantity", "zero quantity", columns.get(row, "quantity"))
        side = _side(quantity, columns.text(row, "side"), "Buy/Sell")
        multiplier = Decimal(1)
        if columns.text(row, "multiplier"):
            multiplier = positive(parse_decimal(columns.get(row, "multiplier"), "Multiplier"), "Multiplier")
        raw_time = columns.get(row, "datetime") if columns.text(row, "datetime") else columns.get(row, "trade_date")
        local, day_level = ibkr_datetime(raw_time, "Date/Time" if columns.text(row, "datetime") else "TradeDate")
        symbol = symbol_of(columns.get(row, "symbol"), "Symbol")
        if segment == "options" and is_occ_symbol(symbol.replace(" ", "")):
            symbol = symbol.replace(" ", "")  # IBKR pads the OCC root to six characters
        return ParsedRow(
            line=line,
            symbol=symbol,
            side=side,
            quantity=abs(quantity) * multiplier,
            price=positive(parse_decimal(columns.get(row, "price"), "Price"), "Price"),
            executed_at=to_utc(local, zone),
            source_timezone=zone,
            exchange=(columns.text(row, "exchange").upper() or "IBKR")[:16],
            segment=segment,
            currency=(columns.text(row, "currency").upper() or options.currency or "USD")[:3],
            fees=_fees(columns.get(row, "commission"), "Commission"),
            broker_trade_id=columns.text(row, "trade_id") or None,
            broker_order_id=columns.text(row, "order_id") or None,
            day_level=day_level,
        )


def _records(rows: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    """Drop the record-type prefix (``HEADER,TRNT,...`` / ``DATA,TRNT,...``) and BOF/EOF trailer rows."""
    for line, row in rows:
        head = row[0].strip().upper() if row else ""
        if head in _RECORD_TYPES and len(row) > 2:
            yield line, row[2:]
        elif head in {"BOF", "BOA", "BOS", "EOS", "EOA", "EOF"}:
            continue
        else:
            yield line, row


def _unprefixed(source: Source) -> Source:
    view = Source(path=source.path, kind=source.kind, encoding=source.encoding)
    view.sample = [re.sub(r'^"?(HEADER|DATA)"?,"?[A-Z]+"?,', "", line) for line in source.sample]
    return view


class IbkrActivityStatementCsv(FormatParser):
    """The Activity Statement: every section in one CSV, each row ``<Section>,Header|Data|SubTotal|Total,...``.
    Only ``Trades`` ``Data`` rows whose discriminator is ``Order`` are executions."""

    name = "ibkr_activity_csv"
    label = "Interactive Brokers Activity Statement (CSV)"
    broker = "ibkr"
    family = "csv"
    timezone = US_EASTERN

    def sniff(self, source: Source) -> int:
        if source.kind != "text":
            return 0
        first = source.sample[0] if source.sample else ""
        statement = norm(first).startswith("statementheader")
        for row in source.first_rows():
            trades_header = len(row) > 2 and row[0].strip() == "Trades" and row[1].strip() == "Header"
            if trades_header and Columns(row, ACTIVITY_ALIASES).matches(ACTIVITY_REQUIRED):
                return 90
        return 40 if statement else 0

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        zone = self.zone(options)
        columns: Columns | None = None
        for line, row in iter_csv(source):
            if len(row) < 2 or row[0].strip() != "Trades":
                continue
            kind = row[1].strip()
            if kind == "Header":
                columns = Columns(row, ACTIVITY_ALIASES)
                if not columns.matches(ACTIVITY_REQUIRED):
                    raise MissingColumns(self.label, columns.missing(ACTIVITY_REQUIRED))
                continue
            if kind != "Data" or columns is None:
                continue
            if columns.text(row, "discriminator") != "Order":
                continue  # Trade (executions of an order, repeated), ClosedLot, SubTotal lines
            yield drive(self._row, line, row, columns, zone, options)
        if columns is None:
            raise MissingColumns(self.label, ["Trades,Header,DataDiscriminator,..."])

    def _row(self, line: int, row: Sequence[Any], columns: Columns, zone: str, options: ParseOptions) -> ParsedRow:
        category = norm(columns.text(row, "asset_category")).upper()
        segment = SEGMENTS.get(category, "equity")
        quantity = parse_decimal(columns.get(row, "quantity"), "Quantity")
        if quantity == 0:
            raise RowInvalid("Quantity", "zero quantity", columns.get(row, "quantity"))
        if segment == "options":
            quantity *= 100  # the statement has no multiplier column; equity options are 100 shares
        local, day_level = ibkr_datetime(columns.get(row, "datetime"), "Date/Time")
        return ParsedRow(
            line=line,
            symbol=symbol_of(columns.get(row, "symbol"), "Symbol"),
            side="sell" if quantity < 0 else "buy",
            quantity=abs(quantity),
            price=positive(parse_decimal(columns.get(row, "price"), "T. Price"), "T. Price"),
            executed_at=to_utc(local, zone),
            source_timezone=zone,
            exchange=(columns.text(row, "exchange").upper() or "IBKR")[:16],
            segment=segment,
            currency=(columns.text(row, "currency").upper() or options.currency or "USD")[:3],
            fees=_fees(columns.get(row, "commission"), "Comm/Fee"),
            day_level=day_level,
        )
