"""Fyers tradebook CSV: the report with a preamble, and the older lower-case dialect.

Fyers' order ids reach users after Excel has turned them into scientific notation (``2.2E+15``), so
they are never a key: these files have no trade id and ``broker_trade_id`` stays None (the import
falls back to a fingerprint of the row). Rows at ``12:00:00 AM`` with product ``-`` and ``NDIR…``
ids mirror real fills and would double them: they are reported as suspect rows, not imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from tj_imports.formats.base import Columns, ParsedRow, RowInvalid, Segment, parse_side
from tj_imports.formats.parsers.india_common import (
    TableParser,
    at,
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

_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
Product = Literal["MIS", "CNC", "NRML"]


def _instrument(code: str, name: str, exchange_hint: str) -> tuple[str, str, Segment]:
    """(symbol, exchange, segment) from a Fyers symbol code like ``NSE:SBIN-EQ`` / ``NSE:NIFTY25AUG24500CE``."""
    text = code or name
    exchange = exchange_hint.upper()
    if ":" in text:
        prefix, text = text.split(":", 1)
        exchange = prefix.strip().upper() or exchange
    text = text.strip().upper()
    for suffix in ("-EQ", "-BE", "-BZ", "-SM", "-ST", "-INDEX"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    contract = derivative(text, exchange) or (derivative(name, exchange) if name and name != text else None)
    if contract is not None:
        if exchange_hint == "CDS" and exchange in {"NSE", "CDS"}:
            exchange = "CDS"  # NSE currency derivatives
        exchange = exchange if exchange in {"MCX", "CDS"} else derivative_exchange(exchange or "NSE")
        return contract.symbol, exchange, derivative_segment(exchange, contract.is_option)
    return clean_symbol(text, "Symbol"), exchange or "NSE", "equity"


def _product(raw: str, segment: Segment) -> Product | None:
    value = raw.strip().lower()
    if value in {"intraday", "mis", "bo", "co"}:
        return "MIS"
    if value in {"overnight", "carryforward", "carry forward", "nrml", "margin", "delivery", "cnc"}:
        if value in {"delivery", "cnc"}:
            return "CNC"
        return "CNC" if segment == "equity" else "NRML"
    return None


def _order_id(*candidates: str) -> str | None:
    """The first order id that survived Excel (scientific notation has lost digits: not an id)."""
    for candidate in candidates:
        if candidate and candidate != "-" and not _SCIENTIFIC.match(candidate):
            return candidate
    return None


class FyersTradebookCsv(TableParser):
    """Fyers tradebook report (CSV with a preamble)."""

    name: ClassVar[str] = "fyers_tradebook_csv"
    label: ClassVar[str] = "Fyers tradebook (CSV)"
    broker: ClassVar[str] = "fyers"
    family = "csv"
    aliases: ClassVar[dict[str, Sequence[str]]] = {
        "name": ("Symbol name", "Symbol Name"),
        "code": ("Symbol code", "Symbol"),
        "when": ("Date & time", "Date and time", "Date Time", "Trade time"),
        "side": ("Side", "Transaction type"),
        "product": ("Product type", "Product"),
        "qty": ("Qty", "Quantity", "Traded qty"),
        "price": ("Traded price", "Trade price", "Price"),
        "value": ("Total value", "Value"),
        "segment": ("Segment",),
        "exchange_order": ("Exchange order ID", "Exchange order id"),
        "oms_order": ("OMS order ID", "Order ID"),
    }
    required: ClassVar[tuple[str, ...]] = ("code", "when", "side", "qty", "price")
    signature: ClassVar[int] = 7
    markers: ClassVar[tuple[str, ...]] = ("tradebook report", "download timestamp", "report title")

    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        local = date_cell(
            columns.get(cells, "when"),
            "Date & time",
            ("%d %b %Y, %I:%M:%S %p", "%d %b %Y %I:%M:%S %p", "%d-%m-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"),
        )
        product_raw = columns.text(cells, "product")
        exchange_order = id_text(columns.get(cells, "exchange_order"))
        oms_order = id_text(columns.get(cells, "oms_order"))
        if (local.hour, local.minute, local.second) == (0, 0, 0) and (
            product_raw == "-" or exchange_order.upper().startswith("NDIR") or oms_order.upper().startswith("NDIR")
        ):
            raise RowInvalid(
                "Date & time",
                "suspect row: a 12:00:00 AM entry without a product (NDIR id) mirrors a real fill; not imported",
                columns.text(cells, "when"),
            )
        symbol, exchange, segment = _instrument(
            columns.text(cells, "code"), columns.text(cells, "name"), _segment_exchange(columns.text(cells, "segment"))
        )
        quantity = quantity_of(columns.get(cells, "qty"), "Qty")
        price = price_of(columns.get(cells, "price"), "Traded price")
        return [
            ParsedRow(
                line=line,
                symbol=symbol,
                side=parse_side(columns.get(cells, "side"), "Side"),
                quantity=quantity,
                price=price,
                executed_at=utc_of(local, zone, "Date & time"),
                source_timezone=zone,
                exchange=exchange,
                segment=segment,
                broker_order_id=_order_id(oms_order, exchange_order),
                product=_product(product_raw, segment),
            )
        ]


def _segment_exchange(segment: str) -> str:
    """Fyers' segment names say the exchange when the symbol code has no prefix."""
    text = segment.upper()
    if "MCX" in text or "COMMODITY" in text:
        return "MCX"
    if "CURRENCY" in text or text in {"CD", "CDS"}:
        return "CDS"
    if "BSE" in text:
        return "BSE"
    return "NSE"


