"""Commission schedules for accounts outside India: per share, per contract, per order, percentage, with limits.

An account without broker-reported fees carries one schedule; each executed order gets a breakdown
with a single `commission` line (and `regulatory_fees` at zero: exchange and regulator fees such as
the SEC fee are not estimated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from tj_trades.domain.charges.breakdown import ChargeBreakdown
from tj_trades.domain.charges.rounding import PAISA, ZERO, round_half_up

_HUNDRED = Decimal(100)
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class CommissionOrder:
    """What a commission is computed on: one executed order.

    `quantity` is what the broker counts: shares, or contracts for futures and options;
    `multiplier` turns quantity * price into money (100 for a US equity option, the point value of a
    future, 1 for shares). `derivative` selects the per-contract rate instead of the per-share one.
    """

    quantity: Decimal
    price: Decimal
    multiplier: Decimal = _ONE
    derivative: bool = False

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError("quantity must be positive")
        if self.price < 0 or self.multiplier <= 0:
            raise ValueError("price must not be negative and multiplier must be positive")

    @property
    def value(self) -> Decimal:
        return self.quantity * self.price * self.multiplier


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """Commission of one executed order.

    commission = per_share * shares (or per_contract * contracts) + per_order + pct_of_value % * value,
    then raised to `min_per_order`, then lowered to `max_per_order` and to `max_pct_of_value` % of the
    value (the caps win over the minimum, as IBKR's "min $1, max 1 % of trade value" does), rounded
    half-up to `quantum` (a cent by default; 1 for currencies without minor units).
    """

    per_share: Decimal = ZERO
    per_contract: Decimal = ZERO
    per_order: Decimal = ZERO
    pct_of_value: Decimal = ZERO
    min_per_order: Decimal | None = None
    max_per_order: Decimal | None = None
    max_pct_of_value: Decimal | None = None
    quantum: Decimal = PAISA

    def __post_init__(self) -> None:
        for name in ("per_share", "per_contract", "per_order", "pct_of_value", "min_per_order", "max_per_order"):
            value: Decimal | None = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_pct_of_value is not None and self.max_pct_of_value < 0:
            raise ValueError("max_pct_of_value must not be negative")
        if self.quantum <= 0:
            raise ValueError("quantum must be positive")

    def commission(self, order: CommissionOrder) -> Decimal:
        unit_rate = self.per_contract if order.derivative else self.per_share
        amount = unit_rate * order.quantity + self.per_order + self.pct_of_value / _HUNDRED * order.value
        if self.min_per_order is not None:
            amount = max(amount, self.min_per_order)
        if self.max_per_order is not None:
            amount = min(amount, self.max_per_order)
        if self.max_pct_of_value is not None:
            amount = min(amount, self.max_pct_of_value / _HUNDRED * order.value)
        return round_half_up(amount, self.quantum)


def estimate_commission(order: CommissionOrder, schedule: CommissionSchedule) -> ChargeBreakdown:
    """The estimated charges of one order under an account's commission schedule."""
    return ChargeBreakdown(
        commission=schedule.commission(order),
        regulatory_fees=ZERO.quantize(schedule.quantum),
        source="estimated",
    )


_FIELDS = (
    "per_share",
    "per_contract",
    "per_order",
    "pct_of_value",
    "min_per_order",
    "max_per_order",
    "max_pct_of_value",
    "quantum",
)


def schedule_from_dict(raw: Mapping[str, object]) -> CommissionSchedule:
    """A schedule from its stored form (amounts as strings or Decimals, never floats)."""
    unknown = set(raw) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown commission schedule keys: {sorted(unknown)}")
    values: dict[str, Decimal] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if isinstance(value, bool | float) or not isinstance(value, int | str | Decimal):
            raise ValueError(f"{name}: expected an exact number, got {value!r}")
        values[name] = Decimal(value)
    return CommissionSchedule(**values)


def schedule_to_dict(schedule: CommissionSchedule) -> dict[str, str]:
    """The stored form of a schedule, JSON-safe; unset limits are left out."""
    out: dict[str, str] = {}
    for name in _FIELDS:
        value: Decimal | None = getattr(schedule, name)
        if value is not None:
            out[name] = str(value)
    return out
