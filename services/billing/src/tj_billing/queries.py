"""Billing's internal query API (DESIGN §2): plans, a user's subscription, payments, invoices and
entitlements, for the gateway (which adds authentication and caching). Plans are evaluated at read
time, so an ended paid period reads as Free even before the sweep has announced it."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tj_billing import repository
from tj_billing.domain import effective_plan
from tj_billing.handlers import Billing, subscription_body
from tj_billing.models import invoices, payments, user_plans
from tj_common.contracts.billing import EntitlementsChanged
from tj_common.errors import BadRequest
from tj_common.runtime import Runtime

router = APIRouter(prefix="/internal", tags=["internal"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _billing(request: Request) -> Billing:
    billing: Billing = request.app.state.billing
    return billing


def rupees(paise: int) -> str:
    return str((Decimal(paise) / 100).quantize(Decimal("0.01")))


def plan_body(plan: repository.Plan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "name": plan.name,
        "period": plan.period,
        "price": rupees(plan.price_paise),
        "price_paise": plan.price_paise,
        "currency": plan.currency,
        "entitlements": plan.entitlements.model_dump(mode="json"),
    }


@router.get("/plans")
async def list_plans(request: Request) -> dict[str, Any]:
    async with _runtime(request).sessionmaker() as session:
        plans = await _billing(request).plans(session)
    return {"items": [plan_body(p) for p in plans.values()]}


async def entitlements_of(session: AsyncSession, billing: Billing, user_id: uuid.UUID) -> EntitlementsChanged:
    plans = await billing.plans(session)
    rows = await repository.subscriptions_of_user(session, user_id)
    current = effective_plan(
        ((r.id, repository.state_of(r)) for r in rows),
        {p.id: p.tier for p in plans.values()},
        datetime.now(UTC),
        billing.grace,
    )
    stored = await repository.stored_plan(session, user_id)
    version = stored.version if stored else 0
    if stored is not None and not stored.plan.same_as(current):
        version += 1  # the sweep will announce this version
    plan = plans[current.plan_id]
    return EntitlementsChanged(
        user_id=user_id,
        plan_id=plan.id,
        plan_name=plan.name,
        status=current.status,
        entitlements=plan.entitlements,
        valid_until=current.valid_until,
        version=version,
    )


@router.get("/subscription")
async def user_subscription(request: Request, user_id: uuid.UUID) -> dict[str, Any]:
    billing = _billing(request)
    async with _runtime(request).sessionmaker() as session:
        rows = await repository.subscriptions_of_user(session, user_id)
        plan = await entitlements_of(session, billing, user_id)
    chosen = next((r for r in rows if r.id == _subscription_behind(plan, rows)), rows[0] if rows else None)
    return {
        "subscription": subscription_body(chosen).model_dump(mode="json") if chosen is not None else None,
        "plan": plan.model_dump(mode="json", exclude={"user_id"}),
    }


def _subscription_behind(plan: EntitlementsChanged, rows: list[Any]) -> str | None:
    for row in rows:
        if row.plan_id == plan.plan_id and row.status == plan.status:
            return str(row.id)
    return None


@router.get("/entitlements/{user_id}")
async def user_entitlements(request: Request, user_id: uuid.UUID) -> dict[str, Any]:
    async with _runtime(request).sessionmaker() as session:
        return (await entitlements_of(session, _billing(request), user_id)).model_dump(mode="json")


@router.get("/entitlements")
async def all_entitlements(
    request: Request, cursor: uuid.UUID | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 500
) -> dict[str, Any]:
    """Every user billing knows (everyone else is on Free), to rebuild an entitlements cache."""
    billing = _billing(request)
    async with _runtime(request).sessionmaker() as session:
        query = select(user_plans.c.user_id).order_by(user_plans.c.user_id).limit(limit + 1)
        if cursor is not None:
            query = query.where(user_plans.c.user_id > cursor)
        ids = list((await session.execute(query)).scalars().all())
        items = [(await entitlements_of(session, billing, u)).model_dump(mode="json") for u in ids[:limit]]
    return {"items": items, "next_cursor": str(ids[limit - 1]) if len(ids) > limit else None}


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    if not value:
        return None
    try:
        at, ident = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode().split("|", 1)
        return datetime.fromisoformat(at), ident
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("invalid cursor") from exc


def _next_cursor(at: datetime, ident: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{ident}".encode()).decode().rstrip("=")


@router.get("/payments")
async def list_payments(
    request: Request,
    user_id: uuid.UUID,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    after = _cursor(cursor)
    query = select(payments).where(payments.c.user_id == user_id)
    if after is not None:
        query = query.where(
            or_(payments.c.created_at < after[0], and_(payments.c.created_at == after[0], payments.c.id > after[1]))
        )
    query = query.order_by(payments.c.created_at.desc(), payments.c.id).limit(limit + 1)
    async with _runtime(request).sessionmaker() as session:
        rows = (await session.execute(query)).all()
    items = [
        {
            "id": r.id,
            "subscription_id": r.subscription_id,
            "invoice_id": r.invoice_id,
            "amount": rupees(r.amount_paise),
            "amount_refunded": rupees(r.amount_refunded_paise),
            "currency": r.currency,
            "status": r.status,
            "method": r.method,
            "error_code": r.error_code,
            "error_description": r.error_description,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows[:limit]
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": items, "next_cursor": _next_cursor(last.created_at, last.id) if last else None}


@router.get("/invoices")
async def list_invoices(
    request: Request,
    user_id: uuid.UUID,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    after = _cursor(cursor)
    query = select(invoices).where(invoices.c.user_id == user_id)
    if after is not None:
        query = query.where(
            or_(invoices.c.created_at < after[0], and_(invoices.c.created_at == after[0], invoices.c.id > after[1]))
        )
    query = query.order_by(invoices.c.created_at.desc(), invoices.c.id).limit(limit + 1)
    async with _runtime(request).sessionmaker() as session:
        rows = (await session.execute(query)).all()
    items = [
        {
            "id": r.id,
            "subscription_id": r.subscription_id,
            "payment_id": r.payment_id,
            "status": r.status,
            "amount": rupees(r.amount_paise),
            "amount_paid": rupees(r.amount_paid_paise),
            "currency": r.currency,
            "billing_start": r.billing_start.isoformat() if r.billing_start else None,
            "billing_end": r.billing_end.isoformat() if r.billing_end else None,
            "paid_at": r.paid_at.isoformat() if r.paid_at else None,
            "short_url": r.short_url,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows[:limit]
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": items, "next_cursor": _next_cursor(last.created_at, last.id) if last else None}
