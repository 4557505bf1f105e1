"""The background refresher (tj_trades.projection.Refresher) refreshes a user at most once per
``user_interval`` seconds: a stream of writes is projected in steps, and the other users with
marks are not kept waiting meanwhile."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
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


async def _until(check: Any, timeout: float) -> float:
    """Seconds until ``check()`` is true (pytest.fail after ``timeout``)."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def _counting_passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of refresher passes from now on, in a list's first item."""
    passes = [0]
    run_once = projection.Refresher.run_once

    async def counting(self: projection.Refresher) -> list[uuid.UUID]:
        passes[0] += 1
        return await run_once(self)

    monkeypatch.setattr(projection.Refresher, "run_once", counting)
    return passes


async def _listener(db: async_sessionmaker[AsyncSession]) -> Any:
    args, options = projection.connect_args(db.kw["bind"])
    return await asyncpg.connect(*args, **options)


async def test_committed_marks_are_notified(db: async_sessionmaker[AsyncSession]) -> None:
    """trades_0018's trigger: a transaction that marks groups notifies the refreshers' channel
    when it commits; one rolled back does not."""
    heard: list[str] = []
    connection = await _listener(db)
    try:
        await connection.add_listener(projection.NOTIFY_CHANNEL, lambda *args: heard.append(args[2]))
        trader, trader_account = await new_account(db)
        async with db() as session, session.begin():
            await projection.mark(session, {(trader, trader_account, "NSE:TCS", START.date())})
            await session.rollback()
        await asyncio.sleep(0.3)
        assert heard == []

        await record(db, trader, trader_account, "buy")

        async def notified() -> bool:
            return bool(heard)

        await _until(notified, 5.0)
        assert heard == [projection.NOTIFY_CHANNEL]  # one for the transaction
    finally:
        await connection.close()


async def test_a_listening_refresher_passes_at_once_when_notified(
    db: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its next poll is a minute away; a notification starts a pass at once."""
    passes = _counting_passes(monkeypatch)
    refresher = projection.Refresher(db, interval=60.0, listen=True)
    await refresher.start()
    connection = await _listener(db)
    try:

        async def listening() -> bool:
            return refresher.listening

        await _until(listening, 10.0)
        await asyncio.sleep(0.5)  # the pass its start and the listener's start woke are over
        before = passes[0]
        await connection.execute(f"NOTIFY {projection.NOTIFY_CHANNEL}")

        async def passed() -> bool:
            return passes[0] > before

        assert await _until(passed, 5.0) < 5.0
    finally:
        await connection.close()
        await refresher.stop()
    assert not refresher.listening


async def test_without_its_listener_the_refresher_still_polls(
    db: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise OSError("connection refused")

    monkeypatch.setattr(projection.Refresher, "_listen_once", refused)
    passes = _counting_passes(monkeypatch)
    refresher = projection.Refresher(db, interval=0.2, listen=True)
    await refresher.start()
    try:
        trader, trader_account = await new_account(db)
        await record(db, trader, trader_account, "buy")

        async def projected() -> bool:
            return await statuses(db, trader) == ["open"]

        await _until(projected, 10.0)

        async def polled() -> bool:  # pass after pass, with no notification to wake it
            return passes[0] >= 5

        await _until(polled, 10.0)
    finally:
        await refresher.stop()
    assert "projection listener failed" in caplog.text
