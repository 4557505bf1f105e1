"""The refresh recomputes a group only after its last flat point before the earliest changed day
(tj_trades.projection._flat_points). Random histories — swing positions held over days, flips
through zero, scale-ins and outs, several fills at one instant, a long-only account's unmatched
sells — written in random chunks (older days after newer ones), with deletes, refreshed after
each chunk: the live projection always equals a rebuild from the executions."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_common import cpu
from tj_trades import pgarrays, projection, projection_rows, repository, tradebook
from tj_trades.domain.charges.india import IST
from tj_trades.models import executions

SYMBOLS = ("TCS", "INFY", "SBIN")
START = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)


def history(rng: random.Random, user_id: uuid.UUID, account_id: uuid.UUID, days: int) -> list[dict[str, Any]]:
    """Fills of a trader who holds positions over days, flips, and trades several times a day."""
    rows: list[dict[str, Any]] = []
    for symbol in SYMBOLS:
        position = 0
        for day in range(days):
            at = START + timedelta(days=day)
            for _ in range(rng.randint(0, 4)):
                at += timedelta(minutes=rng.choice((0, 0, 1, 7, 40)))  # 0: fills at the same instant
                move = rng.choice((-30, -20, -10, -5, 5, 10, 20, 30))
                if rng.random() < 0.25 and position:
                    move = -position  # back to flat
                elif rng.random() < 0.15 and position:
                    move = -2 * position  # a flip through zero
                if move == 0:
                    continue
                position += move
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "user_id": user_id,
                        "account_id": account_id,
                        "command_id": uuid.uuid4(),
                        "symbol": symbol,
                        "exchange": "NSE",
                        "side": "buy" if move > 0 else "sell",
                        "quantity": Decimal(abs(move)),
                        "price": Decimal(rng.randint(90_000, 110_000)) / 100,
                        "currency": "INR",
                        "executed_at": at,
                        "broker_trade_id": rng.choice((None, str(rng.randint(1, 10**6)))),
                        "product": rng.choice((None, "MIS", "CNC")),
                    }
                )
    return rows


async def new_account(db: async_sessionmaker[AsyncSession], long_only: bool = False) -> tuple[uuid.UUID, uuid.UUID]:
    """A user's account (user id, account id)."""
    user_id, account_id = uuid.uuid4(), uuid.uuid4()
    async with db() as session, session.begin():
        await session.execute(
            text("INSERT INTO trades.accounts (id, user_id, name, long_only) VALUES (:a, :u, 'Main', :l)"),
            {"a": account_id, "u": user_id, "l": long_only},
        )
    return user_id, account_id


def tcs_fill(
    user_id: uuid.UUID, account_id: uuid.UUID, side: str, price: str, at: datetime, product: str | None = None
) -> dict[str, Any]:
    """An execution row of 10 TCS on NSE, as repository.insert_executions takes it."""
    return {
        "id": uuid.uuid4(),
        "user_id": user_id,
        "account_id": account_id,
        "command_id": uuid.uuid4(),
        "symbol": "TCS",
        "exchange": "NSE",
        "side": side,
        "quantity": Decimal(10),
        "price": Decimal(price),
        "currency": "INR",
        "executed_at": at,
        "product": product,
    }


