"""The analytics summary from the stored daily rollups: the same figures as
``metrics.compute_metrics`` over the same closed trades (docs/metrics.md, version 1), in O(days)
rather than O(trades).

Each rollup row sums one day up so that days chain in close order (projection.day_composite):
counts, sums and extremes, the day's first, last and longest runs, and its equity segments (each
new high of the day's running P&L and the low until the next one), from which the drawdown and its
ratio to equity follow exactly. Rows of all accounts together carry their own days (in the zone the
summary buckets them in). R uses the trades that have an initial stop. Ratios are taken from the
exact sums with the metrics module's own contexts, so both paths agree to the digit
(tests/test_rollups.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tj_trades import repository, tradebook
from tj_trades.domain import metrics
from tj_trades.domain.metrics import _OUT, _WORK, NO_TRADES, DayResult, Metrics, MetricsConfig, _ratio
from tj_trades.models import daily_rollups, summary_snapshots
from tj_trades.projection import ALL_ACCOUNTS

_ZERO = Decimal(0)

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


def _balance_equal(stored: Any, wanted: Decimal | None) -> bool:
    return (stored is None and wanted is None) or (
        stored is not None and wanted is not None and Decimal(stored) == wanted
    )


async def _from_rollups(
    session: AsyncSession, user_id: uuid.UUID, scope: uuid.UUID, config: MetricsConfig
) -> Metrics | None:
    day_rows = (
        await session.execute(
            select(daily_rollups)
            .where(daily_rollups.c.user_id == user_id, daily_rollups.c.account_id == scope)
            .order_by(daily_rollups.c.day)
        )
    ).all()
    if any(d.zone != config.timezone for d in day_rows):
        return None
    return from_days(day_rows, [], config)


async def store_snapshot(
    session: AsyncSession, user_id: uuid.UUID, scope: uuid.UUID, config: MetricsConfig
) -> dict[str, Any] | None:
    """Chain the scope's daily rollups into its summary (without R) and keep it."""
    from tj_trades.analytics import jsonable  # the API's JSON form (analytics imports this module)

    found = await _from_rollups(session, user_id, scope, config)
    if found is None:
        return None
    body: dict[str, Any] = jsonable(found)
    statement = pg_insert(summary_snapshots).values(
        user_id=user_id, scope=scope, zone=config.timezone, starting_balance=config.starting_balance, body=body
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[summary_snapshots.c.user_id, summary_snapshots.c.scope],
            set_={
                "zone": statement.excluded.zone,
                "starting_balance": statement.excluded.starting_balance,
                "body": statement.excluded.body,
                "computed_at": func.now(),
            },
        )
    )
    return body


