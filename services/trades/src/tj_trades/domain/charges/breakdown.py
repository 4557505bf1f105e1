"""The charge breakdown every order, fill and trade carries, whether estimated or read from the broker's file.

Also: splitting a breakdown pro rata (a fill shared by two round trips) so the parts add up to the
paisa, and building a breakdown from the charges a broker's file reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from operator import attrgetter
from typing import Literal, TypedDict

from tj_common.contracts.trades import CHARGE_LINES
from tj_trades.domain.charges.rounding import PAISA, ZERO, distribute

ChargeSource = Literal["estimated", "broker"]

# The charge lines, in contract-note order (the trades contract's list, which the API and staged
# rows are checked against). `total` is always the sum of the lines that are present.
LINE_NAMES: tuple[str, ...] = CHARGE_LINES


@dataclass(frozen=True, slots=True)
class ChargeBreakdown:
    """Charges of one order, fill or trade, line by line, in the account currency.

    A line is None when it does not apply or was not given: Indian estimates fill the India lines and
    leave `commission` and `regulatory_fees` None; commission schedules do the reverse; a broker's
    file fills only what it carries. `dp` includes the GST on the DP charge (it is debited that way);
    `gst` is the GST on brokerage, exchange charges, SEBI fee (and IPFT where billed).
    `unitemised` is the part of a broker-reported total that its lines do not explain.
    """

    brokerage: Decimal | None = None
    stt: Decimal | None = None
    exchange_txn: Decimal | None = None
    ipft: Decimal | None = None
    sebi: Decimal | None = None
    stamp_duty: Decimal | None = None
    gst: Decimal | None = None
    dp: Decimal | None = None
    commission: Decimal | None = None
    regulatory_fees: Decimal | None = None
    other: Decimal | None = None
    unitemised: Decimal | None = None
    source: ChargeSource = "estimated"
    rates_version: str | None = None
    total: Decimal = field(default=ZERO, init=False)

    def __post_init__(self) -> None:
        # The total is derived, never passed: it cannot drift from its lines.
        object.__setattr__(self, "total", sum([v for v in _line_values(self) if v is not None], ZERO))

    def lines(self) -> list[tuple[str, Decimal]]:
        """The lines that are present, as (name, amount), in contract-note order."""
        return [(name, value) for name, value in zip(LINE_NAMES, _line_values(self), strict=True) if value is not None]

    def line(self, name: str) -> Decimal | None:
        if name not in LINE_NAMES:
            raise KeyError(name)
        value: Decimal | None = getattr(self, name)
        return value

    def with_lines(self, **amounts: Decimal | None) -> ChargeBreakdown:
        unknown = set(amounts) - set(LINE_NAMES)
        if unknown:
            raise KeyError(f"unknown charge lines: {sorted(unknown)}")
        return replace(self, **amounts)  # type: ignore[arg-type]


def _line_fields() -> tuple[str, ...]:
    names = tuple(f.name for f in fields(ChargeBreakdown) if f.name in LINE_NAMES)
    if set(names) != set(LINE_NAMES):  # pragma: no cover - guards a future edit of the dataclass
        raise AssertionError("LINE_NAMES out of step with ChargeBreakdown")
    return names


_line_fields()
# Every line's value (None where absent) in LINE_NAMES order, in one call: a breakdown is made for
# every order and fill the projection prices, and getattr name by name was a tenth of its time.
_line_values: Callable[[ChargeBreakdown], tuple[Decimal | None, ...]] = attrgetter(*LINE_NAMES)


def allocate_by_weights(
    breakdown: ChargeBreakdown, weights: Sequence[Decimal], quantum: Decimal = PAISA
) -> tuple[ChargeBreakdown, ...]:
    """Split a breakdown into len(weights) parts, pro rata, each line summing exactly to the whole.

    Each line is split on its own by largest remainder in `quantum` units (paise by default), so every
    line of the parts adds up to that line of the whole, and so do the totals. Lines that are None stay
    None in every part; source and rates version carry over.
    """
    if not weights:
        raise ValueError("need at least one part")
    per_line: dict[str, list[Decimal]] = {}
    for name, amount in breakdown.lines():
        per_line[name] = distribute(amount, weights, quantum)
    parts: list[ChargeBreakdown] = []
    for i in range(len(weights)):
        amounts: dict[str, Decimal | None] = dict.fromkeys(LINE_NAMES)
        for name, split in per_line.items():
            amounts[name] = split[i]
        parts.append(breakdown.with_lines(**amounts))
    return tuple(parts)


def allocate(
    breakdown: ChargeBreakdown, fraction: Decimal, quantum: Decimal = PAISA
) -> tuple[ChargeBreakdown, ChargeBreakdown]:
    """Split a fill's charges between two round trips: `fraction` of them, and the rest.

    `fraction` is the share of the fill that belongs to the first round trip (its quantity over the
    fill's quantity), between 0 and 1. part + rest == breakdown, line by line, to the paisa.
    """
    if not ZERO <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    part, rest = allocate_by_weights(breakdown, [fraction, 1 - fraction], quantum)
    return part, rest


def sum_breakdowns(breakdowns: Iterable[ChargeBreakdown], *, source: ChargeSource | None = None) -> ChargeBreakdown:
    """Line-by-line sum; a line is present in the sum when it is present in any part.

    The source is the parts' common source (or `source` if given); mixing sources without naming one
    is refused, since a trade must say which kind of charges it used.
    """
    items = list(breakdowns)
    sources = {b.source for b in items}
    if source is None and len(sources) > 1:
        raise ValueError("cannot sum estimated and broker charges without naming the result's source")
    result_source: ChargeSource = source if source is not None else next(iter(sources), "estimated")
    versions = {b.rates_version for b in items}
    amounts: dict[str, Decimal | None] = dict.fromkeys(LINE_NAMES)
    for b in items:
        for name, value in b.lines():
            current = amounts[name]
            amounts[name] = value if current is None else current + value
    return ChargeBreakdown(
        source=result_source, rates_version=versions.pop() if len(versions) == 1 else None
    ).with_lines(**amounts)


class BrokerChargeLines(TypedDict, total=False):
    """Whichever charge lines a broker's file carries for one fill or order (any subset)."""

    brokerage: Decimal
    stt: Decimal
    exchange_txn: Decimal
    ipft: Decimal
    sebi: Decimal
    stamp_duty: Decimal
    gst: Decimal
    dp: Decimal
    commission: Decimal
    regulatory_fees: Decimal
    other: Decimal


def broker_charges(lines: BrokerChargeLines | None = None, *, total: Decimal | None = None) -> ChargeBreakdown:
    """The charges exactly as the broker's file gives them: source "broker", nothing invented.

    Give the lines the file has, a single total, or both. With both, whatever the total holds beyond
    the lines is kept as `unitemised`; a total smaller than its lines is refused as inconsistent.
    Brokers that report fees as negative cash (IBKR's Commission column) must be sign-flipped by the
    parser: here a positive amount is a cost, a negative one a rebate.
    """
    raw: Mapping[str, object] = lines or {}
    unknown = set(raw) - set(LINE_NAMES)
    if unknown:
        raise KeyError(f"unknown charge lines: {sorted(unknown)}")
    given: dict[str, Decimal | None] = {}
    for name, value in raw.items():
        # A float from a spreadsheet cell must be converted (via str) by the parser, not here.
        if not isinstance(value, Decimal):
            raise TypeError(f"broker charge {name} must be a Decimal, got {type(value).__name__}")
        given[name] = value
    if not given and total is None:
        raise ValueError("broker charges need at least one line or a total")
    breakdown = ChargeBreakdown(source="broker").with_lines(**given)
    if total is None:
        return breakdown
    if given:
        rest = total - breakdown.total
        if rest < 0:
            raise ValueError(f"broker total {total} is less than the sum of its lines {breakdown.total}")
        return breakdown.with_lines(unitemised=rest) if rest else breakdown
    return breakdown.with_lines(unitemised=total)


def choose_charges(broker: ChargeBreakdown | None, estimated: ChargeBreakdown) -> ChargeBreakdown:
    """The broker's charges when the file carried any, else the estimate: the result's `source` says which."""
    return broker if broker is not None else estimated
