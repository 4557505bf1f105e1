"""Estimated charges of Indian orders, computed and rounded the way a contract note does.

The unit of pricing is the *executed order* (all fills sharing an order id; a fill without one is
its own order): brokerage is per executed order. The unit of rounding is the *contract note*: all
orders of one account on one trading day. On a note:

- brokerage is worked out per order and rounded to the paisa;
- STT is summed per scrip (exchange + instrument) and rounded per the plan: to the nearest rupee
  (the statutory contract-note rule Zerodha follows) or to the paisa;
- exchange transaction charges, IPFT, SEBI fee and stamp duty are summed per note column (exchange
  * cash / derivatives / currency) and rounded once, to the paisa;
- GST is 18 % of the column's *rounded* brokerage + exchange charges + SEBI fee (+ IPFT if the
  broker bills GST on it), rounded to the paisa;
- the DP charge (+ GST) is due once per scrip per day with an equity delivery sell.

Each note-level amount is then shared back over its orders by largest remainder in paise, weighted by
the orders' unrounded amounts, so the orders' breakdowns add up exactly to the note. All half-way
cases round up. Every amount is a Decimal; nothing here does I/O beyond reading the packaged tables.

Conventions: `quantity` is what the exchange counts (shares; F&O units with the lot size already in
it, e.g. 75 for one NIFTY lot); `multiplier` scales price * quantity into rupees and is 1 for Indian
equity and F&O (e.g. 1000 for a currency future quoted per dollar but counted in lots of $1,000).
Options are priced on premium. An exercised option is recorded as the holder's closing SELL at the
intrinsic value per unit: it bears STT at the exercised rate on that value and nothing else (no
brokerage, exchange charges or stamp duty); the assigned writer's closing BUY bears nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from tj_trades.domain.charges.breakdown import ChargeBreakdown, allocate_by_weights, sum_breakdowns
from tj_trades.domain.charges.plans import BrokeragePlan, SttRounding, zerodha_plan
from tj_trades.domain.charges.rates import IndiaRates, IndiaRateTable, RatesUnavailableError, india_rate_table
from tj_trades.domain.charges.rounding import PAISA, RUPEE, ZERO, distribute, round_half_up
from tj_trades.domain.charges.segments import (
    ChargeClass,
    Exchange,
    Product,
    Segment,
    Side,
    charge_class,
    note_column,
)

IST = timezone(timedelta(hours=5, minutes=30), "IST")
_ONE = Decimal(1)


def ist_trade_date(executed_at: datetime) -> date:
    """The Indian trade date of an execution time (which must carry its offset)."""
    if executed_at.tzinfo is None or executed_at.utcoffset() is None:
        raise ValueError("execution time must be timezone-aware")
    return executed_at.astimezone(IST).date()


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of an order: the broker's trade id, quantity and price."""

    fill_id: str
    quantity: Decimal
    price: Decimal

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"fill {self.fill_id}: quantity must be positive")
        if self.price < 0:
            raise ValueError(f"fill {self.fill_id}: price must not be negative")


@dataclass(frozen=True, slots=True)
class ExecutedOrder:
    """An executed order on an Indian exchange: the fills that share an order id.

    `instrument` names the scrip or contract (symbol or ISIN, one spelling per scrip: STT, DP and the
    intraday inference group by it). `product` is the equity product when the file says it; leave it
    None to let the contract note infer it. `underlying` matters only where an exchange prices some
    options differently (BSE SENSEX and BANKEX). `trade_date` is the IST date (`ist_trade_date`).
    """

    order_id: str
    instrument: str
    exchange: Exchange
    segment: Segment
    side: Side
    trade_date: date
    fills: tuple[Fill, ...]
    product: Product | None = None
    multiplier: Decimal = _ONE
    underlying: str | None = None
    exercised: bool = False

    def __post_init__(self) -> None:
        if not self.fills:
            raise ValueError(f"order {self.order_id}: no fills")
        if self.multiplier <= 0:
            raise ValueError(f"order {self.order_id}: multiplier must be positive")
        if len(self.fills) > 1 and len({f.fill_id for f in self.fills}) != len(self.fills):
            raise ValueError(f"order {self.order_id}: fill ids must be unique")
        if self.exercised and self.segment is not Segment.OPTIONS:
            # Currency options bear no STT on exercise: price them as ordinary orders.
            raise ValueError(f"order {self.order_id}: only equity options are recorded as exercised")
        if self.product is not None and self.segment is not Segment.EQUITY:
            # NRML/MIS on F&O changes nothing in the charges: do not let it pretend to.
            raise ValueError(f"order {self.order_id}: product applies to equity only")

    @classmethod
    def of(
        cls,
        *,
        order_id: str,
        instrument: str,
        exchange: Exchange,
        segment: Segment,
        side: Side,
        trade_date: date,
        quantity: Decimal,
        price: Decimal,
        product: Product | None = None,
        multiplier: Decimal = _ONE,
        underlying: str | None = None,
        exercised: bool = False,
    ) -> ExecutedOrder:
        """An order of one fill (whose id is the order id)."""
        return cls(
            order_id=order_id,
            instrument=instrument,
            exchange=exchange,
            segment=segment,
            side=side,
            trade_date=trade_date,
            fills=(Fill(order_id, quantity, price),),
            product=product,
            multiplier=multiplier,
            underlying=underlying,
            exercised=exercised,
        )

    @property
    def quantity(self) -> Decimal:
        return sum((f.quantity for f in self.fills), ZERO)

    @property
    def turnover(self) -> Decimal:
        """Σ quantity * price * multiplier over the fills (premium for options, intrinsic value if exercised)."""
        return sum((f.quantity * f.price for f in self.fills), ZERO) * self.multiplier

    @property
    def scrip(self) -> tuple[Exchange, str]:
        return (self.exchange, self.instrument)