async def record(db: async_sessionmaker[AsyncSession], user_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
    """Rows stored as a writer stores them: the rows and their groups' marks, in one transaction."""
    async with db() as session, session.begin():
        await repository.insert_executions(session, rows)
        await projection.mark(session, projection.groups_of_rows(user_id, rows))


_STORED = """
SELECT 'trade' AS kind, concat_ws('|', instrument, side, status, opened_at, closed_at, close_day, trim_scale(quantity),
       trim_scale(entry_price), trim_scale(gross_pnl), trim_scale(charges), trim_scale(net_pnl), charges_source,
       charges_breakdown::text) AS value
FROM trades.trade_rows WHERE user_id = :u
UNION ALL
SELECT 'day', concat_ws('|', account_id = :u, day, trade_count, win_count, loss_count, breakeven_count,
       trim_scale(gross_pnl), trim_scale(charges), trim_scale(net_pnl))
FROM trades.daily_rollups WHERE user_id = :u
"""


async def stored(session: AsyncSession, user_id: uuid.UUID) -> set[tuple[str, str]]:
    return {(r.kind, r.value) for r in await session.execute(text(_STORED), {"u": user_id})}


async def live_equals_rebuilt(
    db: async_sessionmaker[AsyncSession], user_id: uuid.UUID, windowed: bool = False
) -> dict[str, Any]:
    """The live projection against a rebuild: by default the one-pass rebuild, which shares no
    window or flat-point logic with the refresh."""
    async with db() as session, session.begin():
        await projection.refresh(session, user_id)
        live = await projection.checksum(session, user_id)
        live_rows = await stored(session, user_id)
    async with db() as session, session.begin():
        await projection.rebuild(session, user_id, windowed=windowed)
        rebuilt = await projection.checksum(session, user_id)
        rebuilt_rows = await stored(session, user_id)
        await session.rollback()  # keep the live projection for the next step
    assert sorted(live_rows - rebuilt_rows) == sorted(rebuilt_rows - live_rows)
    assert live == rebuilt
    return live


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("long_only", [False, True])
@pytest.mark.parametrize(
    ("window", "fork"),
    [(None, False), (9, False), (9, True)],
    ids=["one-pass", "windows-of-9", "windows-of-9-forked"],
)
async def test_incremental_refresh_equals_rebuild(
    db: async_sessionmaker[AsyncSession],
    seed: int,
    long_only: bool,
    window: int | None,
    fork: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flat_points, windows = projection._flat_points, projection._windows
    bounded = 0
    windowed = 0
    forked = 0

    class CountingForked(cpu.Forked[Any]):
        def __init__(self, *args: Any) -> None:
            nonlocal forked
            forked += 1
            super().__init__(*args)

    # Every window but the last computes its round trips in a forked child (or none does).
    monkeypatch.setattr(projection, "FORK_ROWS", 1 if fork else 0)
    monkeypatch.setattr(cpu, "Forked", CountingForked)

    async def counting(*args: Any) -> Any:
        nonlocal bounded
        found = await flat_points(*args)
        bounded += len(found)
        return found

    async def counting_windows(*args: Any) -> Any:
        nonlocal windowed
        found = await windows(*args)
        windowed = max(windowed, len(found))
        return found

    monkeypatch.setattr(projection, "_flat_points", counting)
    monkeypatch.setattr(projection, "_windows", counting_windows)
    if window is not None:  # a large refresh, in miniature: window by window of IST days
        monkeypatch.setattr(projection, "REFRESH_WINDOW", window)
    if seed % 2:  # pages of two trades: the search for a flat point crosses pages and ties
        monkeypatch.setattr(projection, "FLAT_POINT_PAGE", 2)
    rng = random.Random(seed * 2 + long_only)
    user_id, account_id = await new_account(db, long_only)
    rows = history(rng, user_id, account_id, days=25)
    # Mostly in time order, as a trader records them; now and then an older stretch arrives late.
    by_day: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        by_day.setdefault(r["executed_at"].date(), []).append(r)
    chunks = [by_day[d] for d in sorted(by_day)]
    for _ in range(3):
        i, j = sorted(rng.sample(range(len(chunks)), 2))
        chunks[i], chunks[j] = chunks[j], chunks[i]
    written: list[dict[str, Any]] = []
    trades_seen = 0
    for chunk in chunks:
        async with db() as session, session.begin():
            await repository.insert_executions(session, chunk)
            await projection.mark(session, projection.groups_of_rows(user_id, chunk))
        written += chunk
        if rng.random() < 0.2:  # a delete, somewhere in the past
            gone = written.pop(rng.randrange(len(written)))
            async with db() as session, session.begin():
                await session.execute(executions.delete().where(executions.c.id == gone["id"]))
                await projection.mark(session, projection.groups_of_rows(user_id, [gone]))
        trades_seen = max(trades_seen, (await live_equals_rebuilt(db, user_id))["trades"])
    assert trades_seen > 10  # the history did make round trips
    assert bounded > 0  # and refreshes did start from flat points
    assert (windowed > 1) == (window is not None)  # in several windows exactly when they were small
    assert (forked > 0) == fork

    # The operator's rebuild of a long history goes window by window too, to the same result.
    windowed = 0
    await live_equals_rebuilt(db, user_id, windowed=True)
    assert (windowed > 1) == (window is not None)


async def test_clean_forgets_only_the_marks_it_read(db: async_sessionmaker[AsyncSession]) -> None:
    """A mark that a writer renewed while the refresh ran (a newer ``marked_at``) stays for the
    next refresh; the others read go, however many (one statement over arrays)."""
    user_id, account_id = uuid.uuid4(), uuid.uuid4()
    days = [START.date() + timedelta(days=d) for d in range(6000)]
    async with db() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO trades.projection_dirty (user_id, account_id, instrument, day) "
                "SELECT :u, :a, i, d FROM unnest(CAST(:i AS text[]), CAST(:d AS date[])) AS x(i, d)"
            ),
            {"u": user_id, "a": account_id, "i": ["NSE:TCS"] * len(days), "d": days},
        )
    async with db() as session, session.begin():
        seen = await projection._dirty(session, user_id)
    assert len(seen) == len(days)
    renewed = days[:3]
    async with db() as session, session.begin():
        await session.execute(
            text(
                "UPDATE trades.projection_dirty SET marked_at = clock_timestamp() "
                "WHERE user_id = :u AND day = ANY(CAST(:d AS date[]))"
            ),
            {"u": user_id, "d": renewed},
        )
    async with db() as session, session.begin():
        await projection._clean(session, user_id, seen)
    async with db() as session:
        left = sorted(r.day for r in await projection._dirty(session, user_id))
    assert left == renewed
    async with db() as session, session.begin():
        await session.execute(text("DELETE FROM trades.projection_dirty WHERE user_id = :u"), {"u": user_id})