async def store_snapshots(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Every scope of the user: each account, and all accounts together (after a refresh)."""
    accounts = await repository.account_settings(session, user_id)
    for account_id in [None, *accounts]:
        config = tradebook.metrics_config(accounts, account_id)
        if supported(config):
            await store_snapshot(session, user_id, ALL_ACCOUNTS if account_id is None else account_id, config)


async def summary(
    session: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID | None, config: MetricsConfig
) -> dict[str, Any] | None:
    """The summary as JSON: the snapshot of the daily rollups when it is current for ``config``
    (else chained now and kept), with R from the current initial stops. None when the rollups are
    bucketed in another time zone than ``config``'s: the caller derives it then."""
    scope = account_id if account_id is not None else ALL_ACCOUNTS
    snapshot = (
        await session.execute(
            select(summary_snapshots.c.body, summary_snapshots.c.zone, summary_snapshots.c.starting_balance).where(
                summary_snapshots.c.user_id == user_id, summary_snapshots.c.scope == scope
            )
        )
    ).first()
    body: dict[str, Any] | None
    if (
        snapshot is not None
        and snapshot.zone == config.timezone
        and _balance_equal(snapshot.starting_balance, config.starting_balance)
    ):
        body = dict(snapshot.body)
    else:
        body = await store_snapshot(session, user_id, scope, config)
    if body is None:
        return None
    stops = (await session.execute(text(_STOPS), {"user_id": user_id, "account_id": account_id})).all()
    reasons = {k: v for k, v in body["reasons"].items() if k != "expectancy_r"}
    expectancy_r, count = r_part([tuple(s) for s in stops], body["trade_count"], reasons)
    body["expectancy_r"] = None if expectancy_r is None else str(expectancy_r)
    body["r_trade_count"] = count
    body["reasons"] = reasons
    return body


def r_part(stops: Sequence[tuple[Any, ...]], n: int, reasons: dict[str, str]) -> tuple[Decimal | None, int]:
    """Expectancy in R of the trades with an initial stop, as compute_metrics takes it."""
    with localcontext(_WORK):
        r_values: list[Decimal] = []
        for net_pnl, entry, quantity, multiplier, stop in stops:
            if entry is None:
                continue
            risk = abs(Decimal(entry) - Decimal(stop)) * Decimal(quantity) * Decimal(multiplier)
            if risk > 0:
                r_values.append(_OUT.divide(Decimal(net_pnl), risk))
        reason = "no trade has an initial stop" if n else NO_TRADES
        return _ratio(sum(r_values, _ZERO), len(r_values), "expectancy_r", reason, reasons), len(r_values)


def from_days(day_rows: Sequence[Any], stops: Sequence[tuple[Any, ...]], config: MetricsConfig) -> Metrics:
    """The summary of days summed up by ``projection.day_composite`` (attributes as the rollup's
    columns), in day order, and of the (net P&L, entry, quantity, multiplier, initial stop) of the
    trades with a stop."""
    reasons: dict[str, str] = {}
    start = config.starting_balance
    has_balance = start is not None and start > 0
    with localcontext(_WORK):
        n = sum(d.trade_count for d in day_rows)
        w = sum(d.win_count for d in day_rows)
        lo = sum(d.loss_count for d in day_rows)
        sum_wins = sum((Decimal(d.sum_wins) for d in day_rows), _ZERO)
        sum_losses = sum((Decimal(d.sum_losses) for d in day_rows), _ZERO)
        net = sum((Decimal(d.net_pnl) for d in day_rows), _ZERO)
        gross = sum((Decimal(d.gross_pnl) for d in day_rows), _ZERO)
        charges = sum((Decimal(d.charges) for d in day_rows), _ZERO)

        # Chain the days in order: runs, the equity peak and the drawdowns (first of equals wins,
        # as in metrics.equity_curve and min()).
        best = {1: 0, -1: 0}
        run_kind, run_len = 0, 0
        cumulative, peak = _ZERO, _ZERO
        max_dd: Decimal | None = None
        max_dd_ratio: Decimal | None = None
        largest_win: Decimal | None = None
        largest_loss: Decimal | None = None
        for d in day_rows:
            if d.largest_win is not None and (largest_win is None or Decimal(d.largest_win) > largest_win):
                largest_win = Decimal(d.largest_win)
            if d.largest_loss is not None and (largest_loss is None or Decimal(d.largest_loss) > largest_loss):
                largest_loss = Decimal(d.largest_loss)
            best[1] = max(best[1], d.best_win_run)
            best[-1] = max(best[-1], d.best_loss_run)
            whole_day = d.first_run == d.trade_count
            if d.first_kind != 0 and d.first_kind == run_kind:
                merged = run_len + d.first_run
                best[run_kind] = max(best[run_kind], merged)
                if whole_day:
                    run_len = merged
                    continue_run = True
                else:
                    continue_run = False
            else:
                continue_run = False
                if whole_day:
                    run_kind, run_len = d.first_kind, d.trade_count
                    continue_run = True
            if not continue_run:
                run_kind, run_len = d.last_kind, d.last_run
            if run_kind == 0:
                run_len = 0
            for high_text, low_text in d.segments:
                high, low = Decimal(high_text), Decimal(low_text)
                point_peak = max(peak, cumulative + high)
                drawdown = cumulative + low - point_peak
                if max_dd is None or drawdown < max_dd:
                    max_dd = drawdown
                if has_balance and start is not None:
                    ratio = _OUT.divide(drawdown, start + point_peak)
                    if max_dd_ratio is None or ratio < max_dd_ratio:
                        max_dd_ratio = ratio
                peak = point_peak
            cumulative += Decimal(d.net_pnl)

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

        expectancy_r, r_count = r_part(stops, n, reasons)
        if largest_win is None:
            reasons["largest_win"] = why("no winning trades")
        if largest_loss is None:
            reasons["largest_loss"] = why("no losing trades")
        if start is None:
            reasons["max_drawdown_ratio"] = "needs a starting balance"
            max_dd_ratio = None
        elif start <= 0:
            reasons["max_drawdown_ratio"] = "starting balance must be positive"
            max_dd_ratio = None
        elif max_dd_ratio is None:
            max_dd_ratio = _ZERO

        days: list[DayResult] = []
        running = _ZERO
        for d in day_rows:
            day_net = Decimal(d.net_pnl)
            equity_start = start + running if start is not None else None
            running += day_net
            days.append(
                DayResult(
                    day=d.day,
                    trade_count=d.trade_count,
                    win_count=d.win_count,
                    loss_count=d.loss_count,
                    breakeven_count=d.breakeven_count,
                    gross_pnl=Decimal(d.gross_pnl),
                    charges=Decimal(d.charges),
                    net_pnl=day_net,
                    cumulative_net_pnl=running,
                    equity_start=equity_start,
                    equity_end=start + running if start is not None else None,
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
        gross_pnl=gross,
        charges=charges,
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
        r_trade_count=r_count,
        largest_win=largest_win,
        largest_loss=largest_loss,
        longest_winning_streak=best[1],
        longest_losing_streak=best[-1],
        max_drawdown=_ZERO if max_dd is None else max_dd,
        max_drawdown_ratio=max_dd_ratio,
        sharpe=sharpe,
        sortino=sortino,
        trading_days=sum(1 for d in days if d.trade_count),
        reasons=reasons,
    )
