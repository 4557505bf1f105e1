"""Angel One "TradesAndCharges" workbook (XLSX): per-row charges, descriptive contract names.

The price sits in ``Buy Price`` or ``Sell Price`` by side. Brokerage-only rows (quantity 0, no trade
id) carry charges, not trades, and are skipped. Contracts like
``OPTIDX NIFTY Aug 25 2026 24150.00 PE (BT)`` become exchange trading symbols; segment ``CAPITAL``
is equity, ``FUTURES`` is F&O. The ``Date`` cell usually has no time: such rows are day-level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from tj_imports.formats.base import Columns, ParsedRow, RowInvalid, Segment, cell_text, parse_side
from tj_imports.formats.parsers.india_common import (
    TableParser,
    charges_of,
    clean_symbol,
    date_cell,
    derivative,
    derivative_exchange,
    derivative_segment,
    id_text,
    number,
    optional_number,
    price_of,
    utc_of,
)

CHARGES = {
    "brokerage": "brokerage",
    "gst": "gst",
    "stt": "stt",
    "sebi_fees": "sebi",
    "exchange_txn": "turnover",
    "stamp_duty": "stamp_duty",
    "other": "other",
    "ipft": "ipft",
}
_DATES = ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d", "%d-%b-%Y", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")


class AngelOneTradesAndChargesXlsx(TableParser):
    """Angel One trade book and charges (XLSX)."""

    name: ClassVar[str] = "angelone_trades_charges_xlsx"
    label: ClassVar[str] = "Angel One trade book and charges (XLSX)"
    broker: ClassVar[str] = "angelone"
    family = "xlsx"
    aliases: ClassVar[dict[str, Sequence[str]]] = {
        "scrip": ("Scrip/Contract", "Scrip / Contract", "Scrip", "Contract"),
        "side": ("Buy/Sell", "Buy / Sell"),
        "buy_price": ("Buy Price",),
        "sell_price": ("Sell Price",),
        "qty": ("Quantity", "Qty"),
        "brokerage": ("Brokerage",),
        "gst": ("GST",),
        "stt": ("STT",),
        "sebi": ("Sebi Tax", "SEBI Fees"),
        "turnover": ("Exchange Turnover Charges", "Exchange Transaction Charges"),
        "stamp_duty": ("Stamp Duty",),
        "other": ("Other Charges",),
        "ipft": ("IPFT Charges",),
        "order_type": ("Order Type",),
        "segment": ("Segment",),
        "exchange": ("Exchange",),
        "order_id": ("Order ID", "Order No"),
        "trade_id": ("Trade ID", "Trade No"),
        "date": ("Date", "Trade Date"),
    }
    required: ClassVar[tuple[str, ...]] = ("scrip", "side", "buy_price", "sell_price", "qty", "date")
    signature: ClassVar[int] = 8
    markers: ClassVar[tuple[str, ...]] = ("tradebook and charges", "trade book and charges")

    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        trade_id = id_text(columns.get(cells, "trade_id"))
        quantity = optional_number(columns.get(cells, "qty"), "Quantity")
        if (quantity is None or quantity == 0) and not trade_id:
            return []  # a brokerage-only row: charges without a trade
        if quantity is None or quantity <= 0:
            raise RowInvalid("Quantity", "quantity must be greater than zero", columns.get(cells, "qty"))
        side = parse_side(columns.get(cells, "side"), "Buy/Sell")
        price_field, label = ("buy_price", "Buy Price") if side == "buy" else ("sell_price", "Sell Price")
        price_raw = columns.get(cells, price_field)
        if cell_text(price_raw) in {"", "-"}:
            other = columns.get(cells, "sell_price" if side == "buy" else "buy_price")
            if cell_text(other) in {"", "-"} or number(other, label) == 0:
                raise RowInvalid(label, f"a {side} needs a {label}", price_raw)
            price_raw = other
        price = price_of(price_raw, label)
        raw_date = columns.get(cells, "date")
        local = date_cell(raw_date, "Date", _DATES)
        day_level = (local.hour, local.minute, local.second) == (0, 0, 0) and not (
            isinstance(raw_date, datetime) and raw_date.microsecond
        )
        exchange = columns.text(cells, "exchange").upper() or "NSE"
        scrip = columns.text(cells, "scrip")
        segment_raw = columns.text(cells, "segment").upper()
        contract = derivative(scrip, exchange)
        segment: Segment = "equity"
        if contract is not None:
            exchange = "MCX" if exchange == "MCX" else derivative_exchange(exchange)
            segment = derivative_segment(exchange, contract.is_option)
            symbol = contract.symbol
        elif segment_raw in {"FUTURES", "FNO", "F&O", "DERIVATIVES"}:
            raise RowInvalid("Scrip/Contract", "a derivative whose contract name is not understood", scrip)
        else:
            symbol = clean_symbol(scrip, "Scrip/Contract")
            for suffix in ("-EQ", "-BE"):
                if symbol.endswith(suffix):
                    symbol = symbol[: -len(suffix)]
        fees, charges = charges_of(cells, columns, CHARGES, self.aliases)
        order_id = id_text(columns.get(cells, "order_id"))
        return [
            ParsedRow(
                line=line,
                symbol=symbol,
                side=side,
                quantity=quantity,
                price=price,
                executed_at=utc_of(local, zone, "Date"),
                source_timezone=zone,
                exchange=exchange,
                segment=segment,
                fees=fees,
                charges=charges,
                broker_trade_id=trade_id or None,
                broker_order_id=order_id or None,
                day_level=day_level,
            )
        ]
