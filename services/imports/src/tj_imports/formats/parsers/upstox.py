"""Upstox trade report (XLSX, sheet ``TRADE``): preamble rows, then one row per trade.

Equity rows name the company (``Company``), not the trading symbol: ``india_company_names.csv``
maps the common names to NSE symbols and an unknown name is kept as written.
Derivatives are rebuilt into exchange trading symbols from ``Company`` (the underlying),
``Instrument Type`` (``European Call``/``European Put``/``FUTIDX``…), ``Strike Price`` and ``Expiry``.
Upstox writes SENSEX as ``BSX`` on exchange ``FOB`` (BSE F&O). ``Trade Num`` is the trade id; the
file has no order id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from tj_imports.formats.base import Columns, ParsedRow, RowInvalid, Segment, parse_side
from tj_imports.formats.parsers.india_common import (
    UNDERLYING_ALIASES,
    TableParser,
    at,
    clean_symbol,
    date_cell,
    derivative,
    derivative_segment,
    equity_symbol,
    future_symbol,
    id_text,
    number,
    option_right,
    option_symbol,
    price_of,
    quantity_of,
    time_cell,
    utc_of,
)

# Upstox exchange codes -> (equity exchange, derivative exchange).
_EXCHANGES = {
    "NSE": ("NSE", "NFO"),
    "BSE": ("BSE", "BFO"),
    "FON": ("NSE", "NFO"),
    "NFO": ("NSE", "NFO"),
    "FOB": ("BSE", "BFO"),
    "BFO": ("BSE", "BFO"),
    "CDN": ("NSE", "CDS"),
    "CDS": ("NSE", "CDS"),
    "MCX": ("MCX", "MCX"),
}
_DATES = ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d", "%d-%b-%Y")


class UpstoxTradeXlsx(TableParser):
    """Upstox trade report (XLSX)."""

    name: ClassVar[str] = "upstox_trade_xlsx"
    label: ClassVar[str] = "Upstox trade report (XLSX)"
    broker: ClassVar[str] = "upstox"
    family = "xlsx"
    sheet: ClassVar[str | None] = "TRADE"
    aliases: ClassVar[dict[str, Sequence[str]]] = {
        "date": ("Date", "Trade Date"),
        "company": ("Company", "Company Name", "Scrip Name"),
        "amount": ("Amount",),
        "exchange": ("Exchange",),
        "segment": ("Segment",),
        "scrip_code": ("Scrip Code",),
        "instrument": ("Instrument Type",),
        "strike": ("Strike Price", "Strike"),
        "expiry": ("Expiry", "Expiry Date"),
        "trade_num": ("Trade Num", "Trade Number", "Trade No"),
        "time": ("Trade Time",),
        "side": ("Side", "Buy/Sell"),
        "qty": ("Quantity", "Qty"),
        "price": ("Price", "Trade Price"),
    }
    required: ClassVar[tuple[str, ...]] = ("date", "company", "exchange", "side", "qty", "price")
    signature: ClassVar[int] = 9

    def sniff(self, source: Any) -> int:
        score = super().sniff(source)
        return score + 10 if score and "TRADE" in source.sheets else score

    def row(self, line: int, cells: Sequence[Any], columns: Columns, zone: str) -> Iterable[ParsedRow]:
        day = date_cell(columns.get(cells, "date"), "Date", _DATES)
        time_raw = columns.get(cells, "time")
        day_level = time_raw is None or (isinstance(time_raw, str) and not time_raw.strip())
        local = day if day_level else at(day, time_cell(time_raw, "Trade Time"))
        exchange_raw = columns.text(cells, "exchange").upper() or "NSE"
        equity_exchange, derivative_exchange = _EXCHANGES.get(exchange_raw, (exchange_raw, exchange_raw))
        company = " ".join(columns.text(cells, "company").split()).upper()
        instrument = columns.text(cells, "instrument").upper()
        segment_raw = columns.text(cells, "segment").upper()
        is_derivative = (
            segment_raw in {"FO", "F&O", "FNO", "CD", "COM", "MCX"}
            or exchange_raw in {"FON", "FOB", "NFO", "BFO", "CDN", "CDS", "MCX"}
            or instrument.startswith(("OPT", "FUT", "EUROPEAN", "AMERICAN"))
        )
        segment: Segment = "equity"
        if is_derivative:
            exchange = derivative_exchange
            symbol, is_option = self._contract(cells, columns, company, instrument, exchange)
            segment = derivative_segment(exchange, is_option)
        else:
            exchange = equity_exchange
            symbol = equity_symbol(company, "Company")
        trade_num = id_text(columns.get(cells, "trade_num"))
        return [
            ParsedRow(
                line=line,
                symbol=symbol,
                side=parse_side(columns.get(cells, "side"), "Side"),
                quantity=quantity_of(columns.get(cells, "qty"), "Quantity"),
                price=price_of(columns.get(cells, "price"), "Price"),
                executed_at=utc_of(local, zone, "Date"),
                source_timezone=zone,
                exchange=exchange,
                segment=segment,
                broker_trade_id=trade_num or None,
                day_level=day_level,
            )
        ]

    @staticmethod
    def _contract(
        cells: Sequence[Any], columns: Columns, company: str, instrument: str, exchange: str
    ) -> tuple[str, bool]:
        """(trading symbol, is option) from the underlying, instrument type, strike and expiry columns."""
        named = derivative(company, exchange)
        if named is not None:
            return named.symbol, named.is_option
        underlying = clean_symbol(UNDERLYING_ALIASES.get(company, company), "Company")
        expiry_raw = columns.get(cells, "expiry")
        if expiry_raw is None or (isinstance(expiry_raw, str) and not expiry_raw.strip()):
            raise RowInvalid("Expiry", "a derivative needs its expiry date", expiry_raw)
        expiry = date_cell(expiry_raw, "Expiry", _DATES).date()
        monthly = True if exchange in {"MCX", "CDS"} else None
        if instrument.startswith("FUT") or "FUTURE" in instrument:
            return future_symbol(underlying, expiry.year, expiry.month), False
        right = option_right(instrument)
        if right is None:
            raise RowInvalid("Instrument Type", "option type (call/put) not given", instrument)
        strike = number(columns.get(cells, "strike"), "Strike Price")
        if strike <= 0:
            raise RowInvalid("Strike Price", "an option needs a strike price", strike)
        return option_symbol(underlying, expiry, strike, right, monthly=monthly), True
