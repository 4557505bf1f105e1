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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from tj_trades.domain.charges.breakdown import (
    LINE_NAMES,
    ChargeBreakdown,
    allocate_by_weights,
    sum_breakdowns,
)
from tj_trades.domain.charges.plans import BrokeragePlan, SttRounding, zerodha_plan
from tj_trades.domain.charges.rates import IndiaRates, IndiaRateTable, RatesUnavailableError, india_rate_table
from tj_trades.domain.charges.rounding import PAISA, RUPEE, ZERO, distribute, round_half_up
from tj_trades.domain.charges.segments import (
    ChargeClass,
    Exchange,
    Product,
    Segment,
    Side,
    note_column,
)

IST = timezone(timedelta(hours=5, minutes=30), "IST")
_ONE = Decimal(1)
_PAISA_ZERO = ZERO.quantize(PAISA)
T = TypeVar("T")


_IST_MIDNIGHT_UTC = 18 * 60 + 30  # minutes into the UTC day
_ONE_DAY = timedelta(days=1)


def ist_trade_date(executed_at: datetime) -> date:
    """The Indian trade date of an execution time (which must carry its offset).

    An instant in UTC (as the database driver gives them) is not converted: its UTC date, or the
    next one from 18:30. ~3 times faster, and a large refresh takes it of every execution twice."""
    if executed_at.tzinfo is UTC:
        day = executed_at.date()
        return day if executed_at.hour * 60 + executed_at.minute < _IST_MIDNIGHT_UTC else day + _ONE_DAY
    if executed_at.tzinfo is None or executed_at.utcoffset() is None:
        raise ValueError("execution time must be timezone-aware")
    return executed_at.astimezone(IST).date()


# Made once per execution (or trade) of a projection: ``init=False`` and the ``__init__`` below, which
# mypyc compiles (tj_trades._native), where the one dataclasses generates runs interpreted (~1 µs
# a construction). It sets the same fields in the same order, with the same defaults
# (the trades tests' test_dataclass_inits.py holds them together), through object.__setattr__ (frozen).
@dataclass(frozen=True, slots=True, init=False)
class Fill:
    """One fill of an order: the broker's trade id, quantity and price."""

    fill_id: str
    quantity: Decimal
    price: Decimal

    def __init__(self, fill_id: str, quantity: Decimal, price: Decimal) -> None:
        object.__setattr__(self, "fill_id", fill_id)
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "price", price)
        self.__post_init__()

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"fill {self.fill_id}: quantity must be positive")
        if self.price < 0:
            raise ValueError(f"fill {self.fill_id}: price must not be negative")


# Made once per execution (or trade) of a projection: ``init=False`` and the ``__init__`` below, which
# mypyc compiles (tj_trades._native), where the one dataclasses generates runs interpreted (~1 µs
# a construction). It sets the same fields in the same order, with the same defaults
# (the trades tests' test_dataclass_inits.py holds them together), through object.__setattr__ (frozen).
@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        order_id: str,
        instrument: str,
        exchange: Exchange,
        segment: Segment,
        side: Side,
        trade_date: date,
        fills: tuple[Fill, ...],
        product: Product | None = None,
        multiplier: Decimal = _ONE,
        underlying: str | None = None,
        exercised: bool = False,
    ) -> None:
        object.__setattr__(self, "order_id", order_id)
        object.__setattr__(self, "instrument", instrument)
        object.__setattr__(self, "exchange", exchange)
        object.__setattr__(self, "segment", segment)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "trade_date", trade_date)
        object.__setattr__(self, "fills", fills)
        object.__setattr__(self, "product", product)
        object.__setattr__(self, "multiplier", multiplier)
        object.__setattr__(self, "underlying", underlying)
        object.__setattr__(self, "exercised", exercised)
        self.__post_init__()

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
#
# Written for speed as much as for reading: the projection prices every execution of every day it
# refreshes (a large import: hundreds of thousands), so the per-order work is plain locals and
# lists, with the rates looked up once per note, and breakdown objects are made only for callers
# that ask for them (`note_lines_where_known` gives the bare amounts). The arithmetic is the same Decimal
# operations in the same order as the rules above describe, so every amount, exponent included,
# is what a literal reading of them gives.

# An order's charges as the note gives them, in LINE_NAMES order: brokerage, stt, exchange_txn,
# ipft, sebi, stamp_duty, gst, dp.
NoteLines = tuple[Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]
NOTE_LINES = ("brokerage", "stt", "exchange_txn", "ipft", "sebi", "stamp_duty", "gst", "dp")
if LINE_NAMES[: len(NOTE_LINES)] != NOTE_LINES:  # pragma: no cover - guards a future edit of the lines
    raise AssertionError("NOTE_LINES out of step with LINE_NAMES")