class FyersTradebookLowerCsv(TableParser):
    """Fyers tradebook, lower-case dialect (``symbol, segment, type, qty, trade_price, date, time, order_id``)."""

    name: ClassVar[str] = "fyers_tradebook_lower_csv"
    label: ClassVar[str] = "Fyers tradebook, older layout (CSV)"
    broker: ClassVar[str] = "fyers"
    family = "csv"
    aliases: ClassVar[dict[str, Sequence[str]]] = {
        "symbol": ("symbol",),
        "segment": ("segment",),
        "type": ("type",),
        "qty": ("qty",),
        "price": ("trade_price",),
        "date": ("date",),
        "time": ("time",),
        "order_id": ("order_id",),
        "product": ("product_type", "product"),
    }
    required: ClassVar[tuple[str, ...]] = ("symbol", "type", "qty", "price", "date")
    signature: ClassVar[int] = 6

    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        day = date_cell(
            columns.get(cells, "date"), "date", ("%d-%m-%Y", "%Y-%m-%d", "%d/%m/%Y", "%d %b %Y", "%d-%b-%Y", "%d-%b-%y")
        )
        time_raw = columns.get(cells, "time")
        day_level = time_raw is None or (isinstance(time_raw, str) and not time_raw.strip())
        local: datetime = day if day_level else at(day, time_cell(time_raw, "time"))
        symbol, exchange, segment = _instrument(
            columns.text(cells, "symbol"), "", _segment_exchange(columns.text(cells, "segment"))
        )
        quantity = quantity_of(columns.get(cells, "qty"), "qty")
        price = price_of(columns.get(cells, "price"), "trade_price")
        order_id = id_text(columns.get(cells, "order_id"))
        product_raw = columns.text(cells, "product")
        return [
            ParsedRow(
                line=line,
                symbol=symbol,
                side=parse_side(columns.get(cells, "type"), "type"),
                quantity=quantity,
                price=price,
                executed_at=utc_of(local, zone, "date"),
                source_timezone=zone,
                exchange=exchange,
                segment=segment,
                broker_order_id=_order_id(order_id),
                product=_product(product_raw, segment),
                day_level=day_level,
            )
        ]
