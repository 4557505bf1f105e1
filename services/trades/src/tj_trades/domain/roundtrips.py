"""The round-trip engine: turns an account's executions into trades, flat to flat, matched FIFO.

A pure function of the *set* of fills: the same fills give the same trades, with the same ids,
whatever order they arrive in. Conventions (also in docs/metrics.md):

- Grouping: one position per (account_id, symbol). The symbol is the instrument key; callers that
  want NSE and BSE fills of one stock in one position give them the same symbol.
- Order: fills are sorted by ``executed_at`` (an instant), then by broker trade id (numerically when
  it is all digits; fills without one come after those with one), then by execution id.
- A trade runs from flat to flat. Scale-ins and partial exits stay in the trade. A fill that goes
  through zero is split: the part that flattens closes the trade, the rest opens the next one.
- ``quantity`` is the total quantity entered (the sum of the opening legs); ``max_position`` is
  the largest absolute position reached. Both are in units; ``multiplier`` turns price into money.
- Gross P&L is realised FIFO: each exit is matched against the oldest open lots. For a closed trade
  it equals (exit value - entry value) * multiplier for a long and the inverse for a short.
- A fill's charges are split pro rata by quantity when the fill is split; the closing part is
  rounded to 1e-8 and the opening part takes the remainder, so the parts add up exactly.
- A trade's id is uuid5 of its first execution id: an execution opens at most one trade, so the id
  is unique, and recomputing from the same fills keeps it.
- In a long-only account a sell with nothing to close is not a short: it becomes an ``unmatched``
  record (no entry, no P&L) that statistics leave out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from enum import StrEnum
from hashlib import sha1
from operator import attrgetter
from typing import NamedTuple
from uuid import UUID

# One buy/sell vocabulary for the whole domain (the charges engine defines it).
from tj_trades.domain.charges.segments import Side as Side

TRADE_ID_NAMESPACE = UUID("d8ddc9bb-fff7-4cc8-b325-2e7ca4abe4e8")

# Allocated charges and average prices are stored as NUMERIC(20, 8).
QUANTUM = Decimal("1E-8")

# Wide enough that sums of price * quantity never round: P&L must be exact, not 28-digit exact.
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
_ZERO = Decimal(0)

Id = UUID | str
# (time, trade id rank, length, text, execution id: its number when every id is a UUID, else its text)
SortKey = tuple[datetime, int, int, str, str | int]


_SIDES = frozenset(Side)


class TradeSide(StrEnum):
    LONG = "long"
    SHORT = "short"


class TradeStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    UNMATCHED = "unmatched"


class LegRole(StrEnum):
    OPEN = "open"  # adds to the position (entry, scale-in)
    CLOSE = "close"  # reduces the position (exit, scale-out)
    UNMATCHED = "unmatched"  # a long-only account's sell with no position to reduce


# Made once per execution (or trade) of a projection: ``init=False`` and the ``__init__`` below, which
# mypyc compiles (tj_trades._native), where the one dataclasses generates runs interpreted (~1 µs
# a construction). It sets the same fields in the same order, with the same defaults
# (the trades tests' test_dataclass_inits.py holds them together), through object.__setattr__ (frozen).
@dataclass(frozen=True, slots=True, init=False)
class Fill:
    """One execution as the engine needs it. ``quantity`` is unsigned; ``side`` says which way."""

    execution_id: Id
    account_id: Id
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    executed_at: datetime
    charges: Decimal | None = None
    broker_trade_id: str | None = None
    multiplier: Decimal = Decimal(1)

    def __init__(
        self,
        execution_id: Id,
        account_id: Id,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        executed_at: datetime,
        charges: Decimal | None = None,
        broker_trade_id: str | None = None,
        multiplier: Decimal = Decimal(1),
    ) -> None:
        object.__setattr__(self, "execution_id", execution_id)
        object.__setattr__(self, "account_id", account_id)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "executed_at", executed_at)
        object.__setattr__(self, "charges", charges)
        object.__setattr__(self, "broker_trade_id", broker_trade_id)
        object.__setattr__(self, "multiplier", multiplier)


class Leg(NamedTuple):
    """The part of one execution used by one trade (a tuple: the engine makes one per fill part)."""

    execution_id: Id
    role: LegRole
    side: Side
    quantity: Decimal
    price: Decimal
    executed_at: datetime
    charges: Decimal


# Made once per execution (or trade) of a projection: ``init=False`` and the ``__init__`` below, which
# mypyc compiles (tj_trades._native), where the one dataclasses generates runs interpreted (~1 µs
# a construction). It sets the same fields in the same order, with the same defaults
# (the trades tests' test_dataclass_inits.py holds them together), through object.__setattr__ (frozen).
@dataclass(frozen=True, slots=True, init=False)
class RoundTrip:
    """A trade: flat to flat (closed), still running (open), or an unmatched long-only sell.

    For an open trade ``gross_pnl`` is what has been realised so far, ``net_pnl`` subtracts every
    charge paid so far, and ``open_quantity`` is the remaining position. An unmatched record has
    no entry, so its entry price and P&L are None.
    """

    id: UUID
    account_id: Id
    symbol: str
    side: TradeSide
    status: TradeStatus
    opened_at: datetime
    closed_at: datetime | None
    quantity: Decimal
    max_position: Decimal
    open_quantity: Decimal
    average_entry_price: Decimal | None
    average_exit_price: Decimal | None
    gross_pnl: Decimal | None
    charges: Decimal
    net_pnl: Decimal | None
    multiplier: Decimal
    first_execution_id: Id
    legs: tuple[Leg, ...] = field(repr=False)

    def __init__(
        self,
        id: UUID,
        account_id: Id,
        symbol: str,
        side: TradeSide,
        status: TradeStatus,
        opened_at: datetime,
        closed_at: datetime | None,
        quantity: Decimal,
        max_position: Decimal,
        open_quantity: Decimal,
        average_entry_price: Decimal | None,
        average_exit_price: Decimal | None,
        gross_pnl: Decimal | None,
        charges: Decimal,
        net_pnl: Decimal | None,
        multiplier: Decimal,
        first_execution_id: Id,
        legs: tuple[Leg, ...],
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "account_id", account_id)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "opened_at", opened_at)
        object.__setattr__(self, "closed_at", closed_at)
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "max_position", max_position)
        object.__setattr__(self, "open_quantity", open_quantity)
        object.__setattr__(self, "average_entry_price", average_entry_price)
        object.__setattr__(self, "average_exit_price", average_exit_price)
        object.__setattr__(self, "gross_pnl", gross_pnl)
        object.__setattr__(self, "charges", charges)
        object.__setattr__(self, "net_pnl", net_pnl)
        object.__setattr__(self, "multiplier", multiplier)
        object.__setattr__(self, "first_execution_id", first_execution_id)
        object.__setattr__(self, "legs", legs)

    @property
    def holding_time(self) -> timedelta | None:
        if self.status is not TradeStatus.CLOSED or self.closed_at is None:
            return None
        return self.closed_at - self.opened_at


def trade_id_for(first_execution_id: Id, *, unmatched: bool = False) -> UUID:
    """uuid5(TRADE_ID_NAMESPACE, "trade:<id>") (or "unmatched:<id>"), with the namespace's bytes
    made once: a projection names every trade it stores."""
    prefix = "unmatched" if unmatched else "trade"
    digest = sha1(_NAMESPACE_BYTES + f"{prefix}:{first_execution_id}".encode(), usedforsecurity=False).digest()
    return UUID(bytes=digest[:16], version=5)


_NAMESPACE_BYTES = TRADE_ID_NAMESPACE.bytes


def build_round_trips(fills: Iterable[Fill], *, long_only_accounts: Collection[Id] = frozenset()) -> list[RoundTrip]:
    """Every trade made by ``fills``, ordered by each trade's first execution.

    Raises ValueError on a duplicate execution id, a non-positive quantity, a naive timestamp, an
    unknown side or a multiplier that changes within one (account, symbol).
    """
    groups: dict[tuple[str, str], list[Fill]] = {}
    fills = list(fills)
    id_key = id_order(fill.execution_id for fill in fills)
    seen: set[str | int] = set()
    accounts: dict[Id, str] = {}  # each account id as text, made once
    for fill in fills:
        key = id_key(fill.execution_id)
        if key in seen:
            raise ValueError(f"duplicate execution id {fill.execution_id}")
        seen.add(key)
        if fill.side not in _SIDES:
            raise ValueError(f"execution {fill.execution_id}: unknown side {fill.side!r}")
        if not fill.quantity > 0:
            raise ValueError(f"execution {fill.execution_id}: quantity must be positive, got {fill.quantity}")
        if fill.executed_at.tzinfo is None:
            raise ValueError(f"execution {fill.execution_id}: executed_at must be timezone-aware")
        account = accounts.get(fill.account_id)
        if account is None:
            account = accounts[fill.account_id] = str(fill.account_id)
        groups.setdefault((account, fill.symbol), []).append(fill)

    long_only = {str(a) for a in long_only_accounts}
    trades: list[tuple[SortKey, RoundTrip]] = []
    with localcontext(_CONTEXT):
        for (account, _), group in groups.items():
            keyed = sorted(((_sort_key(fill, id_key), fill) for fill in group), key=_first)
            trades.extend(_walk(keyed, account in long_only))
    trades.sort(key=lambda kt: kt[0])
    return [trade for _, trade in trades]


def id_order(ids: Iterable[Id]) -> Callable[[Id], str | int]:
    """What execution ids are told apart and ordered by: their text, or for UUIDs their number,
    which sorts the same (their text is fixed-width lowercase hex) without formatting each one."""
    return _uuid_number if all(isinstance(i, UUID) for i in ids) else str


_uuid_number: Callable[[Id], int] = attrgetter("int")


def _sort_key(fill: Fill, id_key: Callable[[Id], str | int] = str) -> SortKey:
    return (fill.executed_at, *_trade_id_order(fill.broker_trade_id), id_key(fill.execution_id))


def _trade_id_order(tid: str | None) -> tuple[int, int, str]:
    if tid is None or tid == "":
        return 2, 0, ""
    if tid.isdigit():
        # Exchange trade numbers are sequential: compare them as numbers, not as strings.
        text = tid.lstrip("0")
        return 0, len(text), text
    return 1, 0, tid


class _Open:
    """The trade being built for one position."""

    __slots__ = (
        "charges",
        "entry_qty",
        "entry_value",
        "exit_qty",
        "exit_value",
        "first",
        "legs",
        "long",
        "lots",
        "max_position",
        "position",
        "realised",
        "sort_key",
    )

    def __init__(self, long: bool, first: Fill, sort_key: SortKey) -> None:
        self.long = long
        self.first = first
        self.sort_key = sort_key
        self.lots: deque[list[Decimal]] = deque()  # [remaining quantity, price], oldest first
        self.position = _ZERO
        self.max_position = _ZERO
        self.entry_qty = _ZERO
        self.entry_value = _ZERO
        self.exit_qty = _ZERO
        self.exit_value = _ZERO
        self.realised = _ZERO
        self.charges = _ZERO
        self.legs: list[Leg] = []

    def add(self, fill: Fill, qty: Decimal, charges: Decimal) -> None:
        price = fill.price
        self.lots.append([qty, price])
        self.position += qty
        if self.position > self.max_position:
            self.max_position = self.position
        self.entry_qty += qty
        self.entry_value += qty * price
        self.charges += charges
        self.legs.append(Leg(fill.execution_id, LegRole.OPEN, fill.side, qty, price, fill.executed_at, charges))

    def reduce(self, fill: Fill, qty: Decimal, charges: Decimal) -> None:
        price = fill.price
        need = qty
        lots = self.lots
        pnl = _ZERO
        while need:
            lot = lots[0]
            take = lot[0] if lot[0] <= need else need
            pnl += (price - lot[1]) * take
            lot[0] -= take
            need -= take
            if not lot[0]:
                lots.popleft()
        self.realised += pnl if self.long else -pnl
        self.position -= qty
        self.exit_qty += qty
        self.exit_value += qty * price
        self.charges += charges
        self.legs.append(Leg(fill.execution_id, LegRole.CLOSE, fill.side, qty, price, fill.executed_at, charges))

    def finish(self, multiplier: Decimal, closed_at: datetime | None) -> RoundTrip:
        gross = self.realised * multiplier
        first = self.first
        return RoundTrip(
            id=trade_id_for(first.execution_id),
            account_id=first.account_id,
            symbol=first.symbol,
            side=TradeSide.LONG if self.long else TradeSide.SHORT,
            status=TradeStatus.OPEN if closed_at is None else TradeStatus.CLOSED,
            opened_at=first.executed_at,
            closed_at=closed_at,
            quantity=self.entry_qty,
            max_position=self.max_position,
            open_quantity=self.position,
            average_entry_price=(self.entry_value / self.entry_qty).quantize(QUANTUM),
            average_exit_price=(self.exit_value / self.exit_qty).quantize(QUANTUM) if self.exit_qty else None,
            gross_pnl=gross,
            charges=self.charges,
            net_pnl=gross - self.charges,
            multiplier=multiplier,
            first_execution_id=first.execution_id,
            legs=tuple(self.legs),
        )


def _split_charges(charges: Decimal, part: Decimal, whole: Decimal) -> tuple[Decimal, Decimal]:
    """Charges of ``part`` of a fill of ``whole``, and of the rest; the two add up to ``charges``."""
    if part == whole:
        return charges, _ZERO
    first = (charges * part / whole).quantize(QUANTUM)
    return first, charges - first


def _first(item: tuple[SortKey, Fill]) -> SortKey:
    return item[0]


def _walk(group: list[tuple[SortKey, Fill]], long_only: bool) -> list[tuple[SortKey, RoundTrip]]:
    """The trades of one position's fills (each with its sort key), in that order."""
    out: list[tuple[SortKey, RoundTrip]] = []
    multiplier = group[0][1].multiplier
    current: _Open | None = None
    for key, fill in group:
        if fill.multiplier != multiplier:
            raise ValueError(
                f"execution {fill.execution_id}: multiplier {fill.multiplier} differs from {multiplier} "
                f"for {fill.symbol}"
            )
        is_buy = fill.side == Side.BUY
        remaining = fill.quantity
        charges = fill.charges if fill.charges is not None else _ZERO
        if current is not None and current.long != is_buy:
            closing = remaining if remaining <= current.position else current.position
            closing_charges, charges = _split_charges(charges, closing, remaining)
            current.reduce(fill, closing, closing_charges)
            remaining -= closing
            if not current.position:
                out.append((current.sort_key, current.finish(multiplier, fill.executed_at)))
                current = None
        if not remaining:
            continue
        if current is not None:
            current.add(fill, remaining, charges)
        elif is_buy or not long_only:
            current = _Open(is_buy, fill, key)
            current.add(fill, remaining, charges)
        else:
            out.append((key, _unmatched(fill, remaining, charges, multiplier)))
    if current is not None:
        out.append((current.sort_key, current.finish(multiplier, None)))
    return out


def _unmatched(fill: Fill, qty: Decimal, charges: Decimal, multiplier: Decimal) -> RoundTrip:
    return RoundTrip(
        id=trade_id_for(fill.execution_id, unmatched=True),
        account_id=fill.account_id,
        symbol=fill.symbol,
        side=TradeSide.LONG,
        status=TradeStatus.UNMATCHED,
        opened_at=fill.executed_at,
        closed_at=fill.executed_at,
        quantity=qty,
        max_position=_ZERO,
        open_quantity=_ZERO,
        average_entry_price=None,
        average_exit_price=fill.price,
        gross_pnl=None,
        charges=charges,
        net_pnl=None,
        multiplier=multiplier,
        first_execution_id=fill.execution_id,
        legs=(Leg(fill.execution_id, LegRole.UNMATCHED, fill.side, qty, fill.price, fill.executed_at, charges),),
    )