_CLASS_OF_SEGMENT = {s: ChargeClass(s.value) for s in Segment if s is not Segment.EQUITY}
_NOTE_COLUMN = {s: note_column(s) for s in Segment}


def _quantity(order: ExecutedOrder) -> Decimal:
    fills = order.fills
    if len(fills) == 1:
        return ZERO + fills[0].quantity  # as sum() gives it: the same exponent
    return sum((f.quantity for f in fills), ZERO)


def _intraday_fractions(orders: Sequence[ExecutedOrder], quantities: Sequence[Decimal]) -> list[tuple[Decimal, bool]]:
    """Per order: the share priced as intraday, and whether that was inferred.

    Equity orders without a product are matched per scrip within the day: the quantity both bought
    and sold that day (the smaller of the two sides) is intraday, shared over each side's orders in
    proportion to their quantity; the rest is delivery.
    """
    bought: dict[tuple[Exchange, str], Decimal] = defaultdict(lambda: ZERO)
    sold: dict[tuple[Exchange, str], Decimal] = defaultdict(lambda: ZERO)
    for o, q in zip(orders, quantities, strict=True):
        if o.segment is Segment.EQUITY and o.product is None:
            (bought if o.side is Side.BUY else sold)[(o.exchange, o.instrument)] += q
    result: list[tuple[Decimal, bool]] = []
    for o in orders:
        if o.segment is not Segment.EQUITY:
            result.append((ZERO, False))
        elif o.product is not None:
            result.append((_ONE if o.product is Product.INTRADAY else ZERO, False))
        else:
            scrip = (o.exchange, o.instrument)
            matched = min(bought[scrip], sold[scrip])
            side_total = bought[scrip] if o.side is Side.BUY else sold[scrip]
            result.append((matched / side_total, True))
    return result


def _legs(order: ExecutedOrder, intraday_fraction: Decimal) -> list[tuple[ChargeClass, Decimal]]:
    """The charge classes an order is priced under, with the share of the order in each."""
    if order.segment is not Segment.EQUITY:
        return [(_CLASS_OF_SEGMENT[order.segment], _ONE)]
    if intraday_fraction == 1:
        return [(ChargeClass.EQUITY_INTRADAY, intraday_fraction)]
    if intraday_fraction == 0:
        return [(ChargeClass.EQUITY_DELIVERY, _ONE - intraday_fraction)]
    return [(ChargeClass.EQUITY_INTRADAY, intraday_fraction), (ChargeClass.EQUITY_DELIVERY, _ONE - intraday_fraction)]


class _Note:
    """One note's unrounded amounts, order by order (parallel lists), before rounding and sharing."""

    __slots__ = ("brokerage", "delivery_sell_quantity", "exchange_txn", "ipft", "sebi", "stamp_duty", "stt")

    def __init__(self) -> None:
        self.brokerage: list[Decimal] = []
        self.stt: list[Decimal] = []
        self.exchange_txn: list[Decimal] = []
        self.ipft: list[Decimal] = []
        self.sebi: list[Decimal] = []
        self.stamp_duty: list[Decimal] = []
        self.delivery_sell_quantity: list[Decimal] = []


def _raw_amounts(
    orders: Sequence[ExecutedOrder],
    quantities: Sequence[Decimal],
    fractions: Sequence[tuple[Decimal, bool]],
    plan: BrokeragePlan,
    rates: IndiaRates,
) -> _Note:
    """Each order's unrounded amounts; brokerage is billed per executed order, so it is rounded
    per order before anything sums it. An exercised option bears STT on its intrinsic value (the
    holder's) and nothing else: no trade on the exchange."""
    note = _Note()
    brokerages, stts, exchange_txns, ipfts = note.brokerage, note.stt, note.exchange_txn, note.ipft
    sebis, stamps, delivery_sells = note.sebi, note.stamp_duty, note.delivery_sell_quantity
    sebi_rate, stt_by_class, stamp_by_class = rates.sebi, rates.stt.by_class, rates.stamp_duty
    rules = plan.rules
    exchange_rates: dict[tuple[Exchange, Segment, str | None], tuple[Decimal, Decimal]] = {}
    paisa_up = PAISA
    for order, quantity, (fraction, _) in zip(orders, quantities, fractions, strict=True):
        fills = order.fills
        if len(fills) == 1:
            turnover = (ZERO + fills[0].quantity * fills[0].price) * order.multiplier
        else:
            turnover = sum((f.quantity * f.price for f in fills), ZERO) * order.multiplier
        sell = order.side is Side.SELL
        if order.exercised:
            brokerages.append(ZERO.quantize(paisa_up, rounding=ROUND_HALF_UP))
            stts.append(rates.stt.options_exercised * turnover if sell else ZERO)
            exchange_txns.append(ZERO)
            ipfts.append(ZERO)
            sebis.append(ZERO)
            stamps.append(ZERO)
            delivery_sells.append(ZERO)
            continue
        brokerage = stt = stamp = delivery_sell = ZERO
        for cls, share in _legs(order, fraction):
            leg_turnover = turnover * share
            brokerage += rules[cls].charge(leg_turnover, share)
            side_rates = stt_by_class[cls]
            if sell:
                stt += side_rates.sell * leg_turnover
                if cls is ChargeClass.EQUITY_DELIVERY:
                    delivery_sell += quantity * share
            else:
                stt += side_rates.buy * leg_turnover
                stamp += stamp_by_class[cls] * leg_turnover
        key = (order.exchange, order.segment, order.underlying)
        pair = exchange_rates.get(key)
        if pair is None:
            pair = exchange_rates[key] = (rates.exchange_txn.rate(*key), rates.ipft.rate(*key))
        brokerages.append(brokerage.quantize(paisa_up, rounding=ROUND_HALF_UP))
        stts.append(stt)
        exchange_txns.append(pair[0] * turnover)
        ipfts.append(pair[1] * turnover)
        sebis.append(sebi_rate * turnover)
        stamps.append(stamp)
        delivery_sells.append(delivery_sell)
    return note


