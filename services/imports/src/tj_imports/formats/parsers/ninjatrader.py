"""NinjaTrader 8 executions CSV (Account Performance / Executions grid export).

Locale-dependent: European installs write ``;`` separators and decimal commas (``4512,25``) and
day-first dates (``20.11.2025 14:30:15``); US installs ``,``, decimal points and
``11/20/2025 2:30:15 PM``. The time is the PC's clock: ``ParseOptions.timezone``, default
America/New_York. ``ID`` (the execution id) is the key, not ``Order ID``. ``Commission`` may
carry a currency sign.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from typing import Any

from tj_imports.formats.base import (
    Columns,
    FormatParser,
    ParsedRow,
    ParseOptions,
    ParseResult,
    RowInvalid,
    Segment,
    Side,
    Source,
    cell_text,
    iter_csv,
    parse_datetime,
    parse_decimal,
    positive,
    to_utc,
)
from tj_imports.formats.parsers._global import (
    US_EASTERN,
    blank,
    delimiter_of,
    drive,
    locate_header,
    symbol_of,
)

ALIASES: dict[str, Sequence[str]] = {
    "instrument": ["Instrument"],
    "action": ["Action"],
    "quantity": ["Quantity"],
    "price": ["Price"],
    "time": ["Time"],
    "id": ["ID"],
    "entry_exit": ["E/X"],
    "order_id": ["Order ID"],
    "commission": ["Commission"],
    "account": ["Account display name", "Account"],
}
REQUIRED = ["instrument", "action", "quantity", "price", "time", "id", "entry_exit"]
US_TIME = ["%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"]
EU_TIME = ["%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"]
ACTIONS: dict[str, Side] = {"buy": "buy", "sell": "sell", "buytocover": "buy", "sellshort": "sell"}
_FUTURE = re.compile(r"^[A-Z0-9]{1,6} \d{2}-\d{2}$")
_FOREX = re.compile(r"^[A-Z]{6}$")


class NinjaTraderExecutionsCsv(FormatParser):
    name = "ninjatrader_executions_csv"
    label = "NinjaTrader 8 executions (CSV)"
    broker = "ninjatrader"
    family = "csv"
    timezone = US_EASTERN

    def sniff(self, source: Source) -> int:
        if source.kind != "text":
            return 0
        delimiter = delimiter_of(source)
        for row in csv.reader(source.sample[:10], delimiter=delimiter):
            if Columns(row, ALIASES).matches(REQUIRED):
                return 85
        return 0

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        delimiter = delimiter_of(source)
        rows = iter_csv(source, delimiter=delimiter)
        _, columns = locate_header(rows, ALIASES, REQUIRED, self.label)
        european = delimiter == ";"
        zone = self.zone(options)
        for line, row in rows:
            if blank(row):
                continue
            yield drive(self._row, line, row, columns, european, zone, options)

    def _row(
        self, line: int, row: Sequence[Any], columns: Columns, european: bool, zone: str, options: ParseOptions
    ) -> ParsedRow:
        action = re.sub(r"[^a-z]", "", columns.text(row, "action").lower())
        if action not in ACTIONS:
            raise RowInvalid(
                "Action", "action must be Buy, Sell, Buy to cover or Sell short", columns.get(row, "action")
            )
        if columns.text(row, "entry_exit").lower() not in {"entry", "exit", "e", "x"}:
            raise RowInvalid("E/X", "must be Entry or Exit", columns.get(row, "entry_exit"))
        symbol = symbol_of(columns.get(row, "instrument"), "Instrument")
        segment: Segment = "futures" if _FUTURE.match(symbol) else "currency" if _FOREX.match(symbol) else "equity"
        local = parse_datetime(columns.get(row, "time"), "Time", EU_TIME if european else US_TIME)
        commission = cell_text(columns.get(row, "commission"))
        execution_id = columns.text(row, "id")
        if not execution_id:
            raise RowInvalid("ID", "empty", None)
        return ParsedRow(
            line=line,
            symbol=symbol,
            side=ACTIONS[action],
            quantity=positive(
                parse_decimal(columns.get(row, "quantity"), "Quantity", decimal_comma=european), "Quantity"
            ),
            price=positive(parse_decimal(columns.get(row, "price"), "Price", decimal_comma=european), "Price"),
            executed_at=to_utc(local, zone),
            source_timezone=zone,
            exchange="NT8",
            segment=segment,
            currency=(options.currency or "USD")[:3],
            fees=abs(parse_decimal(commission, "Commission", decimal_comma=european)) if commission else None,
            broker_trade_id=execution_id,
            broker_order_id=columns.text(row, "order_id") or None,
        )
