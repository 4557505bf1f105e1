"""Performance statistics of closed trades, exactly as docs/metrics.md (version 1) defines them.

Pure and Decimal throughout. A statistic that is undefined for the given trades is None, and
``reasons[<field name>]`` says why; nothing is capped or made up.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from enum import StrEnum
from zoneinfo import ZoneInfo

from tj_trades.domain.roundtrips import RoundTrip, TradeSide, TradeStatus

METRICS_VERSION = "2"
DEFAULT_TIMEZONE = "Asia/Kolkata"

# Sums are exact in the wide context; every reported ratio is one division rounded to 28
# significant digits (Decimal's default precision), so it is the correctly rounded exact value.
_WORK = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
_OUT = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
_ZERO = Decimal(0)

NO_TRADES = "no closed trades"


class Outcome(StrEnum):
    WIN = "win"
    LOSS = "loss"
    BREAKEVEN = "breakeven"


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """What the statistics need of one closed trade. P&L and charges in account currency."""

    net_pnl: Decimal
    gross_pnl: Decimal
    charges: Decimal
    opened_at: datetime
    closed_at: datetime
    symbol: str
    side: TradeSide
    entry_price: Decimal | None = None
    initial_stop: Decimal | None = None
    quantity: Decimal | None = None
    multiplier: Decimal = Decimal(1)
    tags: tuple[str, ...] = ()
    trade_id: str = ""

    @classmethod
    def from_round_trip(
        cls, trade: RoundTrip, *, initial_stop: Decimal | None = None, tags: Iterable[str] = ()
    ) -> ClosedTrade:
        """The closed-trade record of an engine trade; R uses its average entry and total quantity."""
        if (
            trade.status is not TradeStatus.CLOSED
            or trade.closed_at is None
            or trade.gross_pnl is None
            or trade.net_pnl is None
        ):
            raise ValueError(f"trade {trade.id} is {trade.status}, not closed")
        return cls(
            net_pnl=trade.net_pnl,
            gross_pnl=trade.gross_pnl,
            charges=trade.charges,
            opened_at=trade.opened_at,
            closed_at=trade.closed_at,
            symbol=trade.symbol,
            side=trade.side,
            entry_price=trade.average_entry_price,
            initial_stop=initial_stop,
            quantity=trade.quantity,
            multiplier=trade.multiplier,
            tags=tuple(tags),
            trade_id=str(trade.id),
        )


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Choices a user can make; the defaults are the ones docs/metrics.md describes."""

    breakeven_tolerance: Decimal = Decimal(0)  # |net P&L| <= tolerance is a breakeven
    breakeven_breaks_streak: bool = True
    starting_balance: Decimal | None = None
    annual_risk_free_rate: Decimal = Decimal(0)
    sortino_target: Decimal | None = None  # daily return; None means the daily risk-free rate
    timezone: str = DEFAULT_TIMEZONE
    periods_per_year: int = 252
    idle_weekdays: bool = False  # count Mon-Fri without closed trades as days with no P&L


@dataclass(frozen=True, slots=True)
class Metrics:
    version: str
    trade_count: int
    win_count: int
    loss_count: int
    breakeven_count: int
    net_pnl: Decimal
    gross_pnl: Decimal
    charges: Decimal
    win_rate: Decimal | None
    win_rate_excluding_breakevens: Decimal | None
    loss_rate: Decimal | None
    sum_of_wins: Decimal
    sum_of_losses: Decimal
    average_win: Decimal | None
    average_loss: Decimal | None
    payoff_ratio: Decimal | None
    profit_factor: Decimal | None
    expectancy: Decimal | None
    expectancy_r: Decimal | None
    r_trade_count: int
    largest_win: Decimal | None
    largest_loss: Decimal | None
    longest_winning_streak: int
    longest_losing_streak: int
    max_drawdown: Decimal
    max_drawdown_ratio: Decimal | None
    sharpe: Decimal | None
    sortino: Decimal | None
    trading_days: int
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The account after one more closed trade (close-time order)."""

    closed_at: datetime
    trade_id: str
    net_pnl: Decimal
    cumulative_net_pnl: Decimal
    equity: Decimal | None
    drawdown: Decimal
    drawdown_ratio: Decimal | None


@dataclass(frozen=True, slots=True)
class DayResult:
    """One trading day in the account's time zone, by close time."""

    day: date
    trade_count: int
    win_count: int
    loss_count: int
    breakeven_count: int
    gross_pnl: Decimal
    charges: Decimal
    net_pnl: Decimal
    cumulative_net_pnl: Decimal
    equity_start: Decimal | None
    equity_end: Decimal | None
    day_return: Decimal | None


