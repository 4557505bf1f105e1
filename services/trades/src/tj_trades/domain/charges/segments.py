"""The vocabulary Indian charges are keyed by: exchange, market segment, product, side, charge class.

String enums, so their values match the rate table's keys and survive JSON and the database as is.
"""

from __future__ import annotations

from enum import StrEnum


class Exchange(StrEnum):
    NSE = "NSE"
    BSE = "BSE"


class Segment(StrEnum):
    """What was traded: exchange charges and IPFT are keyed by this."""

    EQUITY = "equity"
    FUTURES = "futures"
    OPTIONS = "options"
    CURRENCY_FUTURES = "currency_futures"
    CURRENCY_OPTIONS = "currency_options"


class Product(StrEnum):
    """Equity only: intraday (MIS, or bought and sold the same day) or delivery (CNC)."""

    INTRADAY = "intraday"
    DELIVERY = "delivery"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class ChargeClass(StrEnum):
    """Segment refined by product: STT, stamp duty and brokerage are keyed by this."""

    EQUITY_DELIVERY = "equity_delivery"
    EQUITY_INTRADAY = "equity_intraday"
    FUTURES = "futures"
    OPTIONS = "options"
    CURRENCY_FUTURES = "currency_futures"
    CURRENCY_OPTIONS = "currency_options"


def charge_class(segment: Segment, product: Product | None) -> ChargeClass:
    """The charge class of an order; equity needs its product resolved first."""
    if segment is Segment.EQUITY:
        if product is None:
            raise ValueError("an equity order needs its product (intraday or delivery) to be priced")
        return ChargeClass.EQUITY_INTRADAY if product is Product.INTRADAY else ChargeClass.EQUITY_DELIVERY
    return ChargeClass(segment.value)


class NoteColumn(StrEnum):
    """The market a contract note totals its exchange-side charges by (one column per exchange and market)."""

    CASH = "cash"
    DERIVATIVES = "derivatives"
    CURRENCY = "currency"


def note_column(segment: Segment) -> NoteColumn:
    if segment is Segment.EQUITY:
        return NoteColumn.CASH
    if segment in (Segment.FUTURES, Segment.OPTIONS):
        return NoteColumn.DERIVATIVES
    return NoteColumn.CURRENCY
