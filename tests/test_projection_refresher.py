"""The background refresher (tj_trades.projection.Refresher) refreshes a user at most once per
``user_interval`` seconds: a stream of writes is projected in steps, and the other users with
marks are not kept waiting meanwhile."""

from __future__ import annotations

import gc
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.test_incremental_projection import START, new_account, tcs_fill
from tests.test_incremental_projection import record as store
from tj_trades import projection


async def record(db: async_sessionmaker[AsyncSession], user_id: uuid.UUID, account_id: uuid.UUID, side: str) -> None:
    """An intraday buy at START or its sell an hour later, stored with its group's mark."""
    if side == "buy":
        await store(db, user_id, [tcs_fill(user_id, account_id, "buy", "3500", START, "MIS")])
    else:
        await store(db, user_id, [tcs_fill(user_id, account_id, "sell", "3520", START + timedelta(hours=1), "MIS")])


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


async def test_the_collector_waits_for_a_background_refresh_and_runs_again_after(
    db: async_sessionmaker[AsyncSession],
) -> None:
    """The cyclic garbage collector is off for the whole of a refresh (its passes over a large
    refresh's live rows cost ~10 % of it), including the statements between the computations,
    and on again once the refresh ends."""
    seen: list[bool] = []

    async def after(session: AsyncSession, user_id: uuid.UUID) -> None:
        seen.append(gc.isenabled())

    refresher = projection.Refresher(db, after=after)
    trader, account = await new_account(db)
    await record(db, trader, account, "buy")
    assert gc.isenabled()
    assert trader in await refresher.run_once()
    assert seen == [False]
    assert gc.isenabled()


async def test_a_rebuild_runs_with_the_collector_paused(
    db: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    serialise = projection._serialise

    async def watching(*args: Any) -> bool:
        seen.append(gc.isenabled())
        return await serialise(*args)

    monkeypatch.setattr(projection, "_serialise", watching)
    trader, account = await new_account(db)
    await record(db, trader, account, "buy")
    async with db() as session, session.begin():
        await projection.rebuild(session, trader)
    assert seen == [False]
    assert gc.isenabled()
    assert await statuses(db, trader) == ["open"]
