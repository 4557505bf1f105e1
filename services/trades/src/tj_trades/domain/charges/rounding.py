"""Money rounding for charges: half-up to a quantum, and exact pro-rata splits by largest remainder."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

PAISA = Decimal("0.01")
RUPEE = Decimal("1")
ZERO = Decimal("0")


def round_half_up(amount: Decimal, quantum: Decimal = PAISA) -> Decimal:
    """Round as contract notes do: halves go up (away from zero), never to even."""
    return amount.quantize(quantum, rounding=ROUND_HALF_UP)


def distribute(total: Decimal, weights: Sequence[Decimal], quantum: Decimal = PAISA) -> list[Decimal]:
    """Split `total` (a multiple of `quantum`) into parts proportional to `weights` that sum to it exactly.

    Largest-remainder method on whole quanta: every part gets the floor of its share, then the quanta
    left over go one each to the largest fractional remainders (ties to the earlier part), so no part
    is ever more than one quantum from its exact share. With no weight at all the total is split evenly.
    """
    if not weights:
        if total:
            raise ValueError("cannot distribute a non-zero amount over no parts")
        return []
    if min(weights) < 0:
        raise ValueError("weights must not be negative")
    units = total / quantum
    if units != units.to_integral_value():
        raise ValueError(f"{total} is not a multiple of {quantum}")
    sign = -1 if units < 0 else 1
    whole = int(abs(units))
    weight_sum = sum(weights, ZERO)
    effective = weights if weight_sum > 0 else [Decimal(1)] * len(weights)
    effective_sum = weight_sum if weight_sum > 0 else Decimal(len(weights))
    whole_amount = Decimal(whole)
    shares = [whole_amount * w / effective_sum for w in effective]
    floors = list(map(int, shares))  # the shares are not negative: int() is their floor
    left = whole - sum(floors)
    if left:
        remainders = [s - f for s, f in zip(shares, floors, strict=True)]
        # Largest remainder first; a stable sort keeps equal remainders in index order.
        for i in sorted(range(len(shares)), key=remainders.__getitem__, reverse=True)[:left]:
            floors[i] += 1
    if sign > 0:
        return list(map(quantum.__rmul__, floors))
    return [sign * n * quantum for n in floors]