@dataclass(frozen=True, slots=True)
class PricedOrder:
    """An order with its estimated charges and how its product was settled."""

    order: ExecutedOrder
    charges: ChargeBreakdown
    # Equity only: the share of the order priced as intraday (the rest as delivery).
    intraday_fraction: Decimal
    product_inferred: bool


@dataclass(frozen=True, slots=True)
class ContractNote:
    """Estimated charges of one account's orders on one trading day."""

    trade_date: date
    rates_version: str
    orders: tuple[PricedOrder, ...]
    total: ChargeBreakdown


# --- the engine ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Raw:
    """An order's unrounded amounts, before the note rounds and shares them back."""

    brokerage: Decimal = ZERO
    stt: Decimal = ZERO
    exchange_txn: Decimal = ZERO
    ipft: Decimal = ZERO
    sebi: Decimal = ZERO
    stamp_duty: Decimal = ZERO
    delivery_sell_quantity: Decimal = ZERO


def _intraday_fractions(orders: Sequence[ExecutedOrder]) -> list[tuple[Decimal, bool]]:
    """Per order: the share priced as intraday, and whether that was inferred.

    Equity orders without a product are matched per scrip within the day: the quantity both bought
    and sold that day (the smaller of the two sides) is intraday, shared over each side's orders in
    proportion to their quantity; the rest is delivery.
    """
    bought: dict[tuple[Exchange, str], Decimal] = defaultdict(lambda: ZERO)
    sold: dict[tuple[Exchange, str], Decimal] = defaultdict(lambda: ZERO)
    for o in orders:
        if o.segment is Segment.EQUITY and o.product is None:
            (bought if o.side is Side.BUY else sold)[o.scrip] += o.quantity
    result: list[tuple[Decimal, bool]] = []
    for o in orders:
        if o.segment is not Segment.EQUITY:
            result.append((ZERO, False))
        elif o.product is not None:
            result.append((_ONE if o.product is Product.INTRADAY else ZERO, False))
        else:
            matched = min(bought[o.scrip], sold[o.scrip])
            side_total = bought[o.scrip] if o.side is Side.BUY else sold[o.scrip]
            result.append((matched / side_total, True))
    return result


def _legs(order: ExecutedOrder, intraday_fraction: Decimal) -> list[tuple[ChargeClass, Decimal]]:
    """The charge classes an order is priced under, with the share of the order in each."""
    if order.segment is not Segment.EQUITY:
        return [(charge_class(order.segment, None), _ONE)]
    legs: list[tuple[ChargeClass, Decimal]] = []
    if intraday_fraction > 0:
        legs.append((ChargeClass.EQUITY_INTRADAY, intraday_fraction))
    if intraday_fraction < 1:
        legs.append((ChargeClass.EQUITY_DELIVERY, _ONE - intraday_fraction))
    return legs