@dataclass(frozen=True, slots=True)
class Bucket:
    """Summary of the trades that share one key of a breakdown."""

    key: str | int
    trade_count: int
    win_count: int
    loss_count: int
    breakeven_count: int
    net_pnl: Decimal
    gross_pnl: Decimal
    charges: Decimal
    win_rate: Decimal
    expectancy: Decimal
    profit_factor: Decimal | None


# Lower edges, inclusive; a holding time falls in the last bucket whose edge it reaches.
HOLDING_TIME_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("<1m", timedelta(0)),
    ("1m-5m", timedelta(minutes=1)),
    ("5m-15m", timedelta(minutes=5)),
    ("15m-1h", timedelta(minutes=15)),
    ("1h-4h", timedelta(hours=1)),
    ("4h-1d", timedelta(hours=4)),
    ("1d-1w", timedelta(days=1)),
    (">=1w", timedelta(weeks=1)),
)


def classify(net_pnl: Decimal, tolerance: Decimal = _ZERO) -> Outcome:
    if net_pnl > tolerance:
        return Outcome.WIN
    if net_pnl < -tolerance:
        return Outcome.LOSS
    return Outcome.BREAKEVEN


def initial_risk(trade: ClosedTrade) -> Decimal | None:
    """1R in money: |entry - initial stop| * quantity * multiplier; None without a stop or with zero risk."""
    if trade.initial_stop is None or trade.entry_price is None or trade.quantity is None:
        return None
    with localcontext(_WORK):
        risk = abs(trade.entry_price - trade.initial_stop) * trade.quantity * trade.multiplier
    return risk if risk > 0 else None


def r_multiple(trade: ClosedTrade) -> Decimal | None:
    risk = initial_risk(trade)
    return None if risk is None else _OUT.divide(trade.net_pnl, risk)


def in_close_order(trades: Iterable[ClosedTrade]) -> list[ClosedTrade]:
    """Close-time order with a total tiebreak, so equal close times never make results order-dependent."""
    items = list(trades)
    for trade in items:
        _require_aware(trade)
    return sorted(items, key=lambda t: (t.closed_at, t.opened_at, t.symbol, t.trade_id, t.net_pnl))


def trading_day(moment: datetime, timezone: str = DEFAULT_TIMEZONE) -> date:
    """The calendar day of ``moment`` in the account's time zone."""
    if moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(ZoneInfo(timezone)).date()


