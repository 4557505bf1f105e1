"""Kotak Securities trade report (CSV): exchange ``DERV`` (NSE F&O) or ``MCX`` means a derivative.

The file gives an order id but no trade id, so ``broker_trade_id`` stays None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from tj_imports.formats.base import Columns, ParsedRow, RowInvalid, Segment, parse_side
from tj_imports.formats.parsers.india_common import (
    TableParser,
    at,
    clean_symbol,
    date_cell,
    derivative,
    derivative_segment,
    id_text,
    price_of,
    quantity_of,
    time_cell,
    utc_of,
)

# Kotak's exchange codes for derivative segments -> the exchange code the journal uses.
_DERIVATIVE_EXCHANGES = {
    "DERV": "NFO",
    "NFO": "NFO",
    "NSEFO": "NFO",
    "BFO": "BFO",
    "BSEFO": "BFO",
    "MCX": "MCX",
    "CDS": "CDS",
}


class KotakTradesCsv(TableParser):
    """Kotak Securities trade report (CSV)."""

    name: ClassVar[str] = "kotak_trades_csv"
    label: ClassVar[str] = "Kotak Securities trade report (CSV)"
    broker: ClassVar[str] = "kotak"
    family = "csv"
    aliases: ClassVar[dict[str, Sequence[str]]] = {
        "security": ("Security Name", "Security", "Scrip Name"),
        "exchange": ("Exchange",),
        "side": ("Transaction Type", "Buy/Sell"),
        "qty": ("Quantity", "Qty"),
        "price": ("Market Rate", "Trade Price", "Rate"),
        "order_id": ("Order ID", "Order No", "Order Number"),
        "date": ("Trade Date",),
        "time": ("Trade Time",),
        "order_time": ("Order Time",),
    }
    required: ClassVar[tuple[str, ...]] = ("security", "exchange", "side", "qty", "price", "date")
    signature: ClassVar[int] = 7

    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        day = date_cell(
            columns.get(cells, "date"), "Trade Date", ("%d/%m/%Y", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y", "%d-%b-%Y")
        )
        time_raw = columns.get(cells, "time")
        day_level = False
        if time_raw is not None and cell_has_text(time_raw):
            local = at(day, time_cell(time_raw, "Trade Time"))
        elif (day.hour, day.minute, day.second) != (0, 0, 0):
            local = day
        else:
            local, day_level = day, True
        exchange = columns.text(cells, "exchange").upper() or "NSE"
        name = columns.text(cells, "security")
        segment: Segment = "equity"
        if exchange in _DERIVATIVE_EXCHANGES:
            exchange = _DERIVATIVE_EXCHANGES[exchange]
            contract = derivative(name, exchange)
            if contract is None:
                raise RowInvalid("Security Name", "a derivative whose contract name is not understood", name)
            symbol = contract.symbol
            segment = derivative_segment(exchange, contract.is_option)
        else:
            symbol = clean_symbol(name, "Security Name")
            for suffix in ("-EQ", " EQ", "-BE"):
                if symbol.endswith(suffix):
                    symbol = symbol[: -len(suffix)]
        order_id = id_text(columns.get(cells, "order_id"))
        return [
            ParsedRow(
                line=line,
                symbol=symbol,
                side=parse_side(columns.get(cells, "side"), "Transaction Type"),
                quantity=quantity_of(columns.get(cells, "qty"), "Quantity"),
                price=price_of(columns.get(cells, "price"), "Market Rate"),
                executed_at=utc_of(local, zone, "Trade Date"),
                source_timezone=zone,
                exchange=exchange,
                segment=segment,
                broker_order_id=order_id or None,
                day_level=day_level,
            )
        ]


def cell_has_text(value: object) -> bool:
    return not (isinstance(value, str) and not value.strip())
