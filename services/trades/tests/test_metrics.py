"""Each metric against an independent computation with exact fractions, written out here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tj_trades.domain.metrics import (
    ClosedTrade,
    MetricsConfig,
    by_entry_hour,
    by_entry_weekday,
    by_holding_time,
    by_symbol,
    by_tag,
    compute_metrics,
    daily_series,
    equity_curve,
    holding_time_bucket,
    r_multiple,
    trading_day,
)
from tj_trades.domain.roundtrips import Fill, Side, TradeSide, build_round_trips

D = Decimal
F = Fraction
T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # Monday 09:30 IST
ROUND28 = Context(prec=28, rounding=ROUND_HALF_EVEN)


def dec(value: Fraction | int) -> Decimal:
    """The exact rational, correctly rounded to 28 digits: what a one-division metric must equal."""
    value = F(value)
    return ROUND28.divide(D(value.numerator), D(value.denominator))


def total(values: Iterable[Fraction]) -> Fraction:
    return sum(values, F(0))


def close_to(actual: Decimal | None, expected: Fraction | Decimal, places: int = 20) -> bool:
    assert actual is not None
    return abs(F(actual) - F(expected)) < F(1, 10**places)


def sqrt_fraction(value: Fraction, places: int = 40) -> Fraction:
    """Integer square root at 10**-places: independent of Decimal.sqrt."""
    from math import isqrt

    scale = 10**places
    return F(isqrt(value.numerator * scale * scale // value.denominator), scale)


def trade(
    net: str | int | Decimal,
    closed_minutes: float = 0,
    *,
    held_minutes: float = 10,
    gross: str | None = None,
    charges: str = "0",
    symbol: str = "SBIN",
    entry: str | None = None,
    stop: str | None = None,
    quantity: str | None = None,
    multiplier: str = "1",
    tags: tuple[str, ...] = (),
    tid: str = "",
    closed_at: datetime | None = None,
) -> ClosedTrade:
    closed = closed_at or T0 + timedelta(minutes=closed_minutes)
    return ClosedTrade(
        net_pnl=D(net),
        gross_pnl=D(gross) if gross is not None else D(net) + D(charges),
        charges=D(charges),
        opened_at=closed - timedelta(minutes=held_minutes),
        closed_at=closed,
        symbol=symbol,
        side=TradeSide.LONG,
        entry_price=D(entry) if entry is not None else None,
        initial_stop=D(stop) if stop is not None else None,
        quantity=D(quantity) if quantity is not None else None,
        multiplier=D(multiplier),
        tags=tags,
        trade_id=tid,
    )


PNLS = ["120.50", "-40", "0", "75.25", "-60.10", "-40", "300", "0", "-15.75"]


def test_counts_rates_averages_and_ratios_match_fractions() -> None:
    trades = [trade(p, i, charges="5") for i, p in enumerate(PNLS)]
    m = compute_metrics(trades)
    values = [F(p) for p in PNLS]
    wins = [v for v in values if v > 0]
    losses = [-v for v in values if v < 0]
    n, w, lo = len(values), len(wins), len(losses)
    assert (m.trade_count, m.win_count, m.loss_count, m.breakeven_count) == (9, 3, 4, 2)
    assert F(m.net_pnl) == total(values)
    assert F(m.charges) == 45
    assert F(m.gross_pnl) == total(values) + 45
    assert m.win_rate == dec(F(w, n))
    assert m.loss_rate == dec(F(lo, n))
    assert m.win_rate_excluding_breakevens == dec(F(w, w + lo))
    assert F(m.sum_of_wins) == total(wins)
    assert F(m.sum_of_losses) == total(losses)
    assert m.average_win == dec(total(wins) / w)
    assert m.average_loss == dec(total(losses) / lo)
    assert m.payoff_ratio == dec((total(wins) / w) / (total(losses) / lo))
    assert m.profit_factor == dec(total(wins) / total(losses))
    assert m.expectancy == dec(total(values) / n)
    # With a zero tolerance breakevens are exactly 0, so the textbook formula agrees with the mean.
    assert m.expectancy == dec(F(w, n) * (total(wins) / w) - F(lo, n) * (total(losses) / lo))
    assert F(m.largest_win or 0) == 300
    assert F(m.largest_loss or 0) == F("60.10")
    assert m.version == "2"
    assert m.reasons == {
        "expectancy_r": "no trade has an initial stop",
        "max_drawdown_ratio": "needs a starting balance",
        "sharpe": "needs a starting balance",
        "sortino": "needs a starting balance",
    }


def test_breakeven_tolerance_is_configurable() -> None:
    trades = [trade("0.5", 0), trade("-0.4", 1), trade("10", 2), trade("-3", 3)]
    strict = compute_metrics(trades)
    assert (strict.win_count, strict.loss_count, strict.breakeven_count) == (2, 2, 0)
    loose = compute_metrics(trades, MetricsConfig(breakeven_tolerance=D(1)))
    assert (loose.win_count, loose.loss_count, loose.breakeven_count) == (1, 1, 2)
    assert loose.win_rate == dec(F(1, 4))  # breakevens count in N
    assert loose.win_rate_excluding_breakevens == dec(F(1, 2))
    # Expectancy is the mean of every trade's result, breakevens included.
    assert loose.expectancy == dec(F("7.1") / 4)
    with pytest.raises(ValueError, match="tolerance"):
        compute_metrics(trades, MetricsConfig(breakeven_tolerance=D(-1)))


def test_profit_factor_without_losers_is_none_with_a_reason() -> None:
    m = compute_metrics([trade("10", 0), trade("5", 1), trade("0", 2)])
    assert m.profit_factor is None
    assert m.reasons["profit_factor"] == "no losing trades: profit factor is undefined"
    assert m.payoff_ratio is None and "payoff_ratio" in m.reasons
    assert m.average_loss is None and m.largest_loss is None
    assert m.average_win == dec(F(15, 2))


def test_profit_factor_without_winners_is_zero() -> None:
    m = compute_metrics([trade("-10", 0), trade("-5", 1)])
    assert m.profit_factor == 0
    assert m.win_rate == 0
    assert m.average_win is None


def test_no_trades() -> None:
    m = compute_metrics([])
    assert m.trade_count == 0
    assert m.net_pnl == 0 and m.max_drawdown == 0
    for name in ("win_rate", "win_rate_excluding_breakevens", "average_win", "profit_factor", "expectancy"):
        assert getattr(m, name) is None
        assert m.reasons[name] == "no closed trades"


def test_r_multiples_and_expectancy_in_r() -> None:
    trades = [
        trade("300", 0, entry="100", stop="98", quantity="50"),  # 1R = 2 * 50 = 100 -> 3R
        trade("-75", 1, entry="250", stop="255", quantity="10", multiplier="1"),  # short-style stop: 1R = 50
        trade("100", 2, entry="20", stop="19.7", quantity="75", multiplier="3"),  # 1R = 0.3 * 75 * 3 = 67.5
        trade("40", 3),  # no stop: no R
        trade("10", 4, entry="100", stop="100", quantity="5"),  # zero risk: no R
    ]
    expected = [F(300, 100), F(-75, 50), F(100) / F("67.5")]
    assert [r_multiple(t) for t in trades] == [dec(r) for r in expected] + [None, None]
    m = compute_metrics(trades)
    assert m.r_trade_count == 3
    assert close_to(m.expectancy_r, total(expected) / 3, places=25)


def test_streaks_in_close_order_and_breakevens() -> None:
    outcome_pnls = ["5", "5", "0", "5", "-5", "-5", "0", "-5", "5"]
    trades = [trade(p, i) for i, p in enumerate(outcome_pnls)]
    trades.reverse()  # arrival order must not matter: close time decides
    breaking = compute_metrics(trades)
    assert (breaking.longest_winning_streak, breaking.longest_losing_streak) == (2, 2)
    skipping = compute_metrics(trades, MetricsConfig(breakeven_breaks_streak=False))
    assert (skipping.longest_winning_streak, skipping.longest_losing_streak) == (3, 3)
    assert compute_metrics([]).longest_winning_streak == 0


def test_drawdown_without_starting_balance_is_in_currency_only() -> None:
    pnls = [F(-50), F(150), F(-80), F(-70), F(200), F(-300), F(10)]
    trades = [trade(str(p), i) for i, p in enumerate(pnls)]
    cumulative, peak, worst = F(0), F(0), F(0)
    for p in pnls:
        cumulative += p
        peak = max(peak, cumulative)
        worst = min(worst, cumulative - peak)
    m = compute_metrics(trades)
    assert F(m.max_drawdown) == worst == -300
    assert m.max_drawdown_ratio is None
    assert m.reasons["max_drawdown_ratio"] == "needs a starting balance"
    curve = equity_curve(trades)
    assert [F(p.cumulative_net_pnl) for p in curve] == [-50, 100, 20, -50, 150, -150, -140]
    assert F(curve[0].drawdown) == -50  # the first trade lost: a drawdown from the start
    assert all(p.equity is None and p.drawdown_ratio is None for p in curve)


def test_drawdown_with_starting_balance_is_also_a_ratio_of_the_peak() -> None:
    start = F(1000)
    pnls = [F(100), F(-50), F(-80), F(200), F(-300), F(25)]
    trades = [trade(str(p), i) for i, p in enumerate(pnls)]
    equity, peak, worst_ratio, worst = start, start, F(0), F(0)
    for p in pnls:
        equity += p
        peak = max(peak, equity)
        worst_ratio = min(worst_ratio, equity / peak - 1)
        worst = min(worst, equity - peak)
    m = compute_metrics(trades, MetricsConfig(starting_balance=D(1000)))
    assert F(m.max_drawdown) == worst == -300
    assert m.max_drawdown_ratio == dec(worst_ratio) == dec(F(-300, 1170))
    curve = equity_curve(trades, MetricsConfig(starting_balance=D(1000)))
    assert [p.equity for p in curve] == [D(1100), D(1050), D(970), D(1170), D(870), D(895)]


def test_sharpe_and_sortino_on_a_hand_example() -> None:
    # Daily returns 1 %, -1 %, 2 %, 0 % on equity at the start of each day:
    # mean 0.005; sample variance 0.0005 / 3; Sharpe = 0.005 / sqrt(0.0005/3) * sqrt(252) = sqrt(37.8).
    # Downside deviation sqrt(0.0001 / 4) = 0.005, so Sortino = 0.005 / 0.005 * sqrt(252) = sqrt(252).
    day = timedelta(days=1)
    trades = [
        trade("10", closed_at=T0),
        trade("-10.1", closed_at=T0 + day),
        trade("19.998", closed_at=T0 + 2 * day),
        trade("0", closed_at=T0 + 3 * day),
    ]
    config = MetricsConfig(starting_balance=D(1000))
    rows = daily_series(trades, config)
    assert [row.day_return for row in rows] == [D("0.01"), D("-0.01"), D("0.02"), D(0)]
    m = compute_metrics(trades, config)
    assert close_to(m.sharpe, sqrt_fraction(F("37.8")), places=24)
    assert close_to(m.sortino, sqrt_fraction(F(252)), places=24)
    assert m.trading_days == 4


def test_sharpe_and_sortino_against_fractions_with_risk_free_rate() -> None:
    day = timedelta(days=1)
    pnls = [F(100), F(-50), F(200), F(-100), F(30)]
    trades = [trade(str(p), closed_at=T0 + i * day) for i, p in enumerate(pnls)]
    start = F(10000)
    rf_annual = F("0.0655")
    returns: list[Fraction] = []
    equity = start
    for p in pnls:
        returns.append(p / equity)
        equity += p
    n = len(returns)
    mean = total(returns) / n
    rf = rf_annual / 252
    stdev = sqrt_fraction(total((r - mean) ** 2 for r in returns) / (n - 1))
    downside = sqrt_fraction(total(min(F(0), r - rf) ** 2 for r in returns) / n)
    root252 = sqrt_fraction(F(252))
    m = compute_metrics(trades, MetricsConfig(starting_balance=D(10000), annual_risk_free_rate=D("0.0655")))
    assert close_to(m.sharpe, (mean - rf) / stdev * root252, places=20)
    assert close_to(m.sortino, (mean - rf) / downside * root252, places=20)
    target = F("0.001")
    downside_t = sqrt_fraction(total(min(F(0), r - target) ** 2 for r in returns) / n)
    m_t = compute_metrics(trades, MetricsConfig(starting_balance=D(10000), sortino_target=D("0.001")))
    assert close_to(m_t.sortino, (mean - target) / downside_t * root252, places=20)


def test_sharpe_and_sortino_need_a_balance_two_days_variation_and_a_down_day() -> None:
    day = timedelta(days=1)
    assert compute_metrics([trade("1", 0)], MetricsConfig(starting_balance=D(100))).reasons["sharpe"] == (
        "needs at least two trading days"
    )
    flat = [trade("1", closed_at=T0), trade("1", closed_at=T0 + day)]
    m = compute_metrics(flat, MetricsConfig(starting_balance=D(100)))
    # 1/100 and 1/101 differ, so Sharpe exists; no day is below 0, so Sortino does not.
    assert m.sharpe is not None
    assert m.sortino is None and m.reasons["sortino"] == "no day returned less than the target"
    same = [trade("0", closed_at=T0), trade("0", closed_at=T0 + day)]
    assert compute_metrics(same, MetricsConfig(starting_balance=D(100))).reasons["sharpe"] == (
        "daily returns do not vary"
    )
    wiped = [trade("-100", closed_at=T0), trade("5", closed_at=T0 + day)]
    assert "not positive" in compute_metrics(wiped, MetricsConfig(starting_balance=D(100))).reasons["sharpe"]


def test_idle_weekdays_count_as_zero_return_days() -> None:
    monday, thursday = T0, T0 + timedelta(days=3)
    trades = [trade("10", closed_at=monday), trade("-5", closed_at=thursday)]
    rows = daily_series(trades, MetricsConfig(idle_weekdays=True))
    assert [row.day for row in rows] == [date(2026, 3, d) for d in (2, 3, 4, 5)]
    assert [row.trade_count for row in rows] == [1, 0, 0, 1]
    week = [trade("10", closed_at=T0 + timedelta(days=4)), trade("1", closed_at=T0 + timedelta(days=7))]
    assert [r.day.weekday() for r in daily_series(week, MetricsConfig(idle_weekdays=True))] == [4, 0]
    m = compute_metrics(trades, MetricsConfig(starting_balance=D(1000), idle_weekdays=True))
    assert m.trading_days == 2


def test_trading_day_bucketing_across_ist_midnight() -> None:
    late_utc = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    assert trading_day(late_utc) == date(2026, 3, 3)
    assert trading_day(late_utc, "UTC") == date(2026, 3, 2)
    evening = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 22:30 IST, still the 2nd
    trades = [trade("10", closed_at=evening), trade("-4", closed_at=late_utc)]
    ist = daily_series(trades)
    assert [(r.day, r.net_pnl, r.cumulative_net_pnl) for r in ist] == [
        (date(2026, 3, 2), D(10), D(10)),
        (date(2026, 3, 3), D(-4), D(6)),
    ]
    utc = daily_series(trades, MetricsConfig(timezone="UTC"))
    assert [(r.day, r.net_pnl, r.trade_count, r.win_count, r.loss_count) for r in utc] == [
        (date(2026, 3, 2), D(6), 2, 1, 1)
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        trading_day(datetime(2026, 3, 2, 19, 0))


def test_daily_series_equity_and_returns() -> None:
    day = timedelta(days=1)
    trades = [trade("50", closed_at=T0), trade("-25", closed_at=T0 + day, charges="5"), trade("10", closed_at=T0 + day)]
    rows = daily_series(trades, MetricsConfig(starting_balance=D(1000)))
    assert [(r.equity_start, r.equity_end, r.net_pnl) for r in rows] == [
        (D(1000), D(1050), D(50)),
        (D(1050), D(1035), D(-15)),
    ]
    assert rows[1].day_return == dec(F(-15, 1050))
    assert rows[1].charges == D(5)
    assert rows[1].gross_pnl == D(-10)


def test_breakdowns() -> None:
    tues_early = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # Tuesday 01:30 IST
    trades = [
        trade("10", closed_at=T0 + timedelta(minutes=30), held_minutes=30, symbol="INFY", tags=("breakout", "a+")),
        trade("-4", closed_at=T0 + timedelta(hours=2), held_minutes=0.5, symbol="SBIN", tags=("breakout",)),
        trade("6", closed_at=tues_early + timedelta(days=3), held_minutes=3 * 24 * 60, symbol="INFY"),
    ]
    symbols = by_symbol(trades)
    assert [(b.key, b.trade_count, b.net_pnl, b.win_count) for b in symbols] == [
        ("INFY", 2, D(16), 2),
        ("SBIN", 1, D(-4), 0),
    ]
    assert symbols[0].profit_factor is None and symbols[0].win_rate == 1
    tags = by_tag(trades)
    assert [(b.key, b.trade_count, b.net_pnl) for b in tags] == [("a+", 1, D(10)), ("breakout", 2, D(6))]
    assert tags[1].profit_factor == dec(F(10, 4))
    assert tags[1].expectancy == D(3)
    weekdays = by_entry_weekday(trades)
    assert [(b.key, b.trade_count) for b in weekdays] == [(0, 2), (1, 1)]
    hours = by_entry_hour(trades)
    assert [(b.key, b.trade_count) for b in hours] == [(1, 1), (9, 1), (11, 1)]
    held = by_holding_time(trades)
    assert [(b.key, b.trade_count) for b in held] == [("<1m", 1), ("15m-1h", 1), ("1d-1w", 1)]


def test_holding_time_bucket_edges() -> None:
    assert holding_time_bucket(timedelta(seconds=59)) == "<1m"
    assert holding_time_bucket(timedelta(minutes=1)) == "1m-5m"
    assert holding_time_bucket(timedelta(hours=4)) == "4h-1d"
    assert holding_time_bucket(timedelta(days=8)) == ">=1w"


def test_closed_trade_from_round_trip() -> None:
    fills = [
        Fill("e1", "acc", "SBIN", Side.BUY, D(10), D(100), T0, D(2)),
        Fill("e2", "acc", "SBIN", Side.SELL, D(10), D(104), T0 + timedelta(minutes=5), D(2)),
        Fill("e3", "acc", "SBIN", Side.BUY, D(1), D(100), T0 + timedelta(minutes=6)),
    ]
    closed, still_open = build_round_trips(fills)
    record = ClosedTrade.from_round_trip(closed, initial_stop=D(98), tags=["orb"])
    assert (record.net_pnl, record.gross_pnl, record.charges) == (D(36), D(40), D(4))
    assert r_multiple(record) == dec(F(36, 20))
    assert record.tags == ("orb",)
    assert record.trade_id == str(closed.id)
    with pytest.raises(ValueError, match="not closed"):
        ClosedTrade.from_round_trip(still_open)


pnl_lists = st.lists(st.decimals(min_value=D(-1000), max_value=D(1000), places=2), max_size=30)


@settings(max_examples=200, deadline=None)
@given(pnl_lists, st.decimals(min_value=D(0), max_value=D(20), places=1))
def test_summary_statistics_agree_with_fractions(pnls: list[Decimal], tol: Decimal) -> None:
    trades = [trade(p, i) for i, p in enumerate(pnls)]
    m = compute_metrics(trades, MetricsConfig(breakeven_tolerance=tol))
    values = [F(p) for p in pnls]
    wins = [v for v in values if v > F(tol)]
    losses = [-v for v in values if v < -F(tol)]
    assert (m.win_count, m.loss_count) == (len(wins), len(losses))
    assert m.breakeven_count == len(values) - len(wins) - len(losses)
    assert m.expectancy == (dec(total(values) / len(values)) if values else None)
    assert m.profit_factor == (dec(total(wins) / total(losses)) if losses else None)
    assert m.payoff_ratio == (
        dec((total(wins) / len(wins)) / (total(losses) / len(losses))) if wins and losses else None
    )
    assert m.win_rate == (dec(F(len(wins), len(values))) if values else None)