def _share_back(
    groups: dict[object, list[int]], amount_of: Sequence[Decimal], quantum: Decimal, out: list[Decimal]
) -> None:
    """Round each group's sum to `quantum` and share it over the group's orders by largest remainder
    in paise."""
    for members in groups.values():
        if len(members) == 1 and amount_of[members[0]] >= 0:
            # What distribute() gives one part: the rounded amount as a whole number of paise.
            i = members[0]
            out[i] = int((ZERO + amount_of[i]).quantize(quantum, rounding=ROUND_HALF_UP) / PAISA) * PAISA
            continue
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
    version, lines, fractions = _note_lines(orders, plan, rates)
    priced: list[PricedOrder] = []
    for o, amounts, (fraction, inferred) in zip(orders, lines, fractions, strict=True):
        brokerage, stt, exchange_txn, ipft, sebi, stamp, gst, dp = amounts
        breakdown = ChargeBreakdown(
            brokerage=brokerage,
            stt=stt,
            exchange_txn=exchange_txn,
            ipft=ipft,
            sebi=sebi,
            stamp_duty=stamp,
            gst=gst,
            dp=dp,
            source="estimated",
            rates_version=version,
        )
        priced.append(PricedOrder(order=o, charges=breakdown, intraday_fraction=fraction, product_inferred=inferred))
    return version, tuple(priced)


def _note_lines(
    orders: Sequence[ExecutedOrder], plan: BrokeragePlan | None, rates: IndiaRateTable | None
) -> tuple[str, list[NoteLines], list[tuple[Decimal, bool]]]:
    if not orders:
        raise ValueError("a contract note needs at least one order")
    day = orders[0].trade_date
    if any(o.trade_date != day for o in orders):
        raise ValueError("a contract note covers one trading day: group orders by trade date first")
    plan = plan or zerodha_plan()
    table = rates or india_rate_table()
    in_force = table.on(day)

    quantities = [_quantity(o) for o in orders]
    fractions = _intraday_fractions(orders, quantities)
    raw = _raw_amounts(orders, quantities, fractions, plan, in_force)
    n = len(orders)

    by_scrip: dict[object, list[int]] = defaultdict(list)
    by_column: dict[object, list[int]] = defaultdict(list)
    for i, o in enumerate(orders):
        by_scrip[(o.exchange, o.instrument)].append(i)
        by_column[(o.exchange, _NOTE_COLUMN[o.segment])].append(i)

    stt = [ZERO] * n
    stt_quantum = RUPEE if plan.stt_rounding is SttRounding.RUPEE_PER_SCRIP else PAISA
    _share_back(by_scrip, raw.stt, stt_quantum, stt)

    exchange_txn, ipft, sebi, stamp = ([ZERO] * n for _ in range(4))
    _share_back(by_column, raw.exchange_txn, PAISA, exchange_txn)
    _share_back(by_column, raw.ipft, PAISA, ipft)
    _share_back(by_column, raw.sebi, PAISA, sebi)
    _share_back(by_column, raw.stamp_duty, PAISA, stamp)

    # GST is charged on the note's rounded lines, per column, then shared by each order's taxable base.
    brokerage = raw.brokerage
    if plan.gst_on_ipft:
        gst_base = [brokerage[i] + exchange_txn[i] + sebi[i] + ipft[i] for i in range(n)]
    else:
        gst_base = [brokerage[i] + exchange_txn[i] + sebi[i] + ZERO for i in range(n)]
    gst = [ZERO] * n
    for members in by_column.values():
        weights = [gst_base[i] for i in members]
        total = round_half_up(in_force.gst * sum(weights, ZERO))
        for i, part in zip(members, distribute(total, weights), strict=True):
            gst[i] = part

    dp = _dp_charges(orders, raw.delivery_sell_quantity, plan, in_force)
    lines = list(zip(brokerage, stt, exchange_txn, ipft, sebi, stamp, gst, dp, strict=True))
    return in_force.version, lines, fractions


