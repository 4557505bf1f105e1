"""Charles Schwab transactions CSV (brokerage history export): trades only, by ``Action``.

``Date`` may read ``12/16/2025 as of 12/15/2025``: the ``as of`` date is the trade date. The file
has no times, so rows are day-level executions (noon New York time). Options (``SPY 06/20/2025
550.00 C``) are stored under their OCC symbol with quantities in shares (contracts x 100).
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
    US_OPTION_MULTIPLIER,
    blank,
    drive,
    locate_header,
    occ_symbol,
    sniff_header,
    symbol_of,
)

ALIASES: dict[str, Sequence[str]] = {
    "date": ["Date"],
    "action": ["Action"],
    "symbol": ["Symbol"],
    "description": ["Description"],
    "quantity": ["Quantity"],
    "price": ["Price"],
    "fees": ["Fees & Comm", "Fees & Commissions"],
    "amount": ["Amount"],
}
REQUIRED = ["date", "action", "symbol", "quantity", "price", "amount"]

ACTIONS: dict[str, Side] = {
    "buy": "buy",
    "sell": "sell",
    "buy to open": "buy",
    "buy to close": "buy",
    "sell to open": "sell",
    "sell to close": "sell",
    "sell short": "sell",
    "buy to cover": "buy",
}
_DATE = re.compile(r"(\d{1,2}/\d{1,2}/\d{4})(?:\s+as of\s+(\d{1,2}/\d{1,2}/\d{4}))?$", re.IGNORECASE)
_OPTION = re.compile(r"^([A-Z.]{1,6}) (\d{2}/\d{2}/\d{4}) (\d+(?:\.\d+)?) ([CP])$")


def us_option(symbol: str) -> tuple[str, bool]:
    """``SPY 06/20/2025 550.00 C`` → (``SPY250620C00550000``, True); anything else unchanged."""
    match = _OPTION.match(symbol)
    if not match:
        return symbol, False
    underlying, expiry, strike, right = match.groups()
    when = parse_datetime(expiry, "Symbol", ["%m/%d/%Y"])
    return occ_symbol(underlying, when, right, Decimal(strike)), True


class SchwabTransactionsCsv(FormatParser):
    name = "schwab_transactions_csv"
    label = "Charles Schwab transactions (CSV)"
    broker = "schwab"
    family = "csv"
    timezone = US_EASTERN
    day_level = True

    def sniff(self, source: Source) -> int:
        found = sniff_header(source, ALIASES, REQUIRED)
        if found is None or not found[1].matches(["fees"]):
            return 0
        return found[0] + 5

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        rows = iter_csv(source)
        _, columns = locate_header(rows, ALIASES, REQUIRED, self.label)
        zone = self.zone(options)
        for line, row in rows:
            if blank(row) or columns.text(row, "action").lower() not in ACTIONS:
                continue  # dividends, interest, transfers, journal entries, the totals line
            yield drive(self._row, line, row, columns, zone, options)

    def _row(self, line: int, row: Sequence[Any], columns: Columns, zone: str, options: ParseOptions) -> ParsedRow:
        match = _DATE.match(columns.text(row, "date"))
        if not match:
            raise RowInvalid("Date", "not a date in the form MM/DD/YYYY", columns.get(row, "date"))
        day = parse_datetime(match.group(2) or match.group(1), "Date", ["%m/%d/%Y"]).replace(hour=12)
        symbol, option = us_option(" ".join(columns.text(row, "symbol").upper().split()))
        symbol = symbol_of(symbol, "Symbol")
        quantity = positive(abs(parse_decimal(columns.get(row, "quantity"), "Quantity")), "Quantity")
        segment: Segment = "options" if option else "equity"
        fees_text = cell_text(columns.get(row, "fees"))
        return ParsedRow(
            line=line,
            symbol=symbol,
            side=ACTIONS[columns.text(row, "action").lower()],
            quantity=quantity * US_OPTION_MULTIPLIER if option else quantity,
            price=positive(parse_decimal(columns.get(row, "price"), "Price"), "Price"),
            executed_at=to_utc(day, zone),
            source_timezone=zone,
            exchange="US",
            segment=segment,
            currency=(options.currency or "USD")[:3],
            fees=abs(parse_decimal(fees_text, "Fees & Comm")) if fees_text else None,
            day_level=True,
        )
