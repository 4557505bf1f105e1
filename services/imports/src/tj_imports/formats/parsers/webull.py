"""Webull orders CSV: one row per order; only ``Filled`` orders are executions, at ``Avg Price``
(``Price`` may read ``@123.45``, the limit). ``Filled Time`` carries a zone abbreviation
(``EDT``/``EST``...); without one, America/New_York. OCC option symbols count 100 shares a contract.
"""

from __future__ import annotations

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
    Source,
    iter_csv,
    parse_datetime,
    parse_decimal,
    parse_side,
    positive,
    to_utc,
)
from tj_imports.formats.parsers._global import (
    US_EASTERN,
    US_OPTION_MULTIPLIER,
    ZONE_ABBREVIATIONS,
    blank,
    drive,
    is_occ_symbol,
    locate_header,
    sniff_header,
    symbol_of,
)

ALIASES: dict[str, Sequence[str]] = {
    "name": ["Name"],
    "symbol": ["Symbol"],
    "side": ["Side"],
    "status": ["Status"],
    "filled": ["Filled"],
    "total_qty": ["Total Qty"],
    "avg_price": ["Avg Price"],
    "filled_time": ["Filled Time"],
}
REQUIRED = ["symbol", "side", "status", "filled", "avg_price", "filled_time"]
TIME_FORMATS = ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S"]


class WebullOrdersCsv(FormatParser):
    name = "webull_orders_csv"
    label = "Webull orders (CSV)"
    broker = "webull"
    family = "csv"
    timezone = US_EASTERN

    def sniff(self, source: Source) -> int:
        found = sniff_header(source, ALIASES, REQUIRED)
        return 0 if found is None else found[0] + 5

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        rows = iter_csv(source)
        _, columns = locate_header(rows, ALIASES, REQUIRED, self.label)
        for line, row in rows:
            if blank(row) or columns.text(row, "status").lower() != "filled":
                continue  # cancelled, pending and failed orders executed nothing
            yield drive(self._row, line, row, columns, options)

    def _row(self, line: int, row: Sequence[Any], columns: Columns, options: ParseOptions) -> ParsedRow:
        text = " ".join(columns.text(row, "filled_time").split())
        zone = self.zone(options)
        stamp, _, abbreviation = text.rpartition(" ")
        if abbreviation.upper() in ZONE_ABBREVIATIONS:
            zone = ZONE_ABBREVIATIONS[abbreviation.upper()]
            text = stamp
        elif abbreviation.isalpha():
            raise RowInvalid("Filled Time", "unknown time zone abbreviation", abbreviation)
        local = parse_datetime(text, "Filled Time", TIME_FORMATS)
        symbol = symbol_of(columns.get(row, "symbol"), "Symbol")
        option = is_occ_symbol(symbol)
        segment: Segment = "options" if option else "equity"
        quantity = positive(parse_decimal(columns.get(row, "filled"), "Filled"), "Filled")
        return ParsedRow(
            line=line,
            symbol=symbol,
            side=parse_side(columns.get(row, "side"), "Side"),
            quantity=quantity * US_OPTION_MULTIPLIER if option else quantity,
            price=positive(parse_decimal(columns.get(row, "avg_price"), "Avg Price"), "Avg Price"),
            executed_at=to_utc(local, zone),
            source_timezone=zone,
            exchange="US",
            segment=segment,
            currency=(options.currency or "USD")[:3],
        )