def compute_metrics(trades: Iterable[ClosedTrade], config: MetricsConfig | None = None) -> Metrics:
    """Every version-1 statistic of ``trades`` (closed trades only; unmatched and open ones excluded)."""
    config = config or MetricsConfig()
    ordered = in_close_order(trades)
    reasons: dict[str, str] = {}
    tol = config.breakeven_tolerance
    if tol < 0:
        raise ValueError("breakeven tolerance must not be negative")
    with localcontext(_WORK):
        outcomes = [classify(t.net_pnl, tol) for t in ordered]
        wins = [t.net_pnl for t, o in zip(ordered, outcomes, strict=True) if o is Outcome.WIN]
        losses = [-t.net_pnl for t, o in zip(ordered, outcomes, strict=True) if o is Outcome.LOSS]
        n, w, lo = len(ordered), len(wins), len(losses)
        sum_wins, sum_losses = sum(wins, _ZERO), sum(losses, _ZERO)
        net = sum((t.net_pnl for t in ordered), _ZERO)
        gross = sum((t.gross_pnl for t in ordered), _ZERO)
        charges = sum((t.charges for t in ordered), _ZERO)

        def why(reason: str) -> str:
            return reason if n else NO_TRADES

        win_rate = _ratio(w, n, "win_rate", NO_TRADES, reasons)
        loss_rate = _ratio(lo, n, "loss_rate", NO_TRADES, reasons)
        win_rate_decisive = _ratio(
            w, w + lo, "win_rate_excluding_breakevens", why("every trade is a breakeven"), reasons
        )
        average_win = _ratio(sum_wins, w, "average_win", why("no winning trades"), reasons)
        average_loss = _ratio(sum_losses, lo, "average_loss", why("no losing trades"), reasons)
        payoff: Decimal | None = None
        if w and lo:
            # One division of exact sums: (sum_wins / w) / (sum_losses / lo) without double rounding.
            payoff = _OUT.divide(sum_wins * lo, sum_losses * w)
        else:
            reasons["payoff_ratio"] = why("needs at least one winning and one losing trade")
        profit_factor = _ratio(
            sum_wins, sum_losses, "profit_factor", why("no losing trades: profit factor is undefined"), reasons
        )
        expectancy = _ratio(net, n, "expectancy", NO_TRADES, reasons)

        r_values = [r for r in (r_multiple(t) for t in ordered) if r is not None]
        expectancy_r = _ratio(
            sum(r_values, _ZERO), len(r_values), "expectancy_r", why("no trade has an initial stop"), reasons
        )

        largest_win = max(wins) if wins else None
        largest_loss = max(losses) if losses else None
        if largest_win is None:
            reasons["largest_win"] = why("no winning trades")
        if largest_loss is None:
            reasons["largest_loss"] = why("no losing trades")

        win_streak, loss_streak = _longest_streaks(outcomes, config.breakeven_breaks_streak)
        curve = equity_curve(ordered, config)
        max_dd = min((p.drawdown for p in curve), default=_ZERO)
        max_dd_ratio: Decimal | None = None
        if config.starting_balance is None:
            reasons["max_drawdown_ratio"] = "needs a starting balance"
        elif config.starting_balance <= 0:
            reasons["max_drawdown_ratio"] = "starting balance must be positive"
        else:
            max_dd_ratio = min((p.drawdown_ratio for p in curve if p.drawdown_ratio is not None), default=_ZERO)

        days = daily_series(ordered, config)
        sharpe, sortino = _sharpe_sortino(days, config, reasons)

    return Metrics(
        version=METRICS_VERSION,
        trade_count=n,
        win_count=w,
        loss_count=lo,
        breakeven_count=n - w - lo,
        net_pnl=net,
        gross_pnl=gross,
        charges=charges,
        win_rate=win_rate,
        win_rate_excluding_breakevens=win_rate_decisive,
        loss_rate=loss_rate,
        sum_of_wins=sum_wins,
        sum_of_losses=sum_losses,
        average_win=average_win,
        average_loss=average_loss,
        payoff_ratio=payoff,
        profit_factor=profit_factor,
        expectancy=expectancy,
        expectancy_r=expectancy_r,
        r_trade_count=len(r_values),
        largest_win=largest_win,
        largest_loss=largest_loss,
        longest_winning_streak=win_streak,
        longest_losing_streak=loss_streak,
        max_drawdown=max_dd,
        max_drawdown_ratio=max_dd_ratio,
        sharpe=sharpe,
        sortino=sortino,
        trading_days=sum(1 for d in days if d.trade_count),
        reasons=reasons,
    )


def _ratio(
    numerator: Decimal | int, denominator: Decimal | int, name: str, reason: str, reasons: dict[str, str]
) -> Decimal | None:
    if not denominator:
        reasons[name] = reason
        return None
    return _OUT.divide(Decimal(numerator), Decimal(denominator))


def _longest_streaks(outcomes: Sequence[Outcome], breakeven_breaks: bool) -> tuple[int, int]:
    best = {Outcome.WIN: 0, Outcome.LOSS: 0}
    run_kind: Outcome | None = None
    run = 0
    for outcome in outcomes:
        if outcome is Outcome.BREAKEVEN:
            if breakeven_breaks:
                run_kind, run = None, 0
            # Otherwise a breakeven is skipped: it neither extends nor ends the run.
            continue
        run = run + 1 if outcome is run_kind else 1
        run_kind = outcome
        best[outcome] = max(best[outcome], run)
    return best[Outcome.WIN], best[Outcome.LOSS]


