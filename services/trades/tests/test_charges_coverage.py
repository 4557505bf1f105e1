"""Days the India rate table does not cover: only those days go unpriced."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tj_trades.domain.charges import (
    Exchange,
    ExecutedOrder,
    Product,
    RatesUnavailableError,
    Segment,
    Side,
    estimate_orders,
    estimate_orders_where_known,
)


def order(order_id: str, day: date, side: Side) -> ExecutedOrder:
    return ExecutedOrder.of(
        order_id=order_id,
        instrument="RELIANCE",
        exchange=Exchange.NSE,
        segment=Segment.EQUITY,
        side=side,
        trade_date=day,
        quantity=Decimal(10),
        price=Decimal("2500"),
        product=Product.INTRADAY,
    )


def test_a_day_before_the_rate_table_leaves_only_that_day_unpriced() -> None:
    before, covered = date(2020, 6, 30), date(2020, 7, 1)
    orders = [order("a", before, Side.BUY), order("b", covered, Side.BUY), order("c", covered, Side.SELL)]
    with pytest.raises(RatesUnavailableError):
        estimate_orders(orders)
    priced = estimate_orders_where_known(orders)
    assert priced[0] is None
    assert [p.order.order_id for p in priced[1:] if p is not None] == ["b", "c"]
    expected = estimate_orders(orders[1:])
    assert [p.charges for p in priced[1:] if p is not None] == [p.charges for p in expected]
    assert all(p is not None and p.charges.total > 0 for p in priced[1:])


def test_a_breakdown_has_a_field_for_each_contract_line_in_order() -> None:
    from dataclasses import fields

    from tj_trades.domain.charges import LINE_NAMES, ChargeBreakdown

    amounts = [f.name for f in fields(ChargeBreakdown) if f.name not in ("source", "rates_version", "total")]
    assert tuple(amounts) == LINE_NAMES
