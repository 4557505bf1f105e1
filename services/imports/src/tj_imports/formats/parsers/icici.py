"""ICICI Direct trade book CSV (equity): dates only, per-row charges, ICICI's own stock codes.

``Stock`` holds ICICI's short code (``JSWSTE``), not the NSE symbol; ``india_icici_codes.csv`` maps
the common ones and an unknown code is kept as written. The file has the trade date but no time, so
its executions are day-level; ``Order Ref.`` is an order reference, not a trade id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from tj_imports.formats.base import Columns, ParsedRow, parse_side
from tj_imports.formats.parsers.india_common import (
    TableParser,
    charges_of,
    clean_symbol,
    data_pairs,
    date_cell,
    id_text,
    price_of,
    quantity_of,
    utc_of,
)

CODES_FILE = Path(__file__).with_name("india_icici_codes.csv")


@cache
def icici_codes() -> dict[str, str]:
    """ICICI stock code -> NSE symbol, from the documented data file."""
    return {code.upper(): symbol for code, symbol in data_pairs(CODES_FILE)}


CHARGES = {
    "stt": "stt",
    "exchange_txn": "txn",
    "stamp_duty": "stamp_duty",
    "brokerage": "brokerage",
}


class IciciTradeBookCsv(TableParser):
    """ICICI Direct trade book (CSV, equity; day-level: no execution times)."""

    name: ClassVar[str] = "icici_tradebook_csv"
    label: ClassVar[str] = "ICICI Direct trade book (CSV, day-level: no execution times)"
    broker: ClassVar[str] = "icici"
    family = "csv"
    day_level: ClassVar[bool] = True
    aliases: ClassVar[dict[str, Sequence[str]]] = {
        "date": ("Date", "Trade Date"),
        "stock": ("Stock", "Stock Code"),
        "action": ("Action", "Buy/Sell"),
        "qty": ("Qty", "Quantity"),
        "price": ("Price", "Trade Price"),
        "value": ("Trade Value",),
        "order_ref": ("Order Ref.", "Order Ref", "Order Reference"),
        "settlement": ("Settlement", "Settlement No."),
        "segment": ("Segment",),
        "dp": ("DP Id - Client DP Id",),
        "exchange": ("Exchange",),
        "stt": ("STT",),
        "txn": ("Transaction and SEBI Turnover charges", "Transaction Charges"),
        "stamp_duty": ("Stamp Duty",),
        # Newer files call the same amount "Brokerage incl. taxes"; older ones "Brokerage + Service Tax".
        "brokerage": ("Brokerage incl. taxes", "Brokerage + Service Tax", "Brokerage"),
    }
    required: ClassVar[tuple[str, ...]] = ("date", "stock", "action", "qty", "price")
    signature: ClassVar[int] = 8

    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        day = date_cell(columns.get(cells, "date"), "Date", ("%d-%b-%Y", "%d-%b-%y", "%d-%m-%Y", "%d/%m/%Y"))
        code = clean_symbol(columns.text(cells, "stock"), "Stock")
        fees, charges = charges_of(cells, columns, CHARGES, self.aliases)
        order_ref = id_text(columns.get(cells, "order_ref"))
        exchange = columns.text(cells, "exchange").upper()
        return [
            ParsedRow(
                line=line,
                symbol=icici_codes().get(code, code),
                side=parse_side(columns.get(cells, "action"), "Action"),
                quantity=quantity_of(columns.get(cells, "qty"), "Qty"),
                price=price_of(columns.get(cells, "price"), "Price"),
                executed_at=utc_of(day, zone, "Date"),
                source_timezone=zone,
                exchange=exchange if exchange in {"NSE", "BSE"} else "NSE",
                segment="equity",
                fees=fees,
                charges=charges,
                broker_order_id=order_ref or None,
                day_level=True,
            )
        ]