def equity_curve(trades: Iterable[ClosedTrade], config: MetricsConfig | None = None) -> list[EquityPoint]:
    """Cumulative net P&L after each closed trade, with drawdown from the running peak.

    The peak starts at the starting balance (or at 0 P&L), so a first losing trade is a drawdown.
    ``equity`` and ``drawdown_ratio`` need a positive starting balance.
    """
    config = config or MetricsConfig()
    start = config.starting_balance
    has_balance = start is not None and start > 0
    points: list[EquityPoint] = []
    with localcontext(_WORK):
        cumulative = _ZERO
        peak = _ZERO
        for trade in in_close_order(trades):
            cumulative += trade.net_pnl
            peak = max(peak, cumulative)
            drawdown = cumulative - peak
            equity = start + cumulative if start is not None else None
            ratio = _OUT.divide(drawdown, start + peak) if has_balance and start is not None else None
            points.append(
                EquityPoint(trade.closed_at, trade.trade_id, trade.net_pnl, cumulative, equity, drawdown, ratio)
            )
    return points


def daily_series(trades: Iterable[ClosedTrade], config: MetricsConfig | None = None) -> list[DayResult]:
    """One row per trading day (by close time in the account's time zone), oldest first.

    With ``idle_weekdays`` the Mondays to Fridays between the first and last trading day that had no
    closed trade are included as rows with no P&L (exchange holidays are not known here).
    """
    config = config or MetricsConfig()
    tz = ZoneInfo(config.timezone)
    tol = config.breakeven_tolerance
    per_day: dict[date, list[ClosedTrade]] = {}
    for trade in in_close_order(trades):
        per_day.setdefault(trade.closed_at.astimezone(tz).date(), []).append(trade)
    if not per_day:
        return []
    days = sorted(per_day)
    if config.idle_weekdays:
        first, last = days[0], days[-1]
        span = (last - first).days
        extra = (first + timedelta(d) for d in range(span + 1))
        days = sorted(set(days) | {d for d in extra if d.weekday() < 5})
    start = config.starting_balance
    rows: list[DayResult] = []
    with localcontext(_WORK):
        cumulative = _ZERO
        for day in days:
            day_trades = per_day.get(day, [])
            outcomes = [classify(t.net_pnl, tol) for t in day_trades]
            net = sum((t.net_pnl for t in day_trades), _ZERO)
            equity_start = start + cumulative if start is not None else None
            cumulative += net
            day_return = _OUT.divide(net, equity_start) if equity_start is not None and equity_start > 0 else None
            rows.append(
                DayResult(
                    day=day,
                    trade_count=len(day_trades),
                    win_count=outcomes.count(Outcome.WIN),
                    loss_count=outcomes.count(Outcome.LOSS),
                    breakeven_count=outcomes.count(Outcome.BREAKEVEN),
                    gross_pnl=sum((t.gross_pnl for t in day_trades), _ZERO),
                    charges=sum((t.charges for t in day_trades), _ZERO),
                    net_pnl=net,
                    cumulative_net_pnl=cumulative,
                    equity_start=equity_start,
                    equity_end=start + cumulative if start is not None else None,
                    day_return=day_return,
                )
            )
    return rows


def _sharpe_sortino(
    days: Sequence[DayResult], config: MetricsConfig, reasons: dict[str, str]
) -> tuple[Decimal | None, Decimal | None]:
    def fail(reason: str) -> tuple[None, None]:
        reasons["sharpe"] = reasons["sortino"] = reason
        return None, None

    if config.starting_balance is None:
        return fail("needs a starting balance")
    if len(days) < 2:
        return fail("needs at least two trading days")
    returns: list[Decimal] = []
    for row in days:
        if row.equity_start is None or row.equity_start <= 0:
            return fail(f"equity at the start of {row.day.isoformat()} is not positive")
        # Recomputed here in the wide context rather than taken from the rounded day_return.
        returns.append(row.net_pnl / row.equity_start)
    count = Decimal(len(returns))
    annualise = Decimal(config.periods_per_year).sqrt(_WORK)
    mean = sum(returns, _ZERO) / count
    daily_rf = config.annual_risk_free_rate / Decimal(config.periods_per_year)
    variance = sum(((r - mean) ** 2 for r in returns), _ZERO) / (count - 1)
    sharpe: Decimal | None = None
    if variance == 0:
        reasons["sharpe"] = "daily returns do not vary"
    else:
        sharpe = _OUT.plus((mean - daily_rf) / variance.sqrt(_WORK) * annualise)
    target = config.sortino_target if config.sortino_target is not None else daily_rf
    downside = sum((min(_ZERO, r - target) ** 2 for r in returns), _ZERO) / count
    sortino: Decimal | None = None
    if downside == 0:
        reasons["sortino"] = "no day returned less than the target"
    else:
        sortino = _OUT.plus((mean - target) / downside.sqrt(_WORK) * annualise)
    return sharpe, sortino


