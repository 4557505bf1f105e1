"""Round-trip trades of a user, computed from the stored executions with the domain engine.

Trades are a pure function of the executions, so they are derived on read here: always correct,
whatever order the executions arrived in (the stored projection, projection.py, is checked
against this function).

Charges per execution, each as a breakdown by line (domain.charges.LINE_NAMES): what the broker's
file or the client carried wins (the itemised ``charges``, with whatever a larger ``fees`` total
leaves ``unitemised``; a bare ``fees`` total is all ``unitemised``); otherwise, for Indian
exchanges, the India charges engine estimates them per contract note (default brokerage plan:
Zerodha); other markets are estimated with the account's commission schedule when it has one, and
get no charges otherwise. A trade's breakdown is the sum of its legs'; a fill shared by two trades
(a flip) is split pro rata by quantity, line by line, so the parts add up to the paisa.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, localcontext
from typing import Any, Literal, NamedTuple

from tj_trades.domain import charges as ch
from tj_trades.domain import instruments, metrics
from tj_trades.domain.roundtrips import Fill, LegRole, RoundTrip, Side, TradeStatus, build_round_trips, id_order

ChargesSource = Literal["broker", "estimated", "none"]
# A trade's: its legs' common source, or "mixed" when they differ.
TradeChargesSource = Literal["broker", "estimated", "mixed", "none"]
Lines = dict[str, Decimal]  # the lines present, in LINE_NAMES order


class ExecutionCharges(NamedTuple):
    """An execution's charges: total (None: nothing known), source and breakdown by line."""

    total: Decimal | None
    source: ChargesSource
    lines: Lines | None = None


NO_CHARGES = ExecutionCharges(None, "none", None)
_ZERO = Decimal(0)
_LINE_ORDER = {name: i for i, name in enumerate(ch.LINE_NAMES)}

_INDIAN_EXCHANGES = {"NSE": ch.Exchange.NSE, "NFO": ch.Exchange.NSE, "BSE": ch.Exchange.BSE, "BFO": ch.Exchange.BSE}
_SEGMENTS = {
    instruments.Segment.FUTURES: ch.Segment.FUTURES,
    instruments.Segment.OPTIONS: ch.Segment.OPTIONS,
}
_PRODUCTS = {"MIS": ch.Product.INTRADAY, "CNC": ch.Product.DELIVERY}
# Stored sides as the domain's enum (the charges and round-trip engines share it), by lookup:
# calling the enum class is slower by far.
_SIDES = {side.value: side for side in Side}


def execution_charges(
    rows: Sequence[dict[str, Any]],
    plans: Mapping[uuid.UUID, str] | None = None,
    schedules: Mapping[uuid.UUID, Mapping[str, Any] | None] | None = None,
) -> dict[uuid.UUID, ExecutionCharges]:
    """Charges of each execution and where they came from; Indian estimates use each account's
    brokerage plan (Zerodha's when none is known), other markets the account's commission
    schedule (stored form, see ``schedules_of``)."""
    result: dict[uuid.UUID, ExecutionCharges] = {}
    estimable: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    commissioned: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        typed, fees = row.get("charges"), row["fees"]
        if typed is None and fees is not None:  # the common broker case, inline: a bare total
            total = Decimal(fees)
            result[row["id"]] = ExecutionCharges(total, "broker", {"unitemised": total})
        elif typed is not None:
            result[row["id"]] = broker_charges(fees, typed)
        elif row["exchange"] in _INDIAN_EXCHANGES and row["currency"] == "INR":
            estimable[row["account_id"]].append(row)
        elif schedules and schedules.get(row["account_id"]):
            commissioned[row["account_id"]].append(row)
        else:
            result[row["id"]] = NO_CHARGES
    # Shares of a contract note's amounts break ties by position: in a canonical order, the same
    # executions get the same paise whatever order they were read in (a refresh reads one day, a
    # rebuild the whole history).
    for account_id, account_rows in estimable.items():
        _sort_canonically(account_rows)
        result.update(_estimate(account_rows, _plan((plans or {}).get(account_id))))
    for account_id, account_rows in commissioned.items():
        _sort_canonically(account_rows)
        result.update(_commission(account_rows, (schedules or {})[account_id] or {}))
    return result


