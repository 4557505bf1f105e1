"""Dhan trade report CSV: one row per contract per day, aggregated — imported as day-level executions.

The report has no execution times and no fills: each row gives the day's bought and sold quantity and
value for one contract. A row becomes at most one buy and one sell at the average price
(value ÷ quantity), stamped with the trade date and flagged ``day_level``, so the journal shows the
day, never an invented time. The row's charges are split between the two in proportion to value.
``Bill No.`` is a settlement bill, neither a trade nor an order id, so both ids stay None.
Equity rows name the company (``RELIANCE INDUSTRIES LTD``), not the trading symbol:
``india_company_names.csv`` maps the common names to NSE symbols (an unknown name is kept as written);
contracts (``OPT NIFTY 07 Apr 2026 23000 CE``, ``FUT WIPRO 28 Apr 2026``) become exchange
trading symbols.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from tj_imports.formats.base import Columns, ParsedRow, RowInvalid, Segment, Side
from tj_imports.formats.parsers.india_common import (
    TableParser,
    average,
    charges_of,
    clean_symbol,
    date_cell,
    derivative,
    derivative_exchange,
    derivative_segment,
    equity_symbol,
    optional_number,
    utc_of,
)

CHARGES = {
    "brokerage": "brokerage",
    "gst": "gst",
    "stt": "stt",
    "sebi_fees": "sebi_fees",
    "stamp_duty": "stamp_duty",
    "exchange_txn": "txn_charges",
    "other": "other_charges",
}
_CENT = Decimal("0.01")
_LEGS: tuple[tuple[Side, str, str, str, str], ...] = (
    ("buy", "buy_qty", "buy_value", "Buy Qty.", "Buy Value"),
    ("sell", "sell_qty", "sell_value", "Sell Qty.", "Sell Value"),
)


class DhanTradeReportCsv(TableParser):
    """Dhan trade report (CSV) — day-level: one row per contract per day, no execution times."""

    name: ClassVar[str] = "dhan_trade_report_csv"
    label: ClassVar[str] = "Dhan trade report (CSV, day-level: no execution times)"
    broker: ClassVar[str] = "dhan"
    family = "csv"
    day_level: ClassVar[bool] = True
    aliases: ClassVar[dict[str, Sequence[str]]] = {
        "date": ("Date", "Trade Date"),
        "scrip": ("Scrip Name", "Scrip", "Security Name"),
        "exchange": ("Exchange",),
        "bill": ("Bill No.", "Bill No", "Bill Number"),
        "buy_qty": ("Buy Qty.", "Buy Qty", "Buy Quantity"),
        "buy_value": ("Buy Value", "Buy Amount"),
        "sell_qty": ("Sell Qty.", "Sell Qty", "Sell Quantity"),
        "sell_value": ("Sell Value", "Sell Amount"),
        "brokerage": ("Brokerage",),
        "gst": ("GST",),
        "stt": ("STT", "STT/CTT"),
        "sebi_fees": ("SEBI Fees", "SEBI Fee"),
        "stamp_duty": ("Stamp Duty",),
        "txn_charges": ("Txn. Charges", "Txn Charges", "Transaction Charges"),
        "other_charges": ("Oth. Charges", "Other Charges"),
        "gross": ("Gross Amount",),
    }
    required: ClassVar[tuple[str, ...]] = (
        "date",
        "scrip",
        "exchange",
        "buy_qty",
        "buy_value",
        "sell_qty",
        "sell_value",
    )
    signature: ClassVar[int] = 8

    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        day = date_cell(
            columns.get(cells, "date"), "Date", ("%d-%m-%Y %H:%M", "%d-%m-%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y")
        )
        executed_at = utc_of(day.replace(hour=0, minute=0, second=0, microsecond=0), zone, "Date")
        scrip = clean_symbol(columns.text(cells, "scrip"), "Scrip Name")
        exchange = columns.text(cells, "exchange").upper() or "NSE"
        segment: Segment = "equity"
        contract = derivative(scrip, exchange)
        if contract is not None:
            exchange = "MCX" if exchange == "MCX" else derivative_exchange(exchange)
            segment = derivative_segment(exchange, contract.is_option)
            symbol = contract.symbol
        elif scrip.startswith(("OPT", "FUT")) and " " in scrip:
            raise RowInvalid("Scrip Name", "contract name not understood", scrip)
        else:
            symbol = equity_symbol(scrip, "Scrip Name")
        legs: list[tuple[Side, Decimal, Decimal]] = []
        for side, qty_field, value_field, qty_label, value_label in _LEGS:
            quantity = optional_number(columns.get(cells, qty_field), qty_label)
            if quantity is None or quantity == 0:
                continue
            if quantity < 0:
                raise RowInvalid(qty_label, "quantity must not be negative", quantity)
            value = optional_number(columns.get(cells, value_field), value_label)
            if value is None or value < 0:
                raise RowInvalid(value_label, "a traded quantity needs a non-negative value", value)
            legs.append((side, quantity, value))
        if not legs:
            raise RowInvalid("Buy Qty.", "neither a bought nor a sold quantity", None)
        total_fees, charges = charges_of(cells, columns, CHARGES, self.aliases)
        shares = _split(charges, [value for _, _, value in legs])
        for (side, quantity, value), share in zip(legs, shares, strict=True):
            fees = sum(share.values(), Decimal(0)) if share else None
            yield ParsedRow(
                line=line,
                symbol=symbol,
                side=side,
                quantity=quantity,
                price=average(value, quantity),
                executed_at=executed_at,
                source_timezone=zone,
                exchange=exchange,
                segment=segment,
                fees=fees if total_fees is not None else None,
                charges=share or None,
                day_level=True,
            )


def _split(charges: dict[str, Decimal] | None, values: list[Decimal]) -> list[dict[str, Decimal]]:
    """Each charge shared between the legs in proportion to their value; the last leg takes the rounding rest."""
    if not charges:
        return [{} for _ in values]
    if len(values) == 1:
        return [dict(charges)]
    total = sum(values, Decimal(0))
    shares: list[dict[str, Decimal]] = [{} for _ in values]
    for name, amount in charges.items():
        rest = amount
        for i, value in enumerate(values[:-1]):
            part = (amount * value / total).quantize(_CENT) if total else (amount / len(values)).quantize(_CENT)
            shares[i][name] = part
            rest -= part
        shares[-1][name] = rest
    return [{k: v for k, v in s.items() if v} for s in shares]