def breakdown(
    trades: Iterable[ClosedTrade],
    key: Callable[[ClosedTrade], Iterable[str | int]],
    config: MetricsConfig | None = None,
    order: Sequence[str | int] | None = None,
) -> list[Bucket]:
    """Group trades by ``key`` (a trade may fall in several buckets, e.g. tags) and summarise each.

    Buckets come in ``order`` when given (keys outside it last), else sorted by key.
    """
    config = config or MetricsConfig()
    tol = config.breakeven_tolerance
    grouped: dict[str | int, list[ClosedTrade]] = {}
    for trade in in_close_order(trades):
        for k in key(trade):
            grouped.setdefault(k, []).append(trade)
    rank: dict[Hashable, int] = {k: i for i, k in enumerate(order or ())}
    keys = sorted(grouped, key=lambda k: (rank.get(k, len(rank)), str(type(k)), k))
    out: list[Bucket] = []
    with localcontext(_WORK):
        for k in keys:
            group = grouped[k]
            outcomes = [classify(t.net_pnl, tol) for t in group]
            net = sum((t.net_pnl for t in group), _ZERO)
            won = sum((t.net_pnl for t, o in zip(group, outcomes, strict=True) if o is Outcome.WIN), _ZERO)
            lost = -sum((t.net_pnl for t, o in zip(group, outcomes, strict=True) if o is Outcome.LOSS), _ZERO)
            wins, losses = outcomes.count(Outcome.WIN), outcomes.count(Outcome.LOSS)
            out.append(
                Bucket(
                    key=k,
                    trade_count=len(group),
                    win_count=wins,
                    loss_count=losses,
                    breakeven_count=len(group) - wins - losses,
                    net_pnl=net,
                    gross_pnl=sum((t.gross_pnl for t in group), _ZERO),
                    charges=sum((t.charges for t in group), _ZERO),
                    win_rate=_OUT.divide(Decimal(wins), Decimal(len(group))),
                    expectancy=_OUT.divide(net, Decimal(len(group))),
                    profit_factor=_OUT.divide(won, lost) if losses else None,
                )
            )
    return out


def by_symbol(trades: Iterable[ClosedTrade], config: MetricsConfig | None = None) -> list[Bucket]:
    return breakdown(trades, lambda t: (t.symbol,), config)


def by_tag(trades: Iterable[ClosedTrade], config: MetricsConfig | None = None) -> list[Bucket]:
    """One bucket per tag; a trade with several tags counts in each, an untagged trade in none."""
    return breakdown(trades, lambda t: tuple(dict.fromkeys(t.tags)), config)


def by_entry_weekday(trades: Iterable[ClosedTrade], config: MetricsConfig | None = None) -> list[Bucket]:
    """Keyed by the weekday of entry in the account's time zone, 0 = Monday."""
    tz = ZoneInfo((config or MetricsConfig()).timezone)
    return breakdown(trades, lambda t: (t.opened_at.astimezone(tz).weekday(),), config)


def by_entry_hour(trades: Iterable[ClosedTrade], config: MetricsConfig | None = None) -> list[Bucket]:
    """Keyed by the hour of entry (0-23) in the account's time zone."""
    tz = ZoneInfo((config or MetricsConfig()).timezone)
    return breakdown(trades, lambda t: (t.opened_at.astimezone(tz).hour,), config)


def holding_time_bucket(held: timedelta, buckets: Sequence[tuple[str, timedelta]] = HOLDING_TIME_BUCKETS) -> str:
    label = buckets[0][0]
    for name, lower in buckets:
        if held >= lower:
            label = name
    return label


def by_holding_time(
    trades: Iterable[ClosedTrade],
    config: MetricsConfig | None = None,
    buckets: Sequence[tuple[str, timedelta]] = HOLDING_TIME_BUCKETS,
) -> list[Bucket]:
    """Keyed by holding-time bucket labels, in bucket order."""
    return breakdown(
        trades,
        lambda t: (holding_time_bucket(t.closed_at - t.opened_at, buckets),),
        config,
        order=[name for name, _ in buckets],
    )


def _require_aware(trade: ClosedTrade) -> None:
    if trade.closed_at.utcoffset() is None or trade.opened_at.utcoffset() is None:
        raise ValueError(f"trade {trade.trade_id or trade.symbol}: timestamps must be timezone-aware")