def _raw_amounts(order: ExecutedOrder, intraday_fraction: Decimal, plan: BrokeragePlan, rates: IndiaRates) -> _Raw:
    turnover = order.turnover
    if order.exercised:
        # STT on the intrinsic value, due from the holder; no trade on the exchange, so nothing else.
        stt = rates.stt.options_exercised * turnover if order.side is Side.SELL else ZERO
        return _Raw(brokerage=round_half_up(ZERO), stt=stt)
    raw = _Raw()
    for cls, share in _legs(order, intraday_fraction):
        leg_turnover = turnover * share
        raw.brokerage += plan.rule(cls).charge(leg_turnover, share)
        stt_rates = rates.stt.by_class[cls]
        raw.stt += (stt_rates.buy if order.side is Side.BUY else stt_rates.sell) * leg_turnover
        if order.side is Side.BUY:
            raw.stamp_duty += rates.stamp_duty[cls] * leg_turnover
        elif cls is ChargeClass.EQUITY_DELIVERY:
            raw.delivery_sell_quantity += order.quantity * share
    raw.exchange_txn = rates.exchange_txn.rate(order.exchange, order.segment, order.underlying) * turnover
    raw.ipft = rates.ipft.rate(order.exchange, order.segment, order.underlying) * turnover
    raw.sebi = rates.sebi * turnover
    # Brokerage is billed per executed order, so it is rounded per order before anything sums it.
    raw.brokerage = round_half_up(raw.brokerage)
    return raw


def _share_back(
    groups: dict[object, list[int]], amount_of: Sequence[Decimal], quantum: Decimal, out: list[Decimal]
) -> None:
    """Round each group's sum to `quantum` and share it over the group's orders by largest remainder."""
    for members in groups.values():
        weights = [amount_of[i] for i in members]
        total = round_half_up(sum(weights, ZERO), quantum)
        for i, part in zip(members, distribute(total, weights), strict=True):
            out[i] = part


def estimate_contract_note(
    orders: Sequence[ExecutedOrder],
    plan: BrokeragePlan | None = None,
    rates: IndiaRateTable | None = None,
) -> ContractNote:
    """Charges of all orders of one account on one trading day, rounded as the contract note rounds them.

    The plan defaults to Zerodha's and the rates to the packaged table. Returns each order's
    breakdown (source "estimated", summing exactly to the note) and the note's total.
    """
    version, priced = _price_note(orders, plan, rates)
    return ContractNote(
        trade_date=orders[0].trade_date,
        rates_version=version,
        orders=priced,
        total=sum_breakdowns(p.charges for p in priced),
    )


def _price_note(
    orders: Sequence[ExecutedOrder], plan: BrokeragePlan | None, rates: IndiaRateTable | None
) -> tuple[str, tuple[PricedOrder, ...]]:
    """:func:`estimate_contract_note` but for the note's total (which the callers that want the
    orders' charges only need not pay for): the rates version and the priced orders."""
    if not orders:
        raise ValueError("a contract note needs at least one order")
    day = orders[0].trade_date
    if any(o.trade_date != day for o in orders):
        raise ValueError("a contract note covers one trading day: group orders by trade date first")
    plan = plan or zerodha_plan()
    table = rates or india_rate_table()
    in_force = table.on(day)

    fractions = _intraday_fractions(orders)
    raws = [_raw_amounts(o, f, plan, in_force) for o, (f, _) in zip(orders, fractions, strict=True)]
    n = len(orders)

    by_scrip: dict[object, list[int]] = defaultdict(list)
    by_column: dict[object, list[int]] = defaultdict(list)
    for i, o in enumerate(orders):
        by_scrip[o.scrip].append(i)
        by_column[(o.exchange, note_column(o.segment))].append(i)

    stt = [ZERO] * n
    stt_quantum = RUPEE if plan.stt_rounding is SttRounding.RUPEE_PER_SCRIP else PAISA
    _share_back(by_scrip, [r.stt for r in raws], stt_quantum, stt)

    exchange_txn, ipft, sebi, stamp = ([ZERO] * n for _ in range(4))
    _share_back(by_column, [r.exchange_txn for r in raws], PAISA, exchange_txn)
    _share_back(by_column, [r.ipft for r in raws], PAISA, ipft)
    _share_back(by_column, [r.sebi for r in raws], PAISA, sebi)
    _share_back(by_column, [r.stamp_duty for r in raws], PAISA, stamp)

    # GST is charged on the note's rounded lines, per column, then shared by each order's taxable base.
    gst_base = [
        raws[i].brokerage + exchange_txn[i] + sebi[i] + (ipft[i] if plan.gst_on_ipft else ZERO) for i in range(n)
    ]
    gst = [ZERO] * n
    for members in by_column.values():
        weights = [gst_base[i] for i in members]
        total = round_half_up(in_force.gst * sum(weights, ZERO))
        for i, part in zip(members, distribute(total, weights), strict=True):
            gst[i] = part

    dp = _dp_charges(orders, raws, plan, in_force)

    priced: list[PricedOrder] = []
    for i, o in enumerate(orders):
        breakdown = ChargeBreakdown(
            brokerage=raws[i].brokerage,
            stt=stt[i],
            exchange_txn=exchange_txn[i],
            ipft=ipft[i],
            sebi=sebi[i],
            stamp_duty=stamp[i],
            gst=gst[i],
            dp=dp[i],
            source="estimated",
            rates_version=in_force.version,
        )
        fraction, inferred = fractions[i]
        priced.append(PricedOrder(order=o, charges=breakdown, intraday_fraction=fraction, product_inferred=inferred))
    return in_force.version, tuple(priced)


