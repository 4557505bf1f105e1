"""All SQL of the trades service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tj_trades.models import accounts, executions

DEFAULT_ACCOUNT = "Default"

EXECUTION_COLUMNS = (
    executions.c.id,
    executions.c.account_id,
    executions.c.symbol,
    executions.c.exchange,
    executions.c.segment,
    executions.c.side,
    executions.c.quantity,
    executions.c.price,
    executions.c.executed_at,
    executions.c.fees,
    executions.c.currency,
    executions.c.broker_trade_id,
    executions.c.broker_order_id,
    executions.c.product,
    executions.c.recorded_at,
)


async def account_of_user(session: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID) -> uuid.UUID | None:
    row = (
        await session.execute(
            select(accounts.c.id).where(and_(accounts.c.id == account_id, accounts.c.user_id == user_id))
        )
    ).first()
    return row.id if row else None


async def default_account(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    """The user's default account, created on first use."""
    await session.execute(
        pg_insert(accounts)
        .values(id=uuid.uuid4(), user_id=user_id, name=DEFAULT_ACCOUNT)
        .on_conflict_do_nothing(constraint="uq_accounts_user_name")
    )
    account_id: uuid.UUID = (
        await session.execute(
            select(accounts.c.id).where(and_(accounts.c.user_id == user_id, accounts.c.name == DEFAULT_ACCOUNT))
        )
    ).scalar_one()
    return account_id


async def insert_executions(session: AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = await session.execute(executions.insert().returning(*EXECUTION_COLUMNS), rows)
    return [dict(r._mapping) for r in result.all()]


async def executions_of_command(session: AsyncSession, command_id: uuid.UUID) -> list[dict[str, Any]]:
    result = await session.execute(
        select(*EXECUTION_COLUMNS)
        .where(executions.c.command_id == command_id)
        .order_by(executions.c.executed_at, executions.c.id)
    )
    return [dict(r._mapping) for r in result.all()]


async def list_executions(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    account_id: uuid.UUID | None,
    symbol: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first, keyset-paginated on (executed_at, id)."""
    query = select(*EXECUTION_COLUMNS).where(executions.c.user_id == user_id)
    if account_id:
        query = query.where(executions.c.account_id == account_id)
    if symbol:
        query = query.where(executions.c.symbol == symbol.upper())
    if since:
        query = query.where(executions.c.executed_at >= since)
    if until:
        query = query.where(executions.c.executed_at < until)
    if after:
        at, last_id = after
        query = query.where(
            or_(executions.c.executed_at < at, and_(executions.c.executed_at == at, executions.c.id < last_id))
        )
    query = query.order_by(executions.c.executed_at.desc(), executions.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in (await session.execute(query)).all()]
