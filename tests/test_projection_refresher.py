"""The background refresher (tj_trades.projection.Refresher) refreshes a user at most once per
``user_interval`` seconds: a stream of writes is projected in steps, and the other users with
marks are not kept waiting meanwhile."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_trades import projection, repository

START = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)


async def new_account(db: async_sessionmaker[AsyncSession]) -> tuple[uuid.UUID, uuid.UUID]:
    user_id, account_id = uuid.uuid4(), uuid.uuid4()
    async with db() as session, session.begin():
        await session.execute(
            text("INSERT INTO trades.accounts (id, user_id, name) VALUES (:a, :u, 'Main')"),
            {"a": account_id, "u": user_id},
        )
    return user_id, account_id


async def record(db: async_sessionmaker[AsyncSession], user_id: uuid.UUID, account_id: uuid.UUID, side: str) -> None:
    """A fill recorded as the RecordExecutions handler stores one: the row and its group's mark."""
    row = {
        "id": uuid.uuid4(),
        "user_id": user_id,
        "account_id": account_id,
        "command_id": uuid.uuid4(),
        "symbol": "TCS",
        "exchange": "NSE",
        "side": side,
        "quantity": Decimal(10),
        "price": Decimal("3500") if side == "buy" else Decimal("3520"),
        "currency": "INR",
        "executed_at": START if side == "buy" else START + timedelta(hours=1),
        "product": "MIS",
    }
    async with db() as session, session.begin():
        await repository.insert_executions(session, [row])
        await projection.mark(session, projection.groups_of_rows(user_id, [row]))


async def statuses(db: async_sessionmaker[AsyncSession], user_id: uuid.UUID) -> list[str]:
    async with db() as session:
        found = await session.execute(text("SELECT status FROM trades.trade_rows WHERE user_id = :u"), {"u": user_id})
        return [r.status for r in found]


async def test_a_user_is_refreshed_at_most_once_per_user_interval(db: async_sessionmaker[AsyncSession]) -> None:
    now = [1000.0]
    refresher = projection.Refresher(db, user_interval=5.0, clock=lambda: now[0])
    trader, trader_account = await new_account(db)
    other, other_account = await new_account(db)

    await record(db, trader, trader_account, "buy")
    assert trader in await refresher.run_once()  # the first write after a quiet spell: at once
    assert await statuses(db, trader) == ["open"]

    await record(db, trader, trader_account, "sell")
    now[0] += 1.0
    assert trader not in await refresher.run_once()  # refreshed a second ago: it waits
    assert await statuses(db, trader) == ["open"]

    await record(db, other, other_account, "buy")  # another user is not held up meanwhile
    now[0] += 1.0
    refreshed = await refresher.run_once()
    assert other in refreshed and trader not in refreshed
    assert await statuses(db, other) == ["open"]

    now[0] += 3.0  # five seconds after the trader's refresh started: its turn again, with the sell
    refreshed = await refresher.run_once()
    assert trader in refreshed and other not in refreshed
    assert await statuses(db, trader) == ["closed"]


async def test_without_a_user_interval_every_pass_refreshes_every_marked_user(
    db: async_sessionmaker[AsyncSession],
) -> None:
    refresher = projection.Refresher(db, clock=lambda: 1000.0)
    trader, account = await new_account(db)
    await record(db, trader, account, "buy")
    assert trader in await refresher.run_once()
    await record(db, trader, account, "sell")
    assert trader in await refresher.run_once()
    assert await statuses(db, trader) == ["closed"]