def _dp_charges(
    orders: Sequence[ExecutedOrder], raws: Sequence[_Raw], plan: BrokeragePlan, rates: IndiaRates
) -> list[Decimal]:
    """DP charge (with its GST) once per scrip sold out of the demat that day, shared by quantity sold."""
    per_scrip = plan.dp_charge_per_scrip if plan.dp_charge_per_scrip is not None else rates.dp.per_scrip
    with_gst = round_half_up(per_scrip * (_ONE + rates.gst) if rates.dp.gst_applies else per_scrip)
    # The depository debits per security, whichever exchange it was sold on.
    sellers: dict[object, list[int]] = defaultdict(list)
    for i, o in enumerate(orders):
        if raws[i].delivery_sell_quantity > 0:
            sellers[o.instrument].append(i)
    dp = [ZERO.quantize(PAISA)] * len(orders)
    for members in sellers.values():
        weights = [raws[i].delivery_sell_quantity for i in members]
        for i, part in zip(members, distribute(with_gst, weights), strict=True):
            dp[i] = part
    return dp


def estimate_order_charges(
    order: ExecutedOrder,
    plan: BrokeragePlan | None = None,
    rates: IndiaRateTable | None = None,
) -> ChargeBreakdown:
    """Charges of one order as if it were the only order on its contract note.

    Per-day rules (STT rounding per scrip, DP per scrip, the intraday inference) need the whole day:
    use `estimate_contract_note` or `estimate_orders` when there is more than one order. An equity
    order without a product has nothing to match here and is priced as delivery.
    """
    return _price_note([order], plan, rates)[1][0].charges


def estimate_orders(
    orders: Iterable[ExecutedOrder],
    plan: BrokeragePlan | None = None,
    rates: IndiaRateTable | None = None,
) -> tuple[PricedOrder, ...]:
    """Charges of one account's orders over any span of days: one contract note per trade date.

    The result is in the same order as the input.
    """
    items = list(orders)
    by_day: dict[date, list[int]] = defaultdict(list)
    for i, o in enumerate(items):
        by_day[o.trade_date].append(i)
    result: list[PricedOrder | None] = [None] * len(items)
    for members in by_day.values():
        _, priced = _price_note([items[i] for i in members], plan, rates)
        for i, p in zip(members, priced, strict=True):
            result[i] = p
    return tuple(p for p in result if p is not None)


def estimate_orders_where_known(
    orders: Iterable[ExecutedOrder],
    plan: BrokeragePlan | None = None,
    rates: IndiaRateTable | None = None,
) -> list[PricedOrder | None]:
    """Like `estimate_orders`, but a trading day the rate table does not cover (before its first
    version) leaves that day's orders None instead of failing every day."""
    items = list(orders)
    by_day: dict[date, list[int]] = defaultdict(list)
    for i, o in enumerate(items):
        by_day[o.trade_date].append(i)
    result: list[PricedOrder | None] = [None] * len(items)
    for members in by_day.values():
        try:
            _, priced = _price_note([items[i] for i in members], plan, rates)
        except RatesUnavailableError:
            continue
        for i, p in zip(members, priced, strict=True):
            result[i] = p
    return result


def charges_per_fill(order: ExecutedOrder, charges: ChargeBreakdown) -> dict[str, ChargeBreakdown]:
    """An order's charges shared over its fills by turnover (by quantity if it had none), to the paisa."""
    weights = [f.quantity * f.price for f in order.fills]
    if not any(weights):
        weights = [f.quantity for f in order.fills]
    parts = allocate_by_weights(charges, weights)
    return {f.fill_id: part for f, part in zip(order.fills, parts, strict=True)}


__all__ = [
    "IST",
    "ContractNote",
    "ExecutedOrder",
    "Fill",
    "PricedOrder",
    "charges_per_fill",
    "estimate_contract_note",
    "estimate_order_charges",
    "estimate_orders",
    "ist_trade_date",
]
