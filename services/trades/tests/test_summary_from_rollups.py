"""The summary chained from daily rollups equals compute_metrics over the trades, to the digit:
streaks across days, breakevens, drawdown and its ratio, ties of close time, mixed exponents."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tj_trades.analytics import jsonable
from tj_trades.domain import metrics
from tj_trades.domain.roundtrips import TradeSide
from tj_trades.projection import close_order, day_composite
from tj_trades.summary import from_days

ZONE = "Asia/Kolkata"
START = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)

nets = st.one_of(
    st.sampled_from([Decimal("0"), Decimal("0.00"), Decimal("10"), Decimal("-10.00"), Decimal("25.5")]),
    st.decimals(min_value=Decimal("-500"), max_value=Decimal("500"), places=2, allow_nan=False),
    st.decimals(min_value=Decimal("-50"), max_value=Decimal("50"), places=8, allow_nan=False),
)
trade = st.tuples(
    nets,
    st.integers(min_value=0, max_value=6),  # day offset
    st.integers(min_value=0, max_value=3),  # close minute slot (ties happen)
    st.sampled_from(["NSE:INFY", "NSE:TCS"]),
)


def build(items: list[tuple[Decimal, int, int, str]]) -> list[metrics.ClosedTrade]:
    out = []
    for i, (net, day, slot, symbol) in enumerate(items):
        closed = START + timedelta(days=day, hours=slot)
        out.append(
            metrics.ClosedTrade(
                net_pnl=net,
                gross_pnl=net + Decimal("1.5"),
                charges=Decimal("1.5"),
                opened_at=closed - timedelta(minutes=30 + i % 3),
                closed_at=closed,
                symbol=symbol,
                side=TradeSide.LONG,
                entry_price=Decimal("100"),
                initial_stop=Decimal("95") if i % 4 == 0 else None,
                quantity=Decimal("3"),
                trade_id=str(uuid.UUID(int=i * 7919 + 1)),
            )
        )
    return out


def chained(trades: list[metrics.ClosedTrade], config: metrics.MetricsConfig) -> metrics.Metrics:
    tz = ZoneInfo(config.timezone)
    rows: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for t in trades:
        rows[t.closed_at.astimezone(tz).date()].append(
            {
                "trade_id": uuid.UUID(t.trade_id),
                "instrument": t.symbol,
                "opened_at": t.opened_at,
                "closed_at": t.closed_at,
                "gross_pnl": t.gross_pnl,
                "charges": t.charges,
                "net_pnl": t.net_pnl,
            }
        )
    days = [
        SimpleNamespace(day=day, zone=config.timezone, **day_composite(sorted(group, key=close_order)))
        for day, group in sorted(rows.items())
    ]
    stops = [
        (t.net_pnl, t.entry_price, t.quantity, t.multiplier, t.initial_stop)
        for t in trades
        if t.initial_stop is not None
    ]
    return from_days(days, stops, config)


@settings(max_examples=300, deadline=None)
@given(st.lists(trade, max_size=40), st.sampled_from([None, Decimal("1000"), Decimal("250.50")]))
def test_chained_days_equal_the_trade_by_trade_metrics(
    items: list[tuple[Decimal, int, int, str]], balance: Decimal | None
) -> None:
    trades = build(items)
    config = metrics.MetricsConfig(timezone=ZONE, starting_balance=balance)
    assert jsonable(chained(trades, config)) == jsonable(metrics.compute_metrics(trades, config))


def test_a_streak_runs_across_days_and_a_breakeven_ends_it() -> None:
    # (net, day, slot): wins 10, 5 | 7 | 3 then a breakeven | losses -1 | -2, -3
    values = [
        ("10", 0, 0),
        ("5", 0, 1),
        ("7", 1, 0),
        ("3", 2, 0),
        ("0", 2, 1),
        ("-1", 3, 0),
        ("-2", 4, 0),
        ("-3", 4, 1),
    ]
    trades = build([(Decimal(v), d, slot, "NSE:INFY") for v, d, slot in values])
    config = metrics.MetricsConfig(timezone=ZONE, starting_balance=Decimal("100"))
    result = chained(trades, config)
    assert (result.longest_winning_streak, result.longest_losing_streak) == (4, 3)
    assert result.max_drawdown == Decimal("-6")
    assert jsonable(result) == jsonable(metrics.compute_metrics(trades, config))
