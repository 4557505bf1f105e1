"""Groww stock order history (XLSX): header on row 6; ``Value`` is the order total, only executed orders count.

The price is ``Value ÷ Quantity`` (the file has no price column). Cancelled, rejected and pending
orders are skipped silently: they are not trades.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from tj_imports.formats.base import Columns, ParsedRow, RowInvalid, parse_side
from tj_imports.formats.parsers.india_common import (
    TableParser,
    average,
    clean_symbol,
    date_cell,
    id_text,
    number,
    quantity_of,
    utc_of,
)


class GrowwOrderHistoryXlsx(TableParser):
    """Groww stock order history (XLSX)."""

    name: ClassVar[str] = "groww_orders_xlsx"
    label: ClassVar[str] = "Groww stock order history (XLSX)"
    broker: ClassVar[str] = "groww"
    family = "xlsx"
    aliases: ClassVar[dict[str, Sequence[str]]] = {
        "stock": ("Stock name", "Stock Name"),
        "symbol": ("Symbol",),
        "isin": ("ISIN",),
        "type": ("Type", "Buy/Sell"),
        "qty": ("Quantity",),
        "value": ("Value", "Order Value"),
        "exchange": ("Exchange",),
        "order_id": ("Exchange Order Id", "Exchange Order ID"),
        "when": ("Execution date and time", "Execution Date and Time"),
        "status": ("Order status", "Order Status"),
    }
    required: ClassVar[tuple[str, ...]] = ("symbol", "type", "qty", "value", "when", "status")
    signature: ClassVar[int] = 7
    markers: ClassVar[tuple[str, ...]] = ("order history", "unique client code")

    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        status = columns.text(cells, "status").lower()
        if status != "executed":
            if not status:
                raise RowInvalid("Order status", "empty", None)
            return []
        symbol = clean_symbol(columns.text(cells, "symbol") or columns.text(cells, "stock"), "Symbol")
        quantity = quantity_of(columns.get(cells, "qty"), "Quantity")
        value = number(columns.get(cells, "value"), "Value")
        if value < 0:
            raise RowInvalid("Value", "must not be negative", value)
        local = date_cell(
            columns.get(cells, "when"),
            "Execution date and time",
            ("%d-%m-%Y %I:%M %p", "%d-%m-%Y %I:%M:%S %p", "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S"),
        )
        exchange = columns.text(cells, "exchange").upper()
        order_id = id_text(columns.get(cells, "order_id"))
        return [
            ParsedRow(
                line=line,
                symbol=symbol,
                side=parse_side(columns.get(cells, "type"), "Type"),
                quantity=quantity,
                price=average(value, quantity),
                executed_at=utc_of(local, zone, "Execution date and time"),
                source_timezone=zone,
                exchange=exchange if exchange in {"NSE", "BSE"} else "NSE",
                segment="equity",
                broker_order_id=order_id or None,
            )
        ]