def _sort_canonically(rows: list[dict[str, Any]]) -> None:
    """By (time, id), ids ordered as their text sorts."""
    id_key = id_order(r["id"] for r in rows)
    rows.sort(key=lambda row: (row["executed_at"], id_key(row["id"])))


def broker_charges(fees: Decimal | str | None, typed: Mapping[str, Any] | None) -> ExecutionCharges:
    """What the broker (or the client) reported: the itemised lines, and whatever the total
    ``fees`` holds beyond them as ``unitemised``; a bare total is all ``unitemised``."""
    total = None if fees is None else Decimal(fees)
    if typed is None:
        assert total is not None
        return ExecutionCharges(total, "broker", {"unitemised": total})
    lines = {name: Decimal(typed[name]) for name in ch.LINE_NAMES if name in typed}
    itemised = sum(lines.values(), _ZERO)
    if total is not None and total > itemised:
        lines["unitemised"] = lines.get("unitemised", _ZERO) + (total - itemised)
        itemised = total
    return ExecutionCharges(itemised, "broker", lines)


def lines_of(breakdown: ch.ChargeBreakdown) -> Lines:
    return dict(breakdown.lines())


def ordered(lines: Mapping[str, Any]) -> Lines:
    """Lines (amounts as Decimals or decimal strings, e.g. read back from JSON) in LINE_NAMES order."""
    return {name: Decimal(lines[name]) for name in sorted(lines, key=_LINE_ORDER.__getitem__)}


def lines_json(lines: Lines | None) -> str | None:
    """A breakdown as stored (JSON, amounts as decimal strings)."""
    if lines is None:
        return None
    names = tuple(lines)
    template = _JSON_TEMPLATES.get(names)
    if template is None:
        # Line names are LINE_NAMES (plain identifiers): nothing in them needs escaping.
        template = _JSON_TEMPLATES[names] = "{" + ", ".join(f'"{name}": "%s"' for name in names) + "}"
    return template % tuple(lines.values())


# The JSON text of each set of lines with %s for the amounts: a projection encodes every
# execution's and every trade's lines, nearly all of them with the same few sets of names.
_JSON_TEMPLATES: dict[tuple[str, ...], str] = {}


def _plan(name: str | None) -> ch.BrokeragePlan:
    try:
        return ch.brokerage_plan(name or "zerodha")
    except (KeyError, ValueError):
        return ch.zerodha_plan()


def _order_key(row: dict[str, Any]) -> tuple[Any, ...]:
    # Fills of one broker order (same order id, side, symbol and IST day) share the order's charges.
    return (row["broker_order_id"] or str(row["id"]), row["side"], row["symbol"], row["exchange"])


