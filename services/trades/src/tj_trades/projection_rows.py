"""The rows of the stored projection, as pure functions of the engines' results: the trade and
charge rows a refresh stores (and their joined text columns), the comparison with the stored
charges, and a day's rollup composite. Kept apart from tj_trades.projection (which talks to the
database) so that they are compiled with the engines (tj_trades._native): a large refresh runs them
for every execution and trade.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, localcontext
from typing import Any, cast
from zoneinfo import ZoneInfo

from tj_trades import pgarrays, tradebook
from tj_trades.domain.charges.india import IST, ist_trade_date
from tj_trades.domain.metrics import _WORK

_ZERO = Decimal(0)


def instrument(exchange: str, symbol: str) -> str:
    return f"{exchange}:{symbol}"


# The columns of charge_days and trade_rows a refresh stores, in the order of their joined text
# parameters (tj_trades.projection's INSERTs).
CHARGE_DAY_COLUMNS = (("account_id", "uuid"), ("day", "date"), ("entries", "text"))
TRADE_COLUMNS = (
    ("trade_id", "uuid"),
    ("user_id", "uuid"),
    ("account_id", "uuid"),
    ("instrument", "text"),
    ("side", "text"),
    ("status", "text"),
    ("opened_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("close_day", "date"),
    ("quantity", "numeric"),
    ("entry_price", "numeric"),
    ("multiplier", "numeric"),
    ("gross_pnl", "numeric"),
    ("charges", "numeric"),
    ("net_pnl", "numeric"),
    ("charges_source", "text"),
    ("charges_breakdown", "text"),
)


# charges_breakdown is JSON text already (tradebook.lines_json).
TRADE_FORMS = [pgarrays.TEXT_FORMS["json_text" if c == "charges_breakdown" else t] for c, t in TRADE_COLUMNS]


# Executions' charges are stored a day at a time (migration trades_0020): a charge_days row per
# account and IST day holds the entries of the day's executions, one line each: the execution's id,
# its total, source and lines (JSON), tab-separated, "" for None. None of them holds a tab or a
# line break (ids, decimal strings, the source names, JSON of line names and decimal strings).


def charge_entry(charges: tradebook.ExecutionCharges) -> str:
    """An execution's charges as its entry holds them after its id."""
    total, lines = charges.total, tradebook.lines_json(charges.lines)
    return f"{'' if total is None else total}\t{charges.source}\t{'' if lines is None else lines}"


def charge_days_columns(
    rows: Iterable[Mapping[str, Any]],
    charges: tradebook.Charges,
    days: Mapping[Any, Iterable[date]] | None = None,
) -> list[str]:
    """CHARGE_DAY_COLUMNS' joined text columns of the charges of these executions (those of
    ``rows`` with charges), a row per (account, IST day). With ``days`` (account -> IST days),
    of those days only: each must be all of its executions (it replaces what is stored of the
    day), and a day without any is NULL (what is stored of it is deleted)."""
    by_day: dict[tuple[Any, date], list[str]] = {}
    for r in rows:
        i = r["id"]
        c = charges.get(i)
        if c is None:
            continue
        key = (r["account_id"], ist_trade_date(r["executed_at"]))
        entry = f"{i}\t{charge_entry(c)}"
        if key in by_day:
            by_day[key].append(entry)
        else:
            by_day[key] = [entry]
    keys: list[tuple[Any, date]] = list(by_day)
    if days is not None:
        wanted = {(a, d) for a, account_days in days.items() for d in account_days}
        keys = [k for k in keys if k in wanted] + [k for k in wanted if k not in by_day]
    return [
        pgarrays.texts([str(a) for a, _ in keys]),
        pgarrays.texts([d.isoformat() for _, d in keys]),
        pgarrays.texts(["\n".join(by_day[k]) if k in by_day else None for k in keys]),
    ]


def day_entries(stored: Iterable[str]) -> dict[str, str]:
    """The entries of stored charge_days rows: each execution's (its id as text) charge_entry."""
    entries: dict[str, str] = {}
    for text in stored:
        for line in text.split("\n"):
            execution_id, _, entry = line.partition("\t")
            entries[execution_id] = entry
    return entries


def trade_columns(rows: list[dict[str, Any]]) -> list[str]:
    return [pgarrays.texts(form(r[c] for r in rows)) for (c, _), form in zip(TRADE_COLUMNS, TRADE_FORMS, strict=True)]


