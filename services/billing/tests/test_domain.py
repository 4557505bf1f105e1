"""The billing rules without I/O: the subscription never moves backwards whatever the order of
Razorpay's events, payments only move forward, and the plan a user holds at an instant."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tj_billing.domain import (
    NO_PLAN,
    SubscriptionState,
    SubscriptionUpdate,
    apply_subscription_update,
    effective_plan,
    payment_moves_forward,
)

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
MONTH = timedelta(days=30)
GRACE = timedelta(days=3)
TIERS = {"free": 0, "pro_monthly": 1, "pro_yearly": 1, "elite_monthly": 2, "elite_yearly": 2}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# A subscription's life as Razorpay reports it: (status, minute, paid_count, period end).
LIFE = [
    ("authenticated", 1, 0, None),
    ("active", 2, 0, T0 + MONTH),  # activated
    ("active", 3, 1, T0 + MONTH),  # charged
    ("pending", 4, 1, T0 + MONTH),
    ("halted", 5, 1, T0 + MONTH),
    ("active", 6, 2, T0 + 2 * MONTH),  # charged again: recovered
    ("paused", 7, 2, T0 + 2 * MONTH),
    ("active", 8, 2, T0 + 2 * MONTH),  # resumed
    ("cancelled", 9, 2, T0 + 2 * MONTH),
]


def update(status: str, minute: int, paid: int, end: datetime | None) -> SubscriptionUpdate:
    start = (end - MONTH) if end else None
    return SubscriptionUpdate(status=status, event_at=at(minute), current_end=end, current_start=start, paid_count=paid)


def run(events: list[tuple[str, int, int, datetime | None]]) -> SubscriptionState:
    state = SubscriptionState(plan_id="pro_monthly", status="created")
    for event in events:
        state, _ = apply_subscription_update(state, update(*event))
    return state


def test_in_order_the_life_ends_cancelled_with_the_last_period() -> None:
    state = run(LIFE)
    assert state.status == "cancelled"
    assert state.paid_count == 2
    assert state.current_end == T0 + 2 * MONTH
    assert state.dunning_since is None


@given(st.permutations(LIFE), st.lists(st.sampled_from(LIFE), max_size=6))
def test_any_order_and_any_replays_end_in_the_same_state(order: list, replays: list) -> None:
    assert run([*order, *replays]) == run(LIFE)


def test_a_late_event_never_moves_it_backwards() -> None:
    state = run(LIFE[:3])  # active, charged once
    for late in (LIFE[0], LIFE[1]):
        new, taken = apply_subscription_update(state, update(*late))
        assert not taken
        assert new == state
    cancelled = run(LIFE)
    for event in LIFE[:-1]:
        new, taken = apply_subscription_update(cancelled, update(*event))
        assert not taken
        assert new.status == "cancelled"


def test_a_late_charge_still_advances_nothing_it_should_not() -> None:
    # An older charge (paid_count 1) after a newer one (2): the period stays the newer one.
    state = run([LIFE[1], LIFE[5]])
    new, _ = apply_subscription_update(state, update(*LIFE[2]))
    assert new.current_end == T0 + 2 * MONTH
    assert new.paid_count == 2


def test_dunning_starts_once_and_ends_when_active_again() -> None:
    state = run(LIFE[:5])  # pending then halted
    assert state.status == "halted"
    assert state.dunning_since == at(4)  # since pending, not halted
    assert run(LIFE[:6]).dunning_since is None


def test_payments_only_move_forward() -> None:
    assert payment_moves_forward(None, "authorized")
    assert payment_moves_forward("authorized", "captured")
    assert payment_moves_forward("captured", "refunded")
    assert not payment_moves_forward("captured", "authorized")
    assert not payment_moves_forward("refunded", "captured")
    assert not payment_moves_forward("captured", "captured")
    assert not payment_moves_forward("captured", "failed")


def plan_at(events: list, now: datetime, sub_id: str = "sub_1") -> tuple[str, str, datetime | None]:
    result = effective_plan([(sub_id, run(events))], TIERS, now, GRACE)
    return result.plan_id, result.status, result.valid_until


def test_the_plan_through_a_life() -> None:
    assert effective_plan([], TIERS, T0, GRACE) == NO_PLAN
    assert plan_at(LIFE[:1], at(1)) == ("free", "none", None)  # authenticated: nothing paid yet
    assert plan_at(LIFE[:3], at(3)) == ("pro_monthly", "active", None)
    # Dunning: the plan holds for the grace period from the first failure, then Free.
    assert plan_at(LIFE[:5], at(5)) == ("pro_monthly", "halted", at(4) + GRACE)
    assert plan_at(LIFE[:5], at(4) + GRACE) == ("free", "halted", None)
    # Cancelled: until the end of what was paid for, then Free.
    assert plan_at(LIFE, at(10)) == ("pro_monthly", "cancelled", T0 + 2 * MONTH)
    assert plan_at(LIFE, T0 + 2 * MONTH) == ("free", "cancelled", None)
    # Paused: likewise until the paid period ends.
    assert plan_at(LIFE[:7], at(8)) == ("pro_monthly", "paused", T0 + 2 * MONTH)


def test_the_best_of_several_subscriptions_wins() -> None:
    pro = run(LIFE[:3])
    elite_cancelled = SubscriptionState(
        plan_id="elite_monthly", status="cancelled", current_end=T0 + MONTH, status_event_at=at(5), paid_count=1
    )
    result = effective_plan([("sub_pro", pro), ("sub_elite", elite_cancelled)], TIERS, at(10), GRACE)
    assert (result.plan_id, result.subscription_id) == ("elite_monthly", "sub_elite")
    later = effective_plan([("sub_pro", pro), ("sub_elite", elite_cancelled)], TIERS, T0 + MONTH, GRACE)
    assert (later.plan_id, later.subscription_id, later.valid_until) == ("pro_monthly", "sub_pro", None)


def test_every_ordering_of_a_short_life_gives_one_answer() -> None:
    short = [LIFE[0], LIFE[1], LIFE[2], LIFE[8]]
    answers = {run(list(order)) for order in itertools.permutations(short)}
    assert len(answers) == 1