def _estimate(rows: list[dict[str, Any]], plan: ch.BrokeragePlan) -> dict[uuid.UUID, ExecutionCharges]:
    # The executed orders in the order of their first fill (ties in a note's sharing go to the
    # earlier order): fills of one broker order (same order id, side, symbol and IST day) share
    # the order's charges; a fill without an order id is an order of its own.
    grouped: list[tuple[date, list[dict[str, Any]]]] = []
    by_order: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    ist_trade_date = ch.ist_trade_date
    for row in rows:
        day = ist_trade_date(row["executed_at"])
        order_id = row["broker_order_id"]
        if not order_id:
            grouped.append((day, [row]))
            continue
        key = (order_id, row["side"], row["symbol"], row["exchange"], day)
        members = by_order.get(key)
        if members is None:
            members = by_order[key] = []
            grouped.append((day, members))
        members.append(row)
    orders: list[ch.ExecutedOrder] = []
    segments: dict[tuple[str, str, str | None], ch.Segment] = {}  # (exchange, symbol, segment) -> its class
    for day, fills in grouped:
        first = fills[0]
        exchange, symbol, side = first["exchange"], first["symbol"], first["side"]
        scrip = (exchange, symbol, first["segment"])
        segment = segments.get(scrip)
        if segment is None:
            segment = segments[scrip] = _segment(first)
        if len(fills) == 1 and not first["broker_order_id"]:
            order_id = str(first["id"])  # an order of one fill, named by it (as ExecutedOrder.of)
            engine_fills: tuple[ch.Fill, ...] = (
                ch.Fill(order_id, Decimal(first["quantity"]), Decimal(first["price"])),
            )
        else:
            order_id = f"{first['broker_order_id']}:{side}:{symbol}:{day.isoformat()}"
            engine_fills = tuple(ch.Fill(str(f["id"]), Decimal(f["quantity"]), Decimal(f["price"])) for f in fills)
        orders.append(
            ch.ExecutedOrder(
                order_id=order_id,
                instrument=symbol,
                exchange=_INDIAN_EXCHANGES[exchange],
                segment=segment,
                side=_SIDES.get(side) or Side(side),
                trade_date=day,
                fills=engine_fills,
                product=_PRODUCTS.get(first["product"] or "") if segment == ch.Segment.EQUITY else None,
            )
        )
    # One contract note per trade date: a day the rate table does not cover leaves that day's
    # executions without an estimate, not the whole account's.
    try:
        priced = ch.note_lines_where_known(orders, plan)
    except ValueError:
        return {row["id"]: NO_CHARGES for row in rows}
    result: dict[uuid.UUID, ExecutionCharges] = {}
    names = ch.NOTE_LINES
    for (_, fills), order, item in zip(grouped, orders, priced, strict=True):
        if item is None:
            result.update((row["id"], NO_CHARGES) for row in fills)
            continue
        version, amounts = item
        lines = dict(zip(names, amounts, strict=True))
        if len(fills) == 1:  # the common case: nothing to share out
            result[fills[0]["id"]] = ExecutionCharges(sum(amounts, _ZERO), "estimated", lines)
            continue
        whole = ch.ChargeBreakdown(**lines, source="estimated", rates_version=version)
        # One part per fill, in the order's fill order (its ids are unique).
        parts = ch.charges_per_fill(order, whole).values()
        for row, breakdown in zip(fills, parts, strict=True):
            result[row["id"]] = ExecutionCharges(breakdown.total, "estimated", lines_of(breakdown))
    return result


def _commission(rows: list[dict[str, Any]], stored: Mapping[str, Any]) -> dict[uuid.UUID, ExecutionCharges]:
    """Commission per executed order under the account's schedule, shared over the order's fills
    by value (fills grouped as for Indian contract notes: order id, side, symbol, IST day)."""
    try:
        schedule = ch.schedule_from_dict(stored)
    except ValueError:
        return {row["id"]: NO_CHARGES for row in rows}
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[(*_order_key(row), ch.ist_trade_date(row["executed_at"]))].append(row)
    result: dict[uuid.UUID, ExecutionCharges] = {}
    for fills in grouped.values():
        quantities = [Decimal(f["quantity"]) for f in fills]
        values = [q * Decimal(f["price"]) for q, f in zip(quantities, fills, strict=True)]
        quantity = sum(quantities, _ZERO)
        with localcontext() as context:
            context.prec = 60  # the order's value must come back exact from quantity x price
            price = values[0] / quantities[0] if len(fills) == 1 else sum(values, _ZERO) / quantity
        derivative = _segment(fills[0]) in (ch.Segment.FUTURES, ch.Segment.OPTIONS)
        order = ch.CommissionOrder(quantity=quantity, price=price, derivative=derivative)
        charges = ch.estimate_commission(order, schedule)
        parts = (
            (charges,)
            if len(fills) == 1
            else ch.allocate_by_weights(charges, values if any(values) else quantities, schedule.quantum)
        )
        for f, part in zip(fills, parts, strict=True):
            result[f["id"]] = ExecutionCharges(part.total, "estimated", lines_of(part))
    return result


