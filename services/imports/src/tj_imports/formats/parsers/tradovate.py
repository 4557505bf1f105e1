"""Tradovate orders CSV: one row per order; ``Filled`` orders with a filled quantity are
executions at the average fill price. Values often carry a leading space (`` Buy``,
`` Filled``). The symbol is the contract (``MESZ5``); its product root (``MES``) is checked
against ``Product`` when present. The file has no fees (they come from a per-contract schedule).
Each order's id is its key: one row per order, so it stands in for a trade id.
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
    Source,
    cell_text,
    iter_csv,
    parse_datetime,
    parse_decimal,
    parse_side,
    positive,
    to_utc,
)
from tj_imports.formats.parsers._global import (
    US_EASTERN,
    blank,
    drive,
    futures_root,
    locate_header,
    sniff_header,
    symbol_of,
)

ALIASES: dict[str, Sequence[str]] = {
    "order_id": ["orderId", "Order ID"],
    "side": ["B/S"],
    "contract": ["Contract"],
    "product": ["Product"],
    "filled_qty": ["filledQty", "Filled Qty"],
    "avg_price": ["avgPrice", "Avg Fill Price"],
    "fill_time": ["Fill Time"],
    "status": ["Status"],
}
REQUIRED = ["order_id", "side", "contract", "filled_qty", "avg_price", "fill_time", "status"]
TIME_FORMATS = ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S"]


class TradovateOrdersCsv(FormatParser):
    name = "tradovate_orders_csv"
    label = "Tradovate orders (CSV)"
    broker = "tradovate"
    family = "csv"
    timezone = US_EASTERN

    def sniff(self, source: Source) -> int:
        found = sniff_header(source, ALIASES, REQUIRED)
        return 0 if found is None else found[0] + 5

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        rows = iter_csv(source)
        _, columns = locate_header(rows, ALIASES, REQUIRED, self.label)
        zone = self.zone(options)
        for line, row in rows:
            if blank(row) or columns.text(row, "status").lower() != "filled":
                continue  # working, cancelled and rejected orders executed nothing
            yield drive(self._row, line, row, columns, zone, options)

    def _row(self, line: int, row: Sequence[Any], columns: Columns, zone: str, options: ParseOptions) -> ParsedRow:
        contract = symbol_of(columns.get(row, "contract"), "Contract")
        root = futures_root(contract)
        if root is None:
            raise RowInvalid("Contract", "not a futures contract like MESZ5", contract)
        product = cell_text(columns.get(row, "product")).upper()
        if product and product != root:
            raise RowInvalid("Product", f"does not match the contract {contract}", product)
        local = parse_datetime(columns.get(row, "fill_time"), "Fill Time", TIME_FORMATS)
        order_id = columns.text(row, "order_id")
        return ParsedRow(
            line=line,
            symbol=contract,
            side=parse_side(columns.get(row, "side"), "B/S"),
            quantity=positive(parse_decimal(columns.get(row, "filled_qty"), "filledQty"), "filledQty"),
            price=positive(parse_decimal(columns.get(row, "avg_price"), "avgPrice"), "avgPrice"),
            executed_at=to_utc(local, zone),
            source_timezone=zone,
            exchange="CME",
            segment="futures",
            currency=(options.currency or "USD")[:3],
            broker_trade_id=order_id or None,
            broker_order_id=order_id or None,
        )
