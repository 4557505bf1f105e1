"""Round-trip trades of a user, computed from the stored executions with the domain engine.

Trades are a pure function of the executions, so they are derived on read here: always correct,
whatever order the executions arrived in. (A stored projection for large histories is the next
step of the trades issue; it will be checked against this function.)

Charges per execution: what the broker's file carried (``fees``) wins; otherwise, for Indian
exchanges, the India charges engine estimates them per contract note (default brokerage plan:
Zerodha); other markets get no estimate until per-account commission schedules exist.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from tj_trades.domain import charges as ch
from tj_trades.domain import instruments, metrics
from tj_trades.domain.roundtrips import Fill, RoundTrip, Side, TradeStatus, build_round_trips

ChargesSource = Literal["broker", "estimated", "none"]

_INDIAN_EXCHANGES = {"NSE": ch.Exchange.NSE, "NFO": ch.Exchange.NSE, "BSE": ch.Exchange.BSE, "BFO": ch.Exchange.BSE}
_SEGMENTS = {
    instruments.Segment.FUTURES: ch.Segment.FUTURES,
    instruments.Segment.OPTIONS: ch.Segment.OPTIONS,
}
_PRODUCTS = {"MIS": ch.Product.INTRADAY, "CNC": ch.Product.DELIVERY}


def execution_charges(
    rows: Sequence[dict[str, Any]], plans: Mapping[uuid.UUID, str] | None = None
) -> dict[uuid.UUID, tuple[Decimal | None, ChargesSource]]:
    """Charges of each execution and where they came from; estimates use each account's
    brokerage plan (Zerodha's when none is known)."""
    result: dict[uuid.UUID, tuple[Decimal | None, ChargesSource]] = {}
    estimable: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["fees"] is not None:
            result[row["id"]] = (Decimal(row["fees"]), "broker")
        elif row["exchange"] in _INDIAN_EXCHANGES and row["currency"] == "INR":
            estimable[row["account_id"]].append(row)
        else:
            result[row["id"]] = (None, "none")
    for account_id, account_rows in estimable.items():
        result.update(_estimate(account_rows, _plan((plans or {}).get(account_id))))
    return result


def _plan(name: str | None) -> ch.BrokeragePlan:
    try:
        return ch.brokerage_plan(name or "zerodha")
    except (KeyError, ValueError):
        return ch.zerodha_plan()


def _estimate(
    rows: list[dict[str, Any]], plan: ch.BrokeragePlan
) -> dict[uuid.UUID, tuple[Decimal | None, ChargesSource]]:
    # Fills of one broker order (same order id, side, symbol and day) share the order's brokerage.
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        day = ch.ist_trade_date(row["executed_at"])
        order = row["broker_order_id"] or str(row["id"])
        grouped[(order, row["side"], row["symbol"], row["exchange"], day)].append(row)
    orders: list[ch.ExecutedOrder] = []
    for (order_id, side, symbol, exchange, day), fills in grouped.items():
        segment = _segment(fills[0])
        orders.append(
            ch.ExecutedOrder(
                order_id=f"{order_id}:{side}:{symbol}:{day.isoformat()}",
                instrument=symbol,
                exchange=_INDIAN_EXCHANGES[exchange],
                segment=segment,
                side=ch.Side(side),
                trade_date=day,
                fills=tuple(ch.Fill(str(f["id"]), Decimal(f["quantity"]), Decimal(f["price"])) for f in fills),
                product=_PRODUCTS.get(fills[0]["product"] or "") if segment == ch.Segment.EQUITY else None,
            )
        )
    result: dict[uuid.UUID, tuple[Decimal | None, ChargesSource]] = {}
    try:
        priced = ch.estimate_orders(orders, plan)
    except (ch.RatesUnavailableError, ValueError):
        return {row["id"]: (None, "none") for row in rows}
    for item in priced:
        if len(item.order.fills) == 1:  # the common case: nothing to share out
            result[uuid.UUID(item.order.fills[0].fill_id)] = (item.charges.total, "estimated")
            continue
        for fill_id, breakdown in ch.charges_per_fill(item.order, item.charges).items():
            result[uuid.UUID(fill_id)] = (breakdown.total, "estimated")
    return result


def _segment(row: dict[str, Any]) -> ch.Segment:
    if row["segment"] == "futures":
        return ch.Segment.FUTURES
    if row["segment"] == "options":
        return ch.Segment.OPTIONS
    if row["segment"] == "equity":
        return ch.Segment.EQUITY
    parsed = instruments.parse_symbol(row["symbol"], exchange=row["exchange"])
    return _SEGMENTS.get(parsed.segment, ch.Segment.EQUITY)


Charges = Mapping[uuid.UUID, tuple[Decimal | None, ChargesSource]]


def plans_of(accounts: Mapping[uuid.UUID, Mapping[str, Any]]) -> dict[uuid.UUID, str]:
    return {a: settings.get("brokerage_plan") or "zerodha" for a, settings in accounts.items()}


def round_trips(
    rows: Sequence[dict[str, Any]],
    accounts: Mapping[uuid.UUID, Mapping[str, Any]] | None = None,
    charges: Charges | None = None,
) -> tuple[list[RoundTrip], dict[uuid.UUID, ChargesSource]]:
    """The user's trades from their executions, and each trade's charges source. ``accounts``
    (see repository.account_settings) gives each account's brokerage plan and long-only flag: in a
    long-only account a sell beyond the position held is an ``unmatched`` trade, never a short.
    ``charges`` of each execution, when already known (the stored projection keeps them: they
    depend on every execution of the account's trading day, not only on the instrument's)."""
    accounts = accounts or {}
    long_only_accounts = {a for a, settings in accounts.items() if settings.get("long_only")}
    if charges is None:
        charges = execution_charges(rows, plans_of(accounts))
    fills = [
        Fill(
            execution_id=row["id"],
            account_id=row["account_id"],
            symbol=f"{row['exchange']}:{row['symbol']}",
            side=Side(row["side"]),
            quantity=Decimal(row["quantity"]),
            price=Decimal(row["price"]),
            executed_at=row["executed_at"],
            charges=charges[row["id"]][0],
            broker_trade_id=row["broker_trade_id"],
        )
        for row in rows
    ]
    trades = build_round_trips(fills, long_only_accounts=long_only_accounts)
    sources: dict[uuid.UUID, ChargesSource] = {}
    for trade in trades:
        kinds = {charges[uuid.UUID(str(leg.execution_id))][1] for leg in trade.legs}
        sources[trade.id] = "broker" if kinds == {"broker"} else "estimated" if "estimated" in kinds else "none"
    return trades, sources


def closed_trade(trade: RoundTrip, annotation: dict[str, Any] | None) -> metrics.ClosedTrade | None:
    """The statistics record of a closed trade, with its initial stop and tag names; None otherwise."""
    if trade.status is not TradeStatus.CLOSED or trade.closed_at is None:
        return None
    annotation = annotation or {}
    stop = annotation.get("initial_stop")
    return metrics.ClosedTrade.from_round_trip(
        trade,
        initial_stop=None if stop is None else Decimal(stop),
        tags=[t["name"] for t in annotation.get("tags", [])],
    )


def has_tag(annotation: dict[str, Any] | None, tag: str | None) -> bool:
    """Whether the trade carries a tag of that name (any kind); no filter matches every trade."""
    if tag is None:
        return True
    return annotation is not None and any(t["name"] == tag for t in annotation["tags"])


def trade_json(
    trade: RoundTrip, source: ChargesSource, annotation: dict[str, Any] | None = None, *, legs: bool = False
) -> dict[str, Any]:
    exchange, _, symbol = trade.symbol.partition(":")
    holding = (trade.closed_at - trade.opened_at).total_seconds() if trade.closed_at else None
    body: dict[str, Any] = {
        "id": str(trade.id),
        "account_id": str(trade.account_id),
        "symbol": symbol,
        "exchange": exchange,
        "side": str(trade.side),
        "status": str(trade.status),
        "opened_at": _iso(trade.opened_at),
        "closed_at": _iso(trade.closed_at),
        "quantity": str(trade.quantity),
        "max_position": str(trade.max_position),
        "open_quantity": str(trade.open_quantity),
        "average_entry_price": _dec(trade.average_entry_price),
        "average_exit_price": _dec(trade.average_exit_price),
        "gross_pnl": _dec(trade.gross_pnl),
        "charges": str(trade.charges),
        "charges_source": source,
        "net_pnl": _dec(trade.net_pnl),
        "holding_seconds": holding,
        **annotation_json(annotation),
        "r_multiple": None,
    }
    closed = closed_trade(trade, annotation)
    if closed is not None:
        body["r_multiple"] = _dec(metrics.r_multiple(closed))
    if legs:
        body["executions"] = [
            {
                "execution_id": str(leg.execution_id),
                "role": str(leg.role),
                "side": str(leg.side),
                "quantity": str(leg.quantity),
                "price": str(leg.price),
                "executed_at": _iso(leg.executed_at),
                "charges": str(leg.charges),
            }
            for leg in trade.legs
        ]
    return body


def annotation_json(annotation: dict[str, Any] | None) -> dict[str, Any]:
    annotation = annotation or {}
    return {
        "initial_stop": _dec(annotation.get("initial_stop")),
        "target": _dec(annotation.get("target")),
        "setup": annotation.get("setup"),
        "notes": annotation.get("notes"),
        "tags": annotation.get("tags", []),
        "annotated_at": _iso(annotation.get("updated_at")),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def metrics_config(
    accounts: Mapping[uuid.UUID, Mapping[str, Any]], account_id: uuid.UUID | None
) -> metrics.MetricsConfig:
    """Day bucketing and equity for the accounts in view: the account's time zone and starting
    balance; across accounts, their shared time zone (IST otherwise) and the sum of their starting
    balances when every one has one (else figures that need equity are null, with the reason)."""
    selected = [accounts[account_id]] if account_id is not None and account_id in accounts else list(accounts.values())
    zones = {a["timezone"] for a in selected}
    balances = [a["starting_balance"] for a in selected]
    return metrics.MetricsConfig(
        timezone=zones.pop() if len(zones) == 1 else metrics.DEFAULT_TIMEZONE,
        starting_balance=sum(balances, Decimal(0)) if balances and None not in balances else None,
    )