# A window's closed trades summed up day by day as the rollup sums up the stored ones: for each
# (scope, day), the number of trades and their day_composite (in close order). A scope is an
# account (its days in its time zone) or all accounts (tj_trades.projection.ALL_ACCOUNTS, in the
# summary's zone). The rollup uses them for the days whose stored closed trades are these.
DayRollups = dict[tuple[uuid.UUID, date], tuple[int, dict[str, Any]]]
# What a refresh stores of a window's round trips, made in one call (a forked child's, see
# tj_trades.projection): TRADE_COLUMNS' joined text columns, or the rows themselves when an
# instrument holds a separator character (stored from arrays); and the day rollups of its closed
# trades (their keys: the scopes' days the new trades close on).
TradeOutput = tuple[list[str] | None, list[dict[str, Any]] | None, DayRollups]


def trade_output(
    user_id: uuid.UUID,
    rows: list[dict[str, Any]],
    accounts: Mapping[uuid.UUID, Mapping[str, Any]],
    charges: tradebook.Charges,
    everyone: uuid.UUID,
    zone: str,
) -> TradeOutput:
    """:func:`trade_records`, encoded for storing (:data:`TradeOutput`); the day rollups with
    ``everyone`` for all accounts' scope, its days in ``zone``."""
    records, _ = trade_records(user_id, rows, accounts, charges)
    rolled = day_rollups(records, accounts, everyone, zone)
    if records and all(pgarrays.clean(r["instrument"]) for r in records):
        return trade_columns(records), None, rolled
    return None, records, rolled


def account_zone(accounts: Mapping[uuid.UUID, Mapping[str, Any]], account_id: uuid.UUID) -> str:
    """The time zone an account's rollup days are in."""
    return str(accounts[account_id]["timezone"]) if account_id in accounts else "Asia/Kolkata"


def day_rollups(
    records: list[dict[str, Any]], accounts: Mapping[uuid.UUID, Mapping[str, Any]], everyone: uuid.UUID, zone: str
) -> DayRollups:
    """:data:`DayRollups` of trade rows (:func:`trade_records`). When they are all one account's,
    in the summary's zone (one account: the usual case), all accounts' days are that account's
    days: summed up once, for both scopes."""
    closed = sorted((r for r in records if r["status"] == "closed" and r["closed_at"] is not None), key=close_order)
    if not closed:
        return {}
    only = closed[0]["account_id"]  # trade_records gives an account's trades one id object
    if account_zone(accounts, only) == zone and all(r["account_id"] is only or r["account_id"] == only for r in closed):
        in_zone = ZoneInfo(zone)
        by_day: dict[date, list[Mapping[str, Any]]] = {}
        for r in closed:
            day = r["closed_at"].astimezone(in_zone).date()
            if day in by_day:
                by_day[day].append(r)
            else:
                by_day[day] = [r]
        alone: DayRollups = {}
        for day, trades in by_day.items():
            alone[(only, day)] = alone[(everyone, day)] = (len(trades), day_composite(trades))
        return alone
    zones: dict[uuid.UUID, ZoneInfo] = {}
    everyone_zone = ZoneInfo(zone)
    per_day: dict[tuple[uuid.UUID, date], list[Mapping[str, Any]]] = {}
    for r in closed:
        account_id = r["account_id"]
        tz = zones.get(account_id)
        if tz is None:
            tz = zones[account_id] = ZoneInfo(account_zone(accounts, account_id))
        for key in (
            (account_id, r["closed_at"].astimezone(tz).date()),
            (everyone, r["closed_at"].astimezone(everyone_zone).date()),
        ):
            if key in per_day:
                per_day[key].append(r)
            else:
                per_day[key] = [r]
    return {key: (len(trades), day_composite(trades)) for key, trades in per_day.items()}


def changed_groups(
    rows: list[dict[str, Any]], charges: tradebook.Charges, stored: Mapping[str, str]
) -> set[tuple[uuid.UUID, str]]:
    """The groups of the executions whose charges differ from the stored ones (:func:`day_entries`),
    compared as stored (amounts as written, not only their values): equal means nothing to redo."""
    if not stored:
        return {(r["account_id"], instrument(r["exchange"], r["symbol"])) for r in rows}
    return {
        (r["account_id"], instrument(r["exchange"], r["symbol"]))
        for r in rows
        if stored.get(str(r["id"])) != charge_entry(charges[r["id"]])
    }


def stored_charges(stored: Mapping[str, str], ids: Iterable[Any]) -> dict[Any, tradebook.ExecutionCharges]:
    """The stored charges (:func:`day_entries`) of those of these executions that have any (lines
    back in LINE_NAMES order)."""
    found: dict[Any, tradebook.ExecutionCharges] = {}
    for i in ids:
        entry = stored.get(str(i))
        if entry is None:
            continue
        total, source, lines = entry.split("\t")
        found[i] = tradebook.ExecutionCharges(
            Decimal(total) if total else None,
            cast(tradebook.ChargesSource, source),
            tradebook.ordered(json.loads(lines)) if lines else None,
        )
    return found


