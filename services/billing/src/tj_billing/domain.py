"""The billing rules, free of I/O: the subscription state machine that never moves backwards,
the order of payment states, and which plan a user holds at a given instant."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

FREE = "free"

# Razorpay subscription statuses by how far along their life they are. A status of a lower rank
# never replaces a higher one; within the middle rank (the subscription is running) the later
# event wins; the terminal rank is never left.
SUBSCRIPTION_RANK: dict[str, int] = {
    "created": 0,
    "authenticated": 1,
    "active": 2,
    "pending": 2,
    "halted": 2,
    "paused": 2,
    "cancelled": 3,
    "completed": 3,
    "expired": 3,
}
DUNNING = frozenset({"pending", "halted"})
# Ended or paused: the plan holds until the end of the period already paid for.
PAID_UNTIL_PERIOD_END = frozenset({"cancelled", "completed", "paused", "expired"})
# Statuses in which a user may not start a second subscription.
LIVE = frozenset({"authenticated", "active", "pending", "halted", "paused"})

# Payments: a later state never goes back (a late `payment.authorized` after `captured`).
PAYMENT_RANK: dict[str, int] = {"created": 0, "authorized": 1, "failed": 2, "captured": 3, "refunded": 4}


def subscription_rank(status: str) -> int:
    return SUBSCRIPTION_RANK.get(status, -1)


@dataclass(frozen=True)
class SubscriptionState:
    plan_id: str
    status: str
    current_start: datetime | None = None
    current_end: datetime | None = None
    paid_count: int = 0
    ended_at: datetime | None = None
    dunning_since: datetime | None = None
    status_event_at: datetime | None = None
    cancel_at_cycle_end: bool = False


@dataclass(frozen=True)
class SubscriptionUpdate:
    """What one Razorpay subscription entity (from a webhook or a fetch) says, and when."""

    status: str
    event_at: datetime
    plan_id: str | None = None  # our plan id, when the Razorpay plan id is one we know
    current_start: datetime | None = None
    current_end: datetime | None = None
    paid_count: int = 0
    ended_at: datetime | None = None


def apply_subscription_update(state: SubscriptionState, update: SubscriptionUpdate) -> tuple[SubscriptionState, bool]:
    """The state after ``update``, and whether its status was taken (False: stale or replayed).

    The billing period only ever moves forward (a late `charged` carries an older period), so it
    is taken whenever it is newer, even from an event whose status is stale."""
    new = state
    newer_period = update.paid_count > state.paid_count or (
        update.paid_count == state.paid_count
        and update.current_end is not None
        and (state.current_end is None or update.current_end > state.current_end)
    )
    if newer_period:
        new = replace(
            new,
            current_start=update.current_start or new.current_start,
            current_end=update.current_end or new.current_end,
            paid_count=max(update.paid_count, new.paid_count),
        )
    old_rank, rank = subscription_rank(state.status), subscription_rank(update.status)
    if rank < 0 or old_rank == 3 or rank < old_rank:
        return _with_end(new, update, state), False
    if rank == old_rank:
        later = state.status_event_at is None or update.event_at > state.status_event_at
        same_instant_but_further = (
            state.status_event_at is not None
            and update.event_at == state.status_event_at
            and update.paid_count > state.paid_count
        )
        if not (later or same_instant_but_further):
            return _with_end(new, update, state), False
    dunning_since = new.dunning_since
    if update.status in DUNNING and state.status not in DUNNING:
        dunning_since = update.event_at
    elif update.status not in DUNNING:
        dunning_since = None
    new = replace(
        new,
        status=update.status,
        status_event_at=update.event_at,
        dunning_since=dunning_since,
        plan_id=update.plan_id or new.plan_id,
        ended_at=update.ended_at or new.ended_at,
    )
    return new, new.status != state.status or new.plan_id != state.plan_id


def _with_end(new: SubscriptionState, update: SubscriptionUpdate, state: SubscriptionState) -> SubscriptionState:
    if state.status in PAID_UNTIL_PERIOD_END and update.ended_at and new.ended_at is None:
        return replace(new, ended_at=update.ended_at)
    return new


def payment_moves_forward(current: str | None, new: str) -> bool:
    if current is None:
        return True
    return PAYMENT_RANK.get(new, -1) > PAYMENT_RANK.get(current, -1)


@dataclass(frozen=True)
class EffectivePlan:
    """The plan a user holds at an instant, and until when (None: open-ended)."""

    plan_id: str
    status: str  # the status of the subscription behind it; "none" on the free plan
    subscription_id: str | None = None
    valid_until: datetime | None = None

    def same_as(self, other: EffectivePlan) -> bool:
        return (self.plan_id, self.status, self.valid_until) == (other.plan_id, other.status, other.valid_until)


NO_PLAN = EffectivePlan(FREE, "none")


def plan_of_subscription(
    subscription_id: str, state: SubscriptionState, now: datetime, grace: timedelta
) -> EffectivePlan | None:
    """The paid plan ``state`` gives at ``now``, or None if it gives nothing (any more)."""
    if state.status == "active":
        return EffectivePlan(state.plan_id, state.status, subscription_id)
    if state.status in DUNNING:
        until = (state.dunning_since or state.status_event_at or now) + grace
        return EffectivePlan(state.plan_id, state.status, subscription_id, until) if now < until else None
    if state.status in PAID_UNTIL_PERIOD_END:
        end = state.current_end
        return EffectivePlan(state.plan_id, state.status, subscription_id, end) if end and now < end else None
    return None  # created, authenticated: nothing paid yet


def effective_plan(
    subscriptions: Iterable[tuple[str, SubscriptionState]],
    tiers: dict[str, int],
    now: datetime,
    grace: timedelta,
) -> EffectivePlan:
    """The best plan any of a user's subscriptions gives now; Free when none does. When a paid
    period has ended, the status of the most recent subscription stays visible on Free."""
    best: EffectivePlan | None = None
    latest: tuple[datetime, str, SubscriptionState] | None = None
    for subscription_id, state in subscriptions:
        at = state.status_event_at or datetime.min.replace(tzinfo=now.tzinfo)
        if latest is None or at > latest[0]:
            latest = (at, subscription_id, state)
        plan = plan_of_subscription(subscription_id, state, now, grace)
        if plan is None:
            continue
        if best is None or _better(plan, best, tiers):
            best = plan
    if best is not None:
        return best
    if latest is None or subscription_rank(latest[2].status) < 2:
        return NO_PLAN
    return EffectivePlan(FREE, latest[2].status, latest[1])


def _better(a: EffectivePlan, b: EffectivePlan, tiers: dict[str, int]) -> bool:
    if tiers.get(a.plan_id, 0) != tiers.get(b.plan_id, 0):
        return tiers.get(a.plan_id, 0) > tiers.get(b.plan_id, 0)
    if a.valid_until is None or b.valid_until is None:
        return a.valid_until is None and b.valid_until is not None
    return a.valid_until > b.valid_until