def _dp_charges(
    orders: Sequence[ExecutedOrder], delivery_sells: Sequence[Decimal], plan: BrokeragePlan, rates: IndiaRates
) -> list[Decimal]:
    """DP charge (with its GST) once per scrip sold out of the demat that day, shared by quantity sold."""
    dp = [_PAISA_ZERO] * len(orders)
    if not any(delivery_sells):
        return dp
    per_scrip = plan.dp_charge_per_scrip if plan.dp_charge_per_scrip is not None else rates.dp.per_scrip
    with_gst = round_half_up(per_scrip * (_ONE + rates.gst) if rates.dp.gst_applies else per_scrip)
    # The depository debits per security, whichever exchange it was sold on.
    sellers: dict[object, list[int]] = defaultdict(list)
    for i, o in enumerate(orders):
        if delivery_sells[i] > 0:
            sellers[o.instrument].append(i)
    for members in sellers.values():
        weights = [delivery_sells[i] for i in members]
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


def _per_note(
    orders: Iterable[ExecutedOrder],
    price: Callable[[list[ExecutedOrder]], Sequence[T]],
    *,
    where_known: bool,
) -> list[T | None]:
    """``price`` applied to each trading day's orders (one contract note per trade date), each
    result back at its order's place. With ``where_known``, a day the rate table does not cover
    (before its first version) leaves that day's orders None instead of failing every day."""
    items = list(orders)
    by_day: dict[date, list[int]] = defaultdict(list)
    for i, o in enumerate(items):
        by_day[o.trade_date].append(i)
    result: list[T | None] = [None] * len(items)
    for members in by_day.values():
        try:
            priced = price([items[i] for i in members])
        except RatesUnavailableError:
            if not where_known:
                raise
            continue
        for i, p in zip(members, priced, strict=True):
            result[i] = p
    return result


def estimate_orders(
    orders: Iterable[ExecutedOrder],
    plan: BrokeragePlan | None = None,
    rates: IndiaRateTable | None = None,
) -> tuple[PricedOrder, ...]:
    """Charges of one account's orders over any span of days: one contract note per trade date.

    The result is in the same order as the input.
    """
    priced = _per_note(orders, lambda note: _price_note(note, plan, rates)[1], where_known=False)
    return tuple(p for p in priced if p is not None)


def estimate_orders_where_known(
    orders: Iterable[ExecutedOrder],
    plan: BrokeragePlan | None = None,
    rates: IndiaRateTable | None = None,
) -> list[PricedOrder | None]:
    """Like `estimate_orders`, but a trading day the rate table does not cover (before its first
    version) leaves that day's orders None instead of failing every day."""
    return _per_note(orders, lambda note: _price_note(note, plan, rates)[1], where_known=True)


def note_lines_where_known(
    orders: Iterable[ExecutedOrder],
    plan: BrokeragePlan | None = None,
    rates: IndiaRateTable | None = None,
) -> list[tuple[str, NoteLines] | None]:
    """The bare amounts of :func:`estimate_orders_where_known` (see ``NoteLines``), without the
    breakdown objects (their total is the sum of the eight, in that order): in the order of the
    input, each order's rates version and lines, None on a day the rate table does not cover."""

    def price(note: list[ExecutedOrder]) -> list[tuple[str, NoteLines]]:
        version, lines, _ = _note_lines(note, plan, rates)
        return [(version, amounts) for amounts in lines]

    return _per_note(orders, price, where_known=True)


def charges_per_fill(order: ExecutedOrder, charges: ChargeBreakdown) -> dict[str, ChargeBreakdown]:
    """An order's charges shared over its fills by turnover (by quantity if it had none), to the paisa."""
    weights = [f.quantity * f.price for f in order.fills]
    if not any(weights):
        weights = [f.quantity for f in order.fills]
    parts = allocate_by_weights(charges, weights)
    return {f.fill_id: part for f, part in zip(order.fills, parts, strict=True)}


__all__ = [
    "IST",
    "NOTE_LINES",
    "ContractNote",
    "ExecutedOrder",
    "Fill",
    "PricedOrder",
    "charges_per_fill",
    "estimate_contract_note",
    "estimate_order_charges",
    "estimate_orders",
    "ist_trade_date",
    "note_lines_where_known",
]