# Every entry of the user's stored charge days (projection_rows.charge_days_columns).
_STORED_CHARGES = """
SELECT d.account_id, d.day, split_part(l, E'\\t', 1) AS execution_id, split_part(l, E'\\t', 2) AS charges,
       split_part(l, E'\\t', 3) AS source, split_part(l, E'\\t', 4) AS lines
FROM trades.charge_days d CROSS JOIN LATERAL unnest(string_to_array(d.entries, E'\\n')) AS l
WHERE d.user_id = :u ORDER BY execution_id
"""


def _writer_meanwhile(monkeypatch: pytest.MonkeyPatch, write: Callable[[], Awaitable[Any]]) -> list[bool]:
    """Have a writer make ``write`` (in another connection's transaction, committed) once, while a
    refresh runs: when it looks for its flat points, after the window's charges were estimated,
    before its rows are read again. The list holds True once the writer has."""
    flat_points = projection._flat_points
    raced: list[bool] = []

    async def meanwhile(*args: Any) -> Any:
        if not raced:
            raced.append(True)
            await write()
        return await flat_points(*args)

    monkeypatch.setattr(projection, "_flat_points", meanwhile)
    return raced


async def test_an_execution_committed_during_a_refresh_leaves_the_newest_charges_stored(
    db: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer commits a sell on a day the refresh has just estimated (after the refresh read its
    marks), closing the day's buy: the buy is intraday now, no longer delivery. The refresh meets
    the sell when it reads the rows for the round trips and estimates the day again; the charges it
    stores must be those newer ones (as a rebuild gives), not its first estimate of the buy."""
    user_id, account_id = await new_account(db)
    # No product: intraday or delivery is inferred from the day's other side.
    buy = tcs_fill(user_id, account_id, "buy", "3500", START)
    sell = tcs_fill(user_id, account_id, "sell", "3520", START + timedelta(hours=2))
    await record(db, user_id, [buy])

    raced = _writer_meanwhile(monkeypatch, lambda: record(db, user_id, [sell]))
    async with db() as session, session.begin():
        await projection.refresh(session, user_id)
        live = await projection.checksum(session, user_id)
        live_charges = (await session.execute(text(_STORED_CHARGES), {"u": user_id})).all()
    assert raced
    async with db() as session, session.begin():
        await projection.rebuild(session, user_id, windowed=False)
        rebuilt = await projection.checksum(session, user_id)
        rebuilt_charges = (await session.execute(text(_STORED_CHARGES), {"u": user_id})).all()
        await session.rollback()
    assert live["trades"] == rebuilt["trades"] == 1 and live == rebuilt
    assert len(rebuilt_charges) == 2
    assert live_charges == rebuilt_charges


async def test_an_execution_deleted_during_a_refresh_is_not_in_its_trades(
    db: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer deletes the day's sell (and marks its day) after the refresh has read and estimated
    the day: the refresh's round trips, made from the rows it read, see the writer's mark and
    read the day's ids again, so the trade it stores is the open buy a rebuild gives, not a round
    trip closed by a deleted sell (which only the next refresh would have put right)."""
    user_id, account_id = await new_account(db)
    buy = tcs_fill(user_id, account_id, "buy", "3500", START, "MIS")
    sell = tcs_fill(user_id, account_id, "sell", "3520", START + timedelta(hours=2), "MIS")
    await record(db, user_id, [buy, sell])

    async def delete_sell() -> None:
        async with db() as session, session.begin():
            await session.execute(executions.delete().where(executions.c.id == sell["id"]))
            await projection.mark(session, projection.groups_of_rows(user_id, [sell]))

    raced = _writer_meanwhile(monkeypatch, delete_sell)
    async with db() as session, session.begin():
        await projection.refresh(session, user_id)
        live = await projection.checksum(session, user_id)
        statuses = (
            (await session.execute(text("SELECT status FROM trades.trade_rows WHERE user_id = :u"), {"u": user_id}))
            .scalars()
            .all()
        )
    assert raced
    assert statuses == ["open"]
    async with db() as session, session.begin():
        await projection.rebuild(session, user_id, windowed=False)
        assert await projection.checksum(session, user_id) == live
        await session.rollback()
    # The day was estimated again without the sell, and so stored.
    assert await _charged(db, user_id) == [buy["id"]]


async def test_the_projection_stores_trades_as_the_arrays_would(db: async_sessionmaker[AsyncSession]) -> None:
    """Trades travel as joined text; an instrument with a separator character of its own sends
    them as arrays instead. Either way the stored rows are what the arrays store."""
    user_id, account_id = await new_account(db)
    fills = [
        tcs_fill(user_id, account_id, "buy", "3500.5", START, "MIS"),
        tcs_fill(user_id, account_id, "sell", "3512", START + timedelta(minutes=1), "MIS"),
        {**tcs_fill(user_id, account_id, "sell", "1500", START + timedelta(minutes=2), "MIS"), "symbol": "INFY"},
        {**tcs_fill(user_id, account_id, "buy", "10", START + timedelta(minutes=3), "MIS"), "symbol": "A\x1fB"},
    ]
    await record(db, user_id, fills)
    async with db() as session:
        accounts = await repository.account_settings(session, user_id)
        rows = await projection._visible_rows(session, user_id)
    charges = tradebook.charges_of(rows, accounts)
    trades, _ = projection_rows.trade_records(user_id, rows, accounts, charges)
    mixed = projection_rows.trade_output(user_id, rows, accounts, charges, projection.ALL_ACCOUNTS, "Asia/Kolkata")
    assert mixed[0] is None and mixed[1] == trades  # not joinable: sent as arrays
    clean = projection_rows.trade_output(
        user_id,
        [r for r in rows if pgarrays.clean(r["symbol"])],
        accounts,
        charges,
        projection.ALL_ACCOUNTS,
        "Asia/Kolkata",
    )
    assert clean[0] is not None and clean[1] is None
    stored: dict[str, list[str]] = {}
    for way in ("joined", "arrays", "mixed"):
        async with db() as session, session.begin():
            if way == "joined":
                await projection._store_trades(session, clean)
            elif way == "arrays":
                connection = await pgarrays.driver(session)
                columns = ([t[c] for t in trades] for c, _ in projection_rows.TRADE_COLUMNS)
                await connection.execute(projection._STORE_TRADES_ARRAYS, *columns)
            else:
                await projection._store_trades(session, mixed)
            got = await session.execute(
                text("SELECT t::text FROM trades.trade_rows t WHERE user_id = :u ORDER BY trade_id"), {"u": user_id}
            )
            stored[way] = [r[0] for r in got]
            await session.rollback()
    assert len(stored["arrays"]) == 3
    assert stored["mixed"] == stored["arrays"]
    assert stored["joined"] == [r for r in stored["arrays"] if "\x1f" not in r]


async def test_a_refresh_that_cannot_fork_computes_its_windows_itself(
    db: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """fork failing (out of memory, a container's pid limit) costs the second core, not the refresh."""

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)  # the module cpu.Forked forks with
    monkeypatch.setattr(projection, "FORK_ROWS", 1)
    monkeypatch.setattr(projection, "REFRESH_WINDOW", 9)
    user_id, account_id = await new_account(db)
    await record(db, user_id, history(random.Random(7), user_id, account_id, days=12))
    assert (await live_equals_rebuilt(db, user_id))["trades"] > 5
    assert "could not fork for a window's round trips" in caplog.text


@pytest.mark.parametrize("total", [40_001, 60_000, 75_000, 200_000, 1_000_003])
def test_a_large_refresh_has_smaller_windows_at_both_ends(total: int) -> None:
    """A quarter, then half a window first and last (nothing runs beside the first window's
    charges, nor beside the last one's round trips); no window over REFRESH_WINDOW; the ones
    between them alike; together they hold every execution."""
    window = 40_000
    targets = projection.window_targets(total, window)
    assert targets[:2] == [window // 4, window // 2]
    assert targets[-2:] == [window // 2, window // 4]
    assert max(targets) <= window
    assert sum(targets) >= total
    middle = targets[2:-2]
    assert not middle or max(middle) - min(middle) == 0
    if total > 3 * window // 2:  # the ends' 60,000 and balanced windows between them
        assert 0 <= sum(middle) - (total - 3 * window // 2) < len(middle)


def test_a_small_window_still_ramps() -> None:
    assert projection.window_targets(100, 9) == [2, 4, *[9] * 10, 4, 2]
    assert projection.window_targets(10, 9) == [2, 4, 4, 2]
    assert projection.window_targets(5, 3) == [1, 1, 1, 1, 1]


async def _charged(db: async_sessionmaker[AsyncSession], user_id: uuid.UUID) -> list[uuid.UUID]:
    """The executions the user has charges stored for."""
    async with db() as session:
        return sorted(uuid.UUID(r.execution_id) for r in await session.execute(text(_STORED_CHARGES), {"u": user_id}))


async def test_a_day_is_stored_again_without_its_deleted_executions(db: async_sessionmaker[AsyncSession]) -> None:
    """Deleting executions leaves the stored charges as they are; the deleter marks the day, whose
    next refresh stores it again without them, or deletes it when none is left."""
    user_id, account_id = await new_account(db)
    fills = [tcs_fill(user_id, account_id, "buy", "3500", START + timedelta(minutes=i), "MIS") for i in range(4)]
    later = tcs_fill(user_id, account_id, "sell", "3600", START + timedelta(days=1), "MIS")
    await record(db, user_id, [*fills, later])
    async with db() as session, session.begin():
        await projection.refresh(session, user_id)
    assert await _charged(db, user_id) == sorted(f["id"] for f in [*fills, later])

    async def delete(gone: list[dict[str, Any]]) -> None:
        async with db() as session, session.begin():
            await session.execute(executions.delete().where(executions.c.id.in_([f["id"] for f in gone])))
            await projection.mark(session, projection.groups_of_rows(user_id, gone))
        async with db() as session, session.begin():
            await projection.refresh(session, user_id)
            assert await projection.checksum(session, user_id) == await _rebuilt_checksum(session, user_id)

    await delete([fills[0], fills[2]])
    assert await _charged(db, user_id) == sorted([fills[1]["id"], fills[3]["id"], later["id"]])
    await delete([later])
    assert await _charged(db, user_id) == sorted([fills[1]["id"], fills[3]["id"]])
    async with db() as session:
        days = await session.execute(text("SELECT day FROM trades.charge_days WHERE user_id = :u"), {"u": user_id})
        assert list(days.scalars()) == [START.astimezone(IST).date()]


async def _rebuilt_checksum(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """The checksum of the user's projection rebuilt (in a savepoint, rolled back)."""
    async with session.begin_nested() as rebuilding:
        await projection.rebuild(session, user_id, windowed=False)
        rebuilt = await projection.checksum(session, user_id)
        await rebuilding.rollback()
    return rebuilt


async def test_a_stale_entry_of_a_stored_day_is_never_read(db: async_sessionmaker[AsyncSession]) -> None:
    """A stored day may hold the entry of an execution deleted since (until the day's next refresh):
    a refresh that reads the day's stored charges (a later day changed the instrument's round
    trips, from a flat point before that day) takes those of the executions it reads only."""
    user_id, account_id = await new_account(db)
    buy = tcs_fill(user_id, account_id, "buy", "3500", START, "CNC")
    extra = tcs_fill(user_id, account_id, "buy", "3510", START + timedelta(minutes=5), "CNC")
    await record(db, user_id, [buy, extra])
    async with db() as session, session.begin():
        await projection.refresh(session, user_id)
    async with db() as session, session.begin():  # deleted, its day left unmarked: its entry stays
        await session.execute(executions.delete().where(executions.c.id == extra["id"]))
    assert await _charged(db, user_id) == sorted([buy["id"], extra["id"]])
    sell = tcs_fill(user_id, account_id, "sell", "3600", START + timedelta(days=2), "CNC")
    await record(db, user_id, [sell])
    async with db() as session, session.begin():
        await projection.refresh(session, user_id)
        rows = (
            await session.execute(
                text("SELECT status, quantity, charges FROM trades.trade_rows WHERE user_id = :u"), {"u": user_id}
            )
        ).all()
        assert [(r.status, r.quantity) for r in rows] == [("closed", buy["quantity"])]
        # The buy's charges are its stored entry's (its day was not priced again without the
        # extra buy), the sell's its own.
        stored = {
            r.execution_id: Decimal(r.charges) for r in await session.execute(text(_STORED_CHARGES), {"u": user_id})
        }
        assert rows[0].charges == stored[str(buy["id"])] + stored[str(sell["id"])]
