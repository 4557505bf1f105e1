"""The analytics summary from the stored projection, in a handful of set-based queries: the same
figures as ``metrics.compute_metrics`` over the same closed trades (docs/metrics.md, version 1),
without loading the trades.

Sums, counts and extremes are aggregates of ``trade_rows``; the streaks and the drawdown are window
functions over the close-time order of ``metrics.in_close_order`` (close time, open time,
instrument, trade id); daily returns for Sharpe and Sortino come from ``daily_rollups`` when every
account in view buckets days in the time zone of the summary (else from ``trade_rows``); R uses the
trades that have an initial stop. Ratios are taken in Python from the exact sums, with the metrics
module's own contexts, so both paths agree to the digit (tests/test_rollups.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tj_trades.domain import metrics
from tj_trades.domain.metrics import _OUT, _WORK, NO_TRADES, DayResult, Metrics, MetricsConfig, _ratio

_ZERO = Decimal(0)

_TRADES = """
WITH t AS (
    SELECT net_pnl, gross_pnl, charges,
           CASE WHEN net_pnl > 0 THEN 1 WHEN net_pnl < 0 THEN -1 ELSE 0 END AS o,
           row_number() OVER w AS rn,
           sum(net_pnl) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
    FROM trades.trade_rows
    WHERE user_id = :user_id AND status = 'closed' AND (CAST(:account_id AS uuid) IS NULL OR account_id = :account_id)
    WINDOW w AS (ORDER BY closed_at, opened_at, instrument COLLATE "C", trade_id, net_pnl)
), p AS (
    SELECT net_pnl, gross_pnl, charges, o, rn, cum,
           greatest(0, max(cum) OVER (ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS peak,
           rn - row_number() OVER (PARTITION BY o ORDER BY rn) AS island
    FROM t
), streaks AS (
    SELECT o, count(*) AS length FROM p WHERE o <> 0 GROUP BY o, island
)
SELECT
    count(*) AS n,
    count(*) FILTER (WHERE o = 1) AS wins,
    count(*) FILTER (WHERE o = -1) AS losses,
    coalesce(sum(net_pnl), 0) AS net,
    coalesce(sum(gross_pnl), 0) AS gross,
    coalesce(sum(charges), 0) AS charges,
    coalesce(sum(net_pnl) FILTER (WHERE o = 1), 0) AS sum_wins,
    coalesce(-sum(net_pnl) FILTER (WHERE o = -1), 0) AS sum_losses,
    max(net_pnl) FILTER (WHERE o = 1) AS largest_win,
    max(-net_pnl) FILTER (WHERE o = -1) AS largest_loss,
    coalesce(min(cum - peak), 0) AS max_drawdown,
    (SELECT ARRAY[cum - peak, peak] FROM p
      WHERE CAST(:start AS numeric) > 0 ORDER BY (cum - peak) / (CAST(:start AS numeric) + peak) LIMIT 1) AS worst,
    (SELECT coalesce(max(length), 0) FROM streaks WHERE o = 1) AS win_streak,
    (SELECT coalesce(max(length), 0) FROM streaks WHERE o = -1) AS loss_streak
FROM p
"""

_DAYS_FROM_ROLLUPS = """
SELECT day, sum(trade_count) AS trades, sum(win_count) AS wins, sum(loss_count) AS losses,
       sum(breakeven_count) AS breakevens, sum(gross_pnl) AS gross, sum(charges) AS charges, sum(net_pnl) AS net
FROM trades.daily_rollups
WHERE user_id = :user_id AND (CAST(:account_id AS uuid) IS NULL OR account_id = :account_id)
GROUP BY day ORDER BY day
"""

_DAYS_FROM_TRADES = """
SELECT (closed_at AT TIME ZONE :zone)::date AS day, count(*) AS trades,
       count(*) FILTER (WHERE net_pnl > 0) AS wins, count(*) FILTER (WHERE net_pnl < 0) AS losses,
       count(*) FILTER (WHERE net_pnl = 0) AS breakevens,
       sum(gross_pnl) AS gross, sum(charges) AS charges, sum(net_pnl) AS net
FROM trades.trade_rows
WHERE user_id = :user_id AND status = 'closed' AND (CAST(:account_id AS uuid) IS NULL OR account_id = :account_id)
GROUP BY 1 ORDER BY 1
"""

_STOPS = """
SELECT r.net_pnl, r.entry_price, r.quantity, r.multiplier, a.initial_stop
FROM trades.trade_rows r JOIN trades.trade_annotations a ON a.trade_id = r.trade_id
WHERE r.user_id = :user_id AND a.user_id = :user_id AND r.status = 'closed' AND a.initial_stop IS NOT NULL
  AND (CAST(:account_id AS uuid) IS NULL OR r.account_id = :account_id)
"""


def supported(config: MetricsConfig) -> bool:
    """The stored path covers the default classification (what the API uses)."""
    return (
        config.breakeven_tolerance == 0
        and config.breakeven_breaks_streak
        and not config.idle_weekdays
        and config.sortino_target is None
    )


async def summary(
    session: AsyncSession,
    user_id: uuid.UUID,
    account_id: uuid.UUID | None,
    config: MetricsConfig,
    accounts: Mapping[uuid.UUID, Mapping[str, Any]],
) -> Metrics:
    params = {"user_id": user_id, "account_id": account_id}
    row = (await session.execute(text(_TRADES), {**params, "start": config.starting_balance or _ZERO})).mappings().one()
    in_view = [accounts[account_id]] if account_id is not None and account_id in accounts else list(accounts.values())
    if all(a["timezone"] == config.timezone for a in in_view):
        day_rows = (await session.execute(text(_DAYS_FROM_ROLLUPS), params)).mappings().all()
    else:
        zoned = {**params, "zone": config.timezone}
        day_rows = (await session.execute(text(_DAYS_FROM_TRADES), zoned)).mappings().all()
    stops = (await session.execute(text(_STOPS), params)).all()

    reasons: dict[str, str] = {}
    n, w, lo = int(row["n"]), int(row["wins"]), int(row["losses"])
    sum_wins, sum_losses = Decimal(row["sum_wins"]), Decimal(row["sum_losses"])
    net = Decimal(row["net"])
    with localcontext(_WORK):

        def why(reason: str) -> str:
            return reason if n else NO_TRADES

        win_rate = _ratio(w, n, "win_rate", NO_TRADES, reasons)
        loss_rate = _ratio(lo, n, "loss_rate", NO_TRADES, reasons)
        decisive = _ratio(w, w + lo, "win_rate_excluding_breakevens", why("every trade is a breakeven"), reasons)
        average_win = _ratio(sum_wins, w, "average_win", why("no winning trades"), reasons)
        average_loss = _ratio(sum_losses, lo, "average_loss", why("no losing trades"), reasons)
        payoff: Decimal | None = None
        if w and lo:
            payoff = _OUT.divide(sum_wins * lo, sum_losses * w)
        else:
            reasons["payoff_ratio"] = why("needs at least one winning and one losing trade")
        profit_factor = _ratio(
            sum_wins, sum_losses, "profit_factor", why("no losing trades: profit factor is undefined"), reasons
        )
        expectancy = _ratio(net, n, "expectancy", NO_TRADES, reasons)

        r_values: list[Decimal] = []
        for net_pnl, entry, quantity, multiplier, stop in stops:
            if entry is None:
                continue
            risk = abs(Decimal(entry) - Decimal(stop)) * Decimal(quantity) * Decimal(multiplier)
            if risk > 0:
                r_values.append(_OUT.divide(Decimal(net_pnl), risk))
        expectancy_r = _ratio(
            sum(r_values, _ZERO), len(r_values), "expectancy_r", why("no trade has an initial stop"), reasons
        )
        largest_win = None if row["largest_win"] is None else Decimal(row["largest_win"])
        largest_loss = None if row["largest_loss"] is None else Decimal(row["largest_loss"])
        if largest_win is None:
            reasons["largest_win"] = why("no winning trades")
        if largest_loss is None:
            reasons["largest_loss"] = why("no losing trades")

        start = config.starting_balance
        max_dd_ratio: Decimal | None = None
        if start is None:
            reasons["max_drawdown_ratio"] = "needs a starting balance"
        elif start <= 0:
            reasons["max_drawdown_ratio"] = "starting balance must be positive"
        elif row["worst"] is None:
            max_dd_ratio = _ZERO
        else:
            drawdown, peak = (Decimal(v) for v in row["worst"])
            max_dd_ratio = min(_ZERO, _OUT.divide(drawdown, start + peak))

        days: list[DayResult] = []
        cumulative = _ZERO
        for day in day_rows:
            day_net = Decimal(day["net"])
            equity_start = start + cumulative if start is not None else None
            cumulative += day_net
            days.append(
                DayResult(
                    day=day["day"],
                    trade_count=int(day["trades"]),
                    win_count=int(day["wins"]),
                    loss_count=int(day["losses"]),
                    breakeven_count=int(day["breakevens"]),
                    gross_pnl=Decimal(day["gross"]),
                    charges=Decimal(day["charges"]),
                    net_pnl=day_net,
                    cumulative_net_pnl=cumulative,
                    equity_start=equity_start,
                    equity_end=start + cumulative if start is not None else None,
                    day_return=(
                        _OUT.divide(day_net, equity_start) if equity_start is not None and equity_start > 0 else None
                    ),
                )
            )
        sharpe, sortino = metrics._sharpe_sortino(days, config, reasons)

    return Metrics(
        version=metrics.METRICS_VERSION,
        trade_count=n,
        win_count=w,
        loss_count=lo,
        breakeven_count=n - w - lo,
        net_pnl=net,
        gross_pnl=Decimal(row["gross"]),
        charges=Decimal(row["charges"]),
        win_rate=win_rate,
        win_rate_excluding_breakevens=decisive,
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
        longest_winning_streak=int(row["win_streak"]),
        longest_losing_streak=int(row["loss_streak"]),
        max_drawdown=Decimal(row["max_drawdown"]),
        max_drawdown_ratio=max_dd_ratio,
        sharpe=sharpe,
        sortino=sortino,
        trading_days=sum(1 for d in days if d.trade_count),
        reasons=reasons,
    )