def trade_records(
    user_id: uuid.UUID,
    rows: list[dict[str, Any]],
    accounts: Mapping[uuid.UUID, Mapping[str, Any]],
    charges: tradebook.Charges,
) -> tuple[list[dict[str, Any]], list[tuple[uuid.UUID, datetime]]]:
    """The trade_rows of the executions' round trips, and the (account, close time) of each
    closed one."""
    book = tradebook.book(rows, accounts, charges)
    trades, sources, lines_json = book.trades, book.sources, tradebook.lines_json
    closes: list[tuple[uuid.UUID, datetime]] = []
    zones = {a: ZoneInfo(s["timezone"]) for a, s in accounts.items()}
    account_ids: dict[Any, uuid.UUID] = {}  # the driver's UUIDs as the standard library's, once each
    new_rows = []
    for trade in trades:
        account_id = account_ids.get(trade.account_id)
        if account_id is None:
            account_id = account_ids[trade.account_id] = uuid.UUID(str(trade.account_id))
        close_day = None
        if trade.closed_at is not None and str(trade.status) == "closed":
            close_day = trade.closed_at.astimezone(zones.get(account_id, IST)).date()
            closes.append((account_id, trade.closed_at))
        new_rows.append(
            {
                "trade_id": trade.id,
                "user_id": user_id,
                "account_id": account_id,
                "instrument": trade.symbol,
                "side": str(trade.side),
                "status": str(trade.status),
                "opened_at": trade.opened_at,
                "closed_at": trade.closed_at,
                "close_day": close_day,
                "quantity": trade.quantity,
                "entry_price": trade.average_entry_price,
                "multiplier": trade.multiplier,
                "gross_pnl": trade.gross_pnl,
                "charges": trade.charges,
                "net_pnl": trade.net_pnl,
                "charges_source": sources[trade.id],
                "charges_breakdown": lines_json(book.breakdown(trade)),
            }
        )
    return new_rows, closes


def close_order(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """metrics.in_close_order's key."""
    return (row["closed_at"], row["opened_at"], row["instrument"], str(row["trade_id"]), row["net_pnl"])


def day_composite(trades: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One day's closed trades (in close order) summed up so days chain in order: counts, sums,
    extremes (the first of equals, as ``max`` gives), the first, last and longest win and loss
    runs (a breakeven ends a run), and the equity segments: each time the day's running P&L makes
    a new high (relative to the day's start), that high and the lowest P&L until the next one."""
    with localcontext(_WORK):
        kinds = [1 if t["net_pnl"] > 0 else -1 if t["net_pnl"] < 0 else 0 for t in trades]
        wins = [t["net_pnl"] for t, k in zip(trades, kinds, strict=True) if k == 1]
        losses = [-t["net_pnl"] for t, k in zip(trades, kinds, strict=True) if k == -1]
        runs: list[list[int]] = []
        for kind in kinds:
            if runs and runs[-1][0] == kind and kind != 0:
                runs[-1][1] += 1
            else:
                runs.append([kind, 1])
        running = _ZERO
        segments: list[list[Decimal]] = []
        for t in trades:
            running += t["net_pnl"]
            if not segments or running > segments[-1][0]:
                segments.append([running, running])
            elif running < segments[-1][1]:
                segments[-1][1] = running
        largest_win = max(wins) if wins else None  # max keeps the first of equals
        largest_loss = max(losses) if losses else None
        return {
            "trade_count": len(trades),
            "win_count": len(wins),
            "loss_count": len(losses),
            "breakeven_count": kinds.count(0),
            "gross_pnl": sum((t["gross_pnl"] for t in trades), _ZERO),
            "charges": sum((t["charges"] for t in trades), _ZERO),
            "net_pnl": sum((t["net_pnl"] for t in trades), _ZERO),
            "sum_wins": sum(wins, _ZERO),
            "sum_losses": sum(losses, _ZERO),
            "largest_win": largest_win,
            "largest_loss": largest_loss,
            "first_kind": runs[0][0],
            "first_run": runs[0][1],
            "last_kind": runs[-1][0],
            "last_run": runs[-1][1],
            "best_win_run": max((n for k, n in runs if k == 1), default=0),
            "best_loss_run": max((n for k, n in runs if k == -1), default=0),
            "segments": [[str(high), str(low)] for high, low in segments],
        }
