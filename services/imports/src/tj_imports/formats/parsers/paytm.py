"""Paytm Money tradebook (XLSX): one row per trade, with its trade number and itemised charges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal

from tj_imports.formats.base import Columns, ParsedRow, Segment, parse_side
from tj_imports.formats.parsers.india_common import (
    TableParser,
    at,
    charges_of,
    clean_symbol,
    date_cell,
    derivative,
    derivative_exchange,
    derivative_segment,
    id_text,
    price_of,
    quantity_of,
    time_cell,
    utc_of,
)

CHARGES = {
    "brokerage": "brokerage",
    "exchange_txn": "ett",
    "gst": "gst",
    "stt": "stt",
    "sebi_fees": "sebi",
    "stamp_duty": "stamp_duty",
}
_DATES = ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d", "%d-%b-%Y", "%d %b %Y", "%d-%m-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")


def _product(raw: str, segment: Segment) -> Literal["MIS", "CNC", "NRML"] | None:
    value = raw.strip().lower()
    if value in {"intraday", "mis", "i"}:
        return "MIS"
    if value in {"delivery", "cnc", "d", "c"}:
        return "CNC"
    if value in {"margin", "nrml", "carryforward", "overnight"}:
        return "NRML" if segment != "equity" else "CNC"
    return None


class PaytmMoneyTradebookXlsx(TableParser):
    """Paytm Money tradebook (XLSX)."""

    name: ClassVar[str] = "paytm_tradebook_xlsx"
    label: ClassVar[str] = "Paytm Money tradebook (XLSX)"
    broker: ClassVar[str] = "paytm"
    family = "xlsx"
    aliases: ClassVar[dict[str, Sequence[str]]] = {
        "date": ("Date", "Trade Date"),
        "script": ("Script", "Scrip", "Symbol"),
        "isin": ("ISIN",),
        "exchange": ("Exchange",),
        "product": ("Product Type", "Product"),
        "type": ("Type", "Buy/Sell"),
        "qty": ("Quantity", "Qty"),
        "price": ("Price", "Trade Price"),
        "brokerage": ("Brokerage",),
        "ett": ("ETT", "Exchange Transaction Charges"),
        "gst": ("GST",),
        "stt": ("STT",),
        "sebi": ("SEBI", "SEBI Fees"),
        "stamp_duty": ("Stamp Duty",),
        "order_no": ("Order Number", "Order No"),
        "trade_no": ("Trade Number", "Trade No"),
        "time": ("Trade Time",),
    }
    required: ClassVar[tuple[str, ...]] = ("date", "script", "type", "qty", "price")
    signature: ClassVar[int] = 8

    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        day = date_cell(columns.get(cells, "date"), "Date", _DATES)
        time_raw = columns.get(cells, "time")
        day_level = False
        if time_raw is not None and not (isinstance(time_raw, str) and not time_raw.strip()):
            if isinstance(time_raw, str) and len(time_raw.strip()) > 8:  # a full date-time in the time column
                local = date_cell(time_raw, "Trade Time", _DATES)
            else:
                local = at(day, time_cell(time_raw, "Trade Time"))
        else:
            local, day_level = day, (day.hour, day.minute, day.second) == (0, 0, 0)
        exchange = columns.text(cells, "exchange").upper() or "NSE"
        script = columns.text(cells, "script")
        contract = derivative(script, exchange)
        segment: Segment = "equity"
        if contract is not None:
            exchange = "MCX" if exchange == "MCX" else derivative_exchange(exchange)
            segment = derivative_segment(exchange, contract.is_option)
            symbol = contract.symbol
        else:
            symbol = clean_symbol(script, "Script")
        fees, charges = charges_of(cells, columns, CHARGES, self.aliases)
        trade_no = id_text(columns.get(cells, "trade_no"))
        order_no = id_text(columns.get(cells, "order_no"))
        return [
            ParsedRow(
                line=line,
                symbol=symbol,
                side=parse_side(columns.get(cells, "type"), "Type"),
                quantity=quantity_of(columns.get(cells, "qty"), "Quantity"),
                price=price_of(columns.get(cells, "price"), "Price"),
                executed_at=utc_of(local, zone, "Date"),
                source_timezone=zone,
                exchange=exchange,
                segment=segment,
                fees=fees,
                charges=charges,
                broker_trade_id=trade_no or None,
                broker_order_id=order_no or None,
                product=_product(columns.text(cells, "product"), segment),
                day_level=day_level,
            )
        ]
