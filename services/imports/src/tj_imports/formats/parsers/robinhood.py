"""Robinhood account activity CSV: trades by ``Trans Code`` (other codes — dividends, transfers,
interest — are skipped). The file has dates only: day-level executions at noon New York time.

Fees are folded into ``Amount``; the fee of a fill is what ``Amount`` differs from quantity x
price by, when that difference is a charge (never negative). Options (``Description`` like
``SPY 6/20/2025 Call $550.00``) are stored under their OCC symbol with quantities in shares.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from tj_imports.formats.base import (
    Columns,
    FormatParser,
    ParsedRow,
    ParseOptions,
    ParseResult,
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
    US_OPTION_MULTIPLIER,
    blank,
    drive,
    locate_header,
    occ_symbol,
    sniff_header,
    symbol_of,
)

ALIASES: dict[str, Sequence[str]] = {
    "activity_date": ["Activity Date"],
    "instrument": ["Instrument"],
    "description": ["Description"],
    "code": ["Trans Code"],
    "quantity": ["Quantity"],
    "price": ["Price"],
    "amount": ["Amount"],
}
REQUIRED = ["activity_date", "instrument", "code", "quantity", "price"]

CODES: dict[str, Side] = {"BUY": "buy", "SELL": "sell", "BTO": "buy", "BTC": "buy", "STO": "sell", "STC": "sell"}
_OPTION = re.compile(r"^([A-Z.]{1,6}) (\d{1,2}/\d{1,2}/\d{4}) (CALL|PUT) \$?([\d,]+(?:\.\d+)?)$", re.IGNORECASE)


class RobinhoodActivityCsv(FormatParser):
    name = "robinhood_activity_csv"
    label = "Robinhood account activity (CSV)"
    broker = "robinhood"
    family = "csv"
    timezone = US_EASTERN
    day_level = True

    def sniff(self, source: Source) -> int:
        found = sniff_header(source, ALIASES, REQUIRED)
        return 0 if found is None else found[0] + 5

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        rows = iter_csv(source)
        _, columns = locate_header(rows, ALIASES, REQUIRED, self.label)
        zone = self.zone(options)
        for line, row in rows:
            if blank(row) or columns.text(row, "code").upper() not in CODES:
                continue
            yield drive(self._row, line, row, columns, zone, options)

    def _row(self, line: int, row: Sequence[Any], columns: Columns, zone: str, options: ParseOptions) -> ParsedRow:
        day = parse_datetime(columns.get(row, "activity_date"), "Activity Date", ["%m/%d/%Y"]).replace(hour=12)
        side = CODES[columns.text(row, "code").upper()]
        option = _OPTION.match(" ".join(columns.text(row, "description").split()))
        quantity = positive(parse_decimal(columns.get(row, "quantity"), "Quantity"), "Quantity")
        price = positive(parse_decimal(columns.get(row, "price"), "Price"), "Price")
        segment: Segment = "equity"
        multiplier = Decimal(1)
        if option:
            underlying, expiry, right, strike = option.groups()
            symbol = occ_symbol(
                underlying,
                parse_datetime(expiry, "Description", ["%m/%d/%Y"]),
                right,
                parse_decimal(strike, "Description"),
            )
            segment, multiplier = "options", US_OPTION_MULTIPLIER
        else:
            symbol = symbol_of(columns.get(row, "instrument"), "Instrument")
        fees = None
        if cell_text(columns.get(row, "amount")):
            amount = parse_decimal(columns.get(row, "amount"), "Amount")
            notional = quantity * price * multiplier
            difference = (-amount - notional) if side == "buy" else (notional - amount)
            fees = difference if Decimal(0) <= difference < notional else Decimal(0)
        return ParsedRow(
            line=line,
            symbol=symbol,
            side=side,
            quantity=quantity * multiplier,
            price=price,
            executed_at=to_utc(day, zone),
            source_timezone=zone,
            exchange="US",
            segment=segment,
            currency=(options.currency or "USD")[:3],
            fees=fees,
            day_level=True,
        )