def _segment(row: dict[str, Any]) -> ch.Segment:
    if row["segment"] == "futures":
        return ch.Segment.FUTURES
    if row["segment"] == "options":
        return ch.Segment.OPTIONS
    if row["segment"] == "equity":
        return ch.Segment.EQUITY
    try:
        parsed = instruments.parse_symbol(row["symbol"], exchange=row["exchange"])
    except ValueError:
        return ch.Segment.EQUITY
    return _SEGMENTS.get(parsed.segment, ch.Segment.EQUITY)


Charges = Mapping[Any, ExecutionCharges]  # by execution id


def plans_of(accounts: Mapping[uuid.UUID, Mapping[str, Any]]) -> dict[uuid.UUID, str]:
    return {a: settings.get("brokerage_plan") or "zerodha" for a, settings in accounts.items()}


def schedules_of(accounts: Mapping[uuid.UUID, Mapping[str, Any]]) -> dict[uuid.UUID, Mapping[str, Any]]:
    """Each account's commission schedule (stored form), for the accounts that have one."""
    return {a: s["commission_schedule"] for a, s in accounts.items() if s.get("commission_schedule")}


def charges_of(
    rows: Sequence[dict[str, Any]], accounts: Mapping[uuid.UUID, Mapping[str, Any]]
) -> dict[uuid.UUID, ExecutionCharges]:
    """``execution_charges`` with each account's settings (see repository.account_settings)."""
    return execution_charges(rows, plans_of(accounts), schedules_of(accounts))


@dataclass
class Book:
    """A user's round trips with the charges behind them: each trade's charges source, each
    execution's charges, and the parts of the fills that two trades share."""

    trades: list[RoundTrip]
    sources: dict[uuid.UUID, TradeChargesSource]
    charges: Charges
    # (trade id, execution id) -> that trade's part of a shared fill's lines
    shares: dict[tuple[uuid.UUID, Any], Lines | None] = field(default_factory=dict)

    def leg_lines(self, trade: RoundTrip, execution_id: Any) -> Lines | None:
        key = (trade.id, execution_id)
        if key in self.shares:
            return self.shares[key]
        return self.charges[execution_id].lines

    def breakdown(self, trade: RoundTrip) -> Lines:
        """The trade's charges by line: its legs' summed (LINE_NAMES order; {} with none known)."""
        legs = trade.legs
        shares, charges = self.shares, self.charges
        shared = shares and any((trade.id, leg.execution_id) in shares for leg in legs)
        total: Lines = {}
        reorder = False
        for leg in legs:
            lines = self.leg_lines(trade, leg.execution_id) if shared else charges[leg.execution_id].lines
            if not lines:
                continue
            if not total:
                total = dict(lines)
                continue
            for name, amount in lines.items():
                if name in total:
                    total[name] += amount
                else:
                    total[name] = amount
                    reorder = True  # a line the earlier legs lacked: back to contract-note order
        if reorder:
            return {name: total[name] for name in ch.LINE_NAMES if name in total}
        return total


def book(
    rows: Sequence[dict[str, Any]],
    accounts: Mapping[uuid.UUID, Mapping[str, Any]] | None = None,
    charges: Charges | None = None,
) -> Book:
    """The user's trades from their executions, with their charges. ``accounts`` (see
    repository.account_settings) gives each account's brokerage plan, commission schedule and
    long-only flag: in a long-only account a sell beyond the position held is an ``unmatched``
    trade, never a short. ``charges`` of each execution, when already known (the stored projection
    keeps them: they depend on every execution of the account's trading day, not only on the
    instrument's)."""
    accounts = accounts or {}
    long_only_accounts = {a for a, settings in accounts.items() if settings.get("long_only")}
    known: Charges = charges_of(rows, accounts) if charges is None else charges
    quantities: dict[Any, Decimal] = {}
    fills = []
    for row in rows:
        quantity = Decimal(row["quantity"])
        quantities[row["id"]] = quantity
        fills.append(
            Fill(
                execution_id=row["id"],
                account_id=row["account_id"],
                symbol=f"{row['exchange']}:{row['symbol']}",
                side=_SIDES.get(row["side"]) or Side(row["side"]),
                quantity=quantity,
                price=Decimal(row["price"]),
                executed_at=row["executed_at"],
                charges=known[row["id"]].total,
                broker_trade_id=row["broker_trade_id"],
            )
        )
    trades = build_round_trips(fills, long_only_accounts=long_only_accounts)
    result = Book(trades, {}, known)
    _share_fills(result, quantities)
    sources = result.sources
    for trade in result.trades:
        legs = trade.legs
        first = known[legs[0].execution_id].source
        if len(legs) == 1 or all(known[leg.execution_id].source == first for leg in legs):
            sources[trade.id] = first
        else:
            sources[trade.id] = "mixed"
    return result


