"""All of billing's SQL: plans, subscriptions, payments, refunds, invoices, webhook deliveries and
users' plans. Callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tj_billing.domain import EffectivePlan, SubscriptionState
from tj_billing.models import invoices, payments, plans, refunds, subscriptions, user_plans, webhook_deliveries
from tj_common.contracts.billing import Entitlements


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    tier: int
    period: str | None
    price_paise: int
    currency: str
    entitlements: Entitlements


async def all_plans(session: AsyncSession) -> dict[str, Plan]:
    rows = (
        await session.execute(select(plans).where(plans.c.active).order_by(plans.c.tier, plans.c.price_paise))
    ).all()
    return {
        r.id: Plan(
            r.id, r.name, r.tier, r.period, r.price_paise, r.currency, Entitlements.model_validate(r.entitlements)
        )
        for r in rows
    }


# -- subscriptions ------------------------------------------------------------------------------
def state_of(row: Any) -> SubscriptionState:
    return SubscriptionState(
        plan_id=row.plan_id,
        status=row.status,
        current_start=row.current_start,
        current_end=row.current_end,
        paid_count=row.paid_count,
        ended_at=row.ended_at,
        dunning_since=row.dunning_since,
        status_event_at=row.status_event_at,
        cancel_at_cycle_end=row.cancel_at_cycle_end,
    )


async def subscription(session: AsyncSession, subscription_id: str, *, lock: bool = False) -> Any | None:
    query = select(subscriptions).where(subscriptions.c.id == subscription_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def subscription_of_command(session: AsyncSession, command_id: uuid.UUID) -> Any | None:
    return (await session.execute(select(subscriptions).where(subscriptions.c.command_id == command_id))).first()


async def subscriptions_of_user(session: AsyncSession, user_id: uuid.UUID) -> list[Any]:
    query = (
        select(subscriptions)
        .where(subscriptions.c.user_id == user_id)
        .order_by(subscriptions.c.created_at.desc(), subscriptions.c.id)
    )
    return list((await session.execute(query)).all())


async def insert_subscription(session: AsyncSession, values: dict[str, Any]) -> Any:
    stmt = pg_insert(subscriptions).values(**values).on_conflict_do_nothing(index_elements=[subscriptions.c.id])
    await session.execute(stmt)
    row = await subscription(session, values["id"])
    assert row is not None
    return row


async def save_state(session: AsyncSession, subscription_id: str, state: SubscriptionState) -> None:
    await session.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id)
        .values(
            plan_id=state.plan_id,
            status=state.status,
            current_start=state.current_start,
            current_end=state.current_end,
            paid_count=state.paid_count,
            ended_at=state.ended_at,
            dunning_since=state.dunning_since,
            status_event_at=state.status_event_at,
            cancel_at_cycle_end=state.cancel_at_cycle_end,
            updated_at=func.now(),
        )
    )


# -- payments, refunds, invoices -----------------------------------------------------------------
async def payment(session: AsyncSession, payment_id: str, *, lock: bool = False) -> Any | None:
    query = select(payments).where(payments.c.id == payment_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def insert_payment(session: AsyncSession, values: dict[str, Any]) -> bool:
    stmt = pg_insert(payments).values(**values).on_conflict_do_nothing(index_elements=[payments.c.id])
    return bool((await session.execute(stmt.returning(payments.c.id))).first())


async def update_payment(session: AsyncSession, payment_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(payments).where(payments.c.id == payment_id).values(**values, updated_at=func.now()))


async def insert_refund(session: AsyncSession, values: dict[str, Any]) -> bool:
    stmt = pg_insert(refunds).values(**values).on_conflict_do_nothing(index_elements=[refunds.c.id])
    return bool((await session.execute(stmt.returning(refunds.c.id))).first())


async def refunded_total(session: AsyncSession, payment_id: str) -> int:
    total = (
        await session.execute(
            select(func.coalesce(func.sum(refunds.c.amount_paise), 0)).where(refunds.c.payment_id == payment_id)
        )
    ).scalar_one()
    return int(total)


async def invoice(session: AsyncSession, invoice_id: str, *, lock: bool = False) -> Any | None:
    query = select(invoices).where(invoices.c.id == invoice_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def upsert_invoice(session: AsyncSession, values: dict[str, Any]) -> None:
    stmt = pg_insert(invoices).values(**values)
    # A paid invoice stays paid; ids learnt later (user, payment) fill the gaps.
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[invoices.c.id],
            set_={
                "status": case((invoices.c.status == "paid", "paid"), else_=stmt.excluded.status),
                "amount_paid_paise": func.greatest(invoices.c.amount_paid_paise, stmt.excluded.amount_paid_paise),
                "paid_at": func.coalesce(invoices.c.paid_at, stmt.excluded.paid_at),
                "payment_id": func.coalesce(invoices.c.payment_id, stmt.excluded.payment_id),
                "user_id": func.coalesce(invoices.c.user_id, stmt.excluded.user_id),
            },
        )
    )


async def claim_payments_for(
    session: AsyncSession, user_id: uuid.UUID, subscription_id: str | None, payment_ids: Iterable[str]
) -> None:
    """Payments recorded before we knew whose they were get their user (and subscription)."""
    ids = [p for p in payment_ids if p]
    if not ids:
        return
    await session.execute(
        update(payments)
        .where(payments.c.id.in_(ids), payments.c.user_id.is_(None))
        .values(user_id=user_id, subscription_id=func.coalesce(payments.c.subscription_id, subscription_id))
    )


# -- webhook deliveries --------------------------------------------------------------------------
async def claim_delivery(
    session: AsyncSession,
    event_id: str,
    event: str,
    entity_id: str | None,
    event_at: datetime | None,
    received_at: datetime,
) -> bool:
    """Records a delivery; False when this event id was handled before (a repeat)."""
    stmt = (
        pg_insert(webhook_deliveries)
        .values(
            event_id=event_id,
            event=event,
            entity_id=entity_id,
            outcome="applied",
            event_created_at=event_at,
            received_at=received_at,
        )
        .on_conflict_do_nothing(index_elements=[webhook_deliveries.c.event_id])
        .returning(webhook_deliveries.c.event_id)
    )
    return (await session.execute(stmt)).first() is not None


async def set_delivery_outcome(session: AsyncSession, event_id: str, outcome: str) -> None:
    await session.execute(
        update(webhook_deliveries).where(webhook_deliveries.c.event_id == event_id).values(outcome=outcome)
    )


# -- users' plans --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredPlan:
    plan: EffectivePlan
    version: int


async def stored_plan(session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False) -> StoredPlan | None:
    query = select(user_plans).where(user_plans.c.user_id == user_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        return None
    return StoredPlan(EffectivePlan(row.plan_id, row.status, row.subscription_id, row.valid_until), row.version)


async def save_plan(session: AsyncSession, user_id: uuid.UUID, plan: EffectivePlan, version: int) -> None:
    values = {
        "user_id": user_id,
        "plan_id": plan.plan_id,
        "status": plan.status,
        "subscription_id": plan.subscription_id,
        "valid_until": plan.valid_until,
        "version": version,
    }
    stmt = pg_insert(user_plans).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[user_plans.c.user_id],
            set_={**{k: stmt.excluded[k] for k in values if k != "user_id"}, "updated_at": func.now()},
        )
    )


async def users_whose_plan_ran_out(session: AsyncSession, now: datetime, limit: int = 500) -> list[uuid.UUID]:
    """Users whose paid period or grace has ended by ``now`` (locked; other replicas skip them)."""
    query = (
        select(user_plans.c.user_id)
        .where(user_plans.c.valid_until.is_not(None), user_plans.c.valid_until <= now)
        .order_by(user_plans.c.valid_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars().all())