def _share_fills(result: Book, quantities: Mapping[Any, Decimal]) -> None:
    """Split the charges of each fill that two trades share (a flip through zero, or a long-only
    sell beyond the position) pro rata by quantity, line by line, to the paisa (finer only when
    the fill's amounts are finer), the closing part first; the trades' charges follow."""
    parts: dict[Any, list[tuple[int, int]]] = defaultdict(list)  # execution -> (trade, leg) indexes
    for t, trade in enumerate(result.trades):
        for i, leg in enumerate(trade.legs):
            if leg.quantity != quantities[leg.execution_id]:
                parts[leg.execution_id].append((t, i))
    if not parts:
        return
    changed: dict[int, dict[int, Decimal]] = defaultdict(dict)  # trade -> leg -> its charges
    for execution_id, places in parts.items():
        places.sort(key=lambda p: result.trades[p[0]].legs[p[1]].role != LegRole.CLOSE)
        lines = result.charges[execution_id].lines
        shared = [result.trades[t].legs[i] for t, i in places]
        if not lines:
            for t, _ in places:
                result.shares[(result.trades[t].id, execution_id)] = None
            continue
        shares = _split(lines, [leg.quantity for leg in shared])
        for (t, i), share in zip(places, shares, strict=True):
            result.shares[(result.trades[t].id, execution_id)] = share
            changed[t][i] = sum(share.values(), _ZERO)
    for t, amounts in changed.items():
        trade = result.trades[t]
        legs = tuple(leg._replace(charges=amounts[i]) if i in amounts else leg for i, leg in enumerate(trade.legs))
        total = sum((leg.charges for leg in legs), _ZERO)
        net = None if trade.gross_pnl is None else trade.gross_pnl - total
        result.trades[t] = replace(trade, legs=legs, charges=total, net_pnl=net)


def _split(lines: Lines, weights: list[Decimal]) -> list[Lines]:
    exponents = [amount.as_tuple().exponent for amount in lines.values()]
    finest = min([-2, *(e for e in exponents if isinstance(e, int))])
    whole = ch.ChargeBreakdown(source="broker").with_lines(**lines)
    return [dict(part.lines()) for part in ch.allocate_by_weights(whole, weights, Decimal(1).scaleb(finest))]


def round_trips(
    rows: Sequence[dict[str, Any]],
    accounts: Mapping[uuid.UUID, Mapping[str, Any]] | None = None,
    charges: Charges | None = None,
) -> tuple[list[RoundTrip], dict[uuid.UUID, TradeChargesSource]]:
    """The user's trades from their executions, and each trade's charges source (see ``book``)."""
    result = book(rows, accounts, charges)
    return result.trades, result.sources


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
    trade: RoundTrip,
    source: TradeChargesSource,
    annotation: dict[str, Any] | None = None,
    *,
    legs: bool = False,
    charges: Book | None = None,
) -> dict[str, Any]:
    """The trade as the API shows it; with ``charges`` (the book it came from), its charge
    breakdown (and each leg's, with ``legs``)."""
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
        "charges_breakdown": {} if charges is None else _amounts(charges.breakdown(trade)),
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
                "charges_source": None if charges is None else charges.charges[leg.execution_id].source,
                "charges_breakdown": {} if charges is None else _amounts(charges.leg_lines(trade, leg.execution_id)),
            }
            for leg in trade.legs
        ]
    return body


def _amounts(lines: Lines | None) -> dict[str, str]:
    return {name: str(amount) for name, amount in (lines or {}).items()}


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
