"""The stored round-trip projection (``trade_rows``) and the daily rollup (``daily_rollups``).

Round trips are a pure function of an (account, instrument)'s visible executions, and charges too
(brokerage per order, DP charge per scrip and day). So every write marks the groups it touches in
``projection_dirty``, in its own transaction; :func:`refresh` recomputes the dirty groups of a user
(before the projection is read, and in the background) and the rollup rows of the days they
touch. :func:`rebuild` recomputes a user's whole projection from the executions, and
:func:`checksum` fingerprints it, so an operator can prove the live projection equal to a rebuilt
one (``python -m tj_trades.ops rebuild-rollups``).

Concurrency: refreshes and rebuilds of one user take a transaction-level advisory lock, so they
run one at a time; writers never wait for them. A refresh forgets only the marks it read, with
the ``marked_at`` it read: a writer that marks a group again meanwhile sets a new ``marked_at``
(``clock_timestamp()``), so its change is picked up by the next refresh, never lost. Deleting
executions never waits either: the charges are stored a day at a time (``charge_days``), and the
deleter marks the day, whose next refresh replaces them (or deletes them, with nothing left).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from time import monotonic as time_monotonic
from typing import Any, Literal, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import (
    Date,
    DateTime,
    String,
    all_,
    and_,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from tj_common import cpu
from tj_trades import pgarrays, projection_rows, repository, tradebook
from tj_trades.domain.charges.india import IST  # +05:30, without a zone lookup per execution
from tj_trades.domain.charges.india import ist_trade_date as ist_day
from tj_trades.models import (
    charge_days,
    daily_rollups,
    executions,
    projection_dirty,
    summary_snapshots,
    trade_rows,
)
from tj_trades.projection_rows import (
    CHARGE_DAY_COLUMNS,
    TRADE_COLUMNS,
    DayRollups,
    TradeOutput,
    changed_groups,
    charge_days_columns,
    close_order,
    day_composite,
    day_entries,
    instrument,
    stored_charges,
    trade_output,
)

log = logging.getLogger(__name__)


Group = tuple[uuid.UUID, uuid.UUID, str, date]  # user, account, "<exchange>:<symbol>", IST trade date


async def mark(session: AsyncSession, groups: Iterable[Group]) -> None:
    """Mark groups stale (in the writer's transaction), in a fixed order against deadlocks."""
    unique = sorted(set(groups), key=lambda g: (str(g[0]), str(g[1]), g[2], g[3]))
    for start in range(0, len(unique), 5000):  # 4 parameters a row, 32,767 at most a statement
        statement = pg_insert(projection_dirty).values(
            [{"user_id": u, "account_id": a, "instrument": i, "day": d} for u, a, i, d in unique[start : start + 5000]]
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[
                    projection_dirty.c.user_id,
                    projection_dirty.c.account_id,
                    projection_dirty.c.instrument,
                    projection_dirty.c.day,
                ],
                set_={"marked_at": func.clock_timestamp()},
            )
        )


def groups_of_rows(user_id: uuid.UUID, rows: Iterable[dict[str, Any]]) -> set[Group]:
    """The groups of execution rows (with account_id, exchange, symbol, executed_at)."""
    return {(user_id, r["account_id"], instrument(r["exchange"], r["symbol"]), ist_day(r["executed_at"])) for r in rows}


_EXECUTION_GROUPS = repository.groups_of("trades.executions WHERE {where}")
MARK_SQL = {
    # An import's rows all have a fingerprint; saying so lets the import's index find them.
    "import_id": [
        repository.mark_selected(_EXECUTION_GROUPS.format(where="import_id = :v AND fingerprint IS NOT NULL"))
    ],
    "account_id": [
        repository.mark_selected(_EXECUTION_GROUPS.format(where="account_id = :v")),
        repository.mark_selected(
            "SELECT DISTINCT user_id, account_id, instrument, (opened_at AT TIME ZONE 'Asia/Kolkata')::date "
            "FROM trades.trade_rows WHERE account_id = :v"
        ),
    ],
}
_MARK_IMPORT = text(
    repository.mark_selected(
        "SELECT i.user_id, i.account_id, g.instrument, g.day "
        "FROM trades.import_groups g JOIN trades.imports i ON i.import_id = g.import_id "
        "WHERE g.import_id = :v ORDER BY g.instrument, g.day"
    )
)


async def mark_import(session: AsyncSession, import_id: uuid.UUID) -> None:
    """Mark the groups of a staged import, as its batches stored them (staging.store_groups), in
    the order of :func:`mark`."""
    await session.execute(_MARK_IMPORT, {"v": import_id})


async def mark_where(session: AsyncSession, column: Literal["import_id", "account_id"], value: uuid.UUID) -> None:
    """Mark every group of an import, or of an account (its executions and its stored trades)."""
    for statement in MARK_SQL[column]:
        await session.execute(text(statement), {"v": value})


# Executions a refresh holds in memory at once, about (one IST day is never split): ~6 KB each
# with their charges and trades, so a 200,000-fill import no longer needs 1.2 GB to be projected.
REFRESH_WINDOW = 40_000
# The first windows of a large refresh hold a quarter, then half of REFRESH_WINDOW, and so do the
# last ones, in reverse (see window_targets).
WINDOW_RAMP = (4, 2)
# Marks committed (trades.projection_dirty's trigger, migration trades_0018) are notified on this
# channel: a listening refresher (Refresher(listen=True)) starts at once instead of at its next poll.
NOTIFY_CHANNEL = "trades_projection_dirty"
WAKE_GAP = 0.05  # seconds between two passes of the refresher at least
LISTEN_RETRY = 5.0  # seconds between two checks of the listener's connection, or two attempts
# A window's round trips of at least this many executions are computed in a child forked for
# them (tj_common.cpu.Forked), on the other core, while this process stores the window's charges,
# reads the next window and estimates its charges; 0: never (the trades service sets it from
# PROJECTION_FORK_ROWS). Below it, the fork and the result's trip back cost more than
# they save.
FORK_ROWS = 10_000
# Writes a refresh leaves to make later (a window's trades and rollup rows, see _refresh_windows).
Written = Callable[[], Awaitable[None]]
R = TypeVar("R")
_EXECUTED_DAY = cast(func.timezone("Asia/Kolkata", executions.c.executed_at), Date)  # an execution's IST day


async def refresh(session: AsyncSession, user_id: uuid.UUID, wait: float | None = None) -> int:
    """Recompute the user's dirty groups; the number of (account, instrument) groups recomputed.

    First the charges of every execution of the touched (account, IST day)s (a contract note
    covers the whole day), then the round trips of the touched instruments and of the ones whose
    charges moved, then the rollup rows of the days their trades close on.

    A large refresh goes window by window of IST days (:func:`_windows`), oldest first, in the
    same transaction: each window's round trips up to its end, then the next window's from the
    last flat point before it. A group recomputed in one window is recomputed in every later one
    (its trades after the flat point were deleted), and the last window runs to the end of the
    history, so the result is what one pass over everything gives."""
    if not await _serialise(session, user_id, wait):
        return 0  # another refresh of this user is at work (e.g. a large import): read as is
    locked = await _dirty(session, user_id)
    if not locked:
        return 0
    accounts = await repository.account_settings(session, user_id)
    recomputed = await _refresh_windows(session, user_id, await _windows(session, user_id, locked), accounts)
    await _clean(session, user_id, locked)
    return recomputed


async def _refresh_windows(
    session: AsyncSession,
    user_id: uuid.UUID,
    windows: list[tuple[date, date | None, list[Any]]],
    accounts: Mapping[uuid.UUID, Mapping[str, Any]],
    *,
    marks_read: bool = True,
) -> int:
    """Recompute the marked groups window by window (:func:`refresh`); how many groups.
    ``marks_read``: the windows' marks are the ones the refresh read (with their ``marked_at``),
    not a rebuild's marks of every day (see :func:`_rows_reusing`)."""
    carried: set[tuple[uuid.UUID, str]] = set()
    # PostgreSQL writes while Python computes. A window's round trips are computed in a forked
    # child (_recompute) while this process reads and prices the next window (its charges encoded
    # in the same thread, off the connection) and the connection writes meanwhile: the window's
    # charges, the previous window's rollup rows, then, once the child is done, the window's trades.
    # Nothing between them reads what they write (the pricing reads executions and their stored
    # charges, of other days); the next window's round trips, which read the stored trades and
    # charges, come after (see _recompute for the rollup). A window too small to fork computes its
    # round trips in a thread while the connection writes its charges and the previous rollup rows.
    unwritten: Written | None = None  # the last window's trades
    unrolled: Written | None = None  # the last window's rollup rows
    for start, end, marks in windows:
        since: dict[tuple[uuid.UUID, str], date] = dict.fromkeys(carried, start)  # earliest changed day
        days: dict[uuid.UUID, set[date]] = defaultdict(set)
        for r in marks:
            days[r.account_id].add(r.day)
            group = (r.account_id, r.instrument)
            since[group] = min(since.get(group, r.day), r.day)
        fresh: dict[Any, tradebook.ExecutionCharges] = {}  # just estimated (stored by _recompute): not read back
        encoded: list[list[str]] = []  # the same, account by account, to store (CHARGE_DAY_COLUMNS)
        read: list[dict[str, Any]] = []  # the executions of those days: the round trips need not read them again
        for account_id, account_days in days.items():
            first = min(account_days)
            changed, charges, account_rows = await _recharge(
                session, user_id, account_id, account_days, accounts, store=False, meanwhile=unwritten, encoded=encoded
            )
            unwritten = None
            fresh.update(charges)
            read.extend(account_rows)
            for group in changed:
                since[group] = min(since.get(group, first), first)
            # Held no longer than the window: its rows and charges must be free to go when its
            # deferred write lets go of them, while PostgreSQL stores its trades (see _recompute),
            # not when the next window's pricing rebinds these names (~45 ms of this thread
            # between two windows, the connection idle).
            del changed, charges, account_rows
        if unwritten is not None:
            await unwritten()
        until = None if end is None else datetime.combine(end, time(), IST)
        deferred = await _recompute(
            session,
            user_id,
            set(since),
            accounts,
            since=since,
            fresh=fresh,
            until=until,
            store=fresh,
            store_columns=encoded,
            defer=True,
            read=(read, days, marks if marks_read else ()),
            meanwhile=unrolled,
        )
        assert deferred is not None
        unwritten, unrolled = deferred
        carried.update(since)
    if unwritten is not None:
        await unwritten()
    if unrolled is not None:
        await unrolled()
    return len(carried)


async def _windows(
    session: AsyncSession, user_id: uuid.UUID, marks: list[Any]
) -> list[tuple[date, date | None, list[Any]]]:
    """The marks in windows of consecutive IST days from the first marked one to the end of the
    history, each with about REFRESH_WINDOW of the user's executions: (first day, the next
    window's first day or None for the last, the window's marks). One window when all of it fits."""
    first = min(r.day for r in marks)
    counted = await session.execute(
        select(_EXECUTED_DAY, func.count())
        .where(
            executions.c.user_id == user_id,
            executions.c.executed_at >= datetime.combine(first, time(), IST),
            repository.visible(user_id),
        )
        .group_by(_EXECUTED_DAY)
    )
    per_day: dict[date, int] = dict.fromkeys((r.day for r in marks), 0)
    per_day.update((d, n) for d, n in counted.all())
    total = sum(per_day.values())
    if total <= REFRESH_WINDOW:
        return [(first, None, marks)]
    targets = window_targets(total, REFRESH_WINDOW)
    starts: list[date] = []
    held = 0
    for d in sorted(per_day):
        if not starts or (held and held + per_day[d] > targets[min(len(starts), len(targets)) - 1]):
            starts.append(d)
            held = 0
        held += per_day[d]
    by_start: dict[date, list[Any]] = {d: [] for d in starts}
    for r in marks:
        by_start[starts[bisect_right(starts, r.day) - 1]].append(r)
    return [(d, starts[i + 1] if i + 1 < len(starts) else None, by_start[d]) for i, d in enumerate(starts)]


def window_targets(total: int, window: int) -> list[int]:
    """The executions each window of a large refresh of ``total`` should hold, in order (windows
    past the list hold as many as its last): ``window`` each, but the first and the last ones
    smaller (WINDOW_RAMP). Nothing runs beside the first window's charges (a window's round trips
    are computed while the next window's charges are), and nothing beside the last window's round
    trips and the storing of its trades: both take time in proportion to their window."""
    up = [max(1, window // d) for d in WINDOW_RAMP]
    rest = total - 2 * sum(up)
    if rest <= 0:
        return [*up, *up[::-1]]
    count = -(-rest // window)
    return [*up, *[-(-rest // count)] * count, *up[::-1]]


async def _serialise(session: AsyncSession, user_id: uuid.UUID, wait: float | None = None) -> bool:
    """One refresh or rebuild of a user at a time (writers are never blocked: they only mark).
    With ``wait``, give up after that many seconds (False)."""
    key = {"u": str(user_id)}
    if wait is None:
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:u, 7))"), key)
        return True
    deadline = asyncio.get_running_loop().time() + wait
    while not await session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:u, 7))"), key):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _dirty(session: AsyncSession, user_id: uuid.UUID) -> list[Any]:
    return list(
        (
            await session.execute(
                select(
                    projection_dirty.c.account_id,
                    projection_dirty.c.instrument,
                    projection_dirty.c.day,
                    projection_dirty.c.marked_at,
                ).where(projection_dirty.c.user_id == user_id)
            )
        ).all()
    )


# The marks read, as arrays: one join whatever their number (an IN list of row values made
# PostgreSQL OR thousands of index scans: 7 s per 5,000 marks after a large import).
_CLEAN_SQL = """
DELETE FROM trades.projection_dirty d
USING unnest($2::uuid[], $3::text[], $4::date[], $5::timestamptz[]) AS s(account_id, instrument, day, marked_at)
WHERE d.user_id = $1 AND d.account_id = s.account_id AND d.instrument = s.instrument
  AND d.day = s.day AND d.marked_at = s.marked_at
"""


async def _clean(session: AsyncSession, user_id: uuid.UUID, seen: list[Any]) -> None:
    """Forget the marks that were read, unless a writer marked them again since (a new
    ``marked_at``): those stay for the next refresh."""
    if not seen:
        return
    connection = await pgarrays.driver(session)
    await connection.execute(
        _CLEAN_SQL,
        user_id,
        [r.account_id for r in seen],
        [r.instrument for r in seen],
        [r.day for r in seen],
        [r.marked_at for r in seen],
    )


async def rebuild(session: AsyncSession, user_id: uuid.UUID, *, windowed: bool = True) -> None:
    """Recompute the user's whole projection from the executions.

    A history of more than REFRESH_WINDOW executions is recomputed window by window of IST days,
    as a large refresh is (every group of every day marked), in bounded memory. Otherwise, and
    with ``windowed=False`` (the tests' reference), in one pass over the whole history.

    With the cyclic collector paused throughout, as the background refresher's refreshes."""
    with cpu.collector_paused():
        await _rebuild(session, user_id, windowed=windowed)


async def _rebuild(session: AsyncSession, user_id: uuid.UUID, *, windowed: bool) -> None:
    await _serialise(session, user_id)
    seen = await _dirty(session, user_id)
    await session.execute(delete(trade_rows).where(trade_rows.c.user_id == user_id))
    await session.execute(delete(daily_rollups).where(daily_rollups.c.user_id == user_id))
    await session.execute(delete(charge_days).where(charge_days.c.user_id == user_id))
    accounts = await repository.account_settings(session, user_id)
    if windowed:
        marks = await _history_marks(session, user_id)
        windows = await _windows(session, user_id, marks) if marks else []
        if len(windows) > 1:
            await _refresh_windows(session, user_id, windows, accounts, marks_read=False)
            await _clean(session, user_id, seen)
            return
    rows = await _visible_rows(session, user_id)
    # CPU-bound (the charges engine): in a thread, so the service keeps answering meanwhile.
    charges = await cpu.compute(tradebook.charges_of, rows, accounts)
    await _recompute(session, user_id, None, accounts, rows=rows, charges=charges, store=charges)
    await _clean(session, user_id, seen)


async def _history_marks(session: AsyncSession, user_id: uuid.UUID) -> list[Any]:
    """A mark for every (account, instrument, IST day) of the user's visible executions."""
    name = executions.c.exchange + ":" + executions.c.symbol
    query = (
        select(executions.c.account_id, name.label("instrument"), _EXECUTED_DAY.label("day"))
        .where(executions.c.user_id == user_id, repository.visible(user_id))
        .distinct()
    )
    return list((await session.execute(query)).all())


async def _visible_rows(session: AsyncSession, user_id: uuid.UUID, *conditions: Any) -> list[dict[str, Any]]:
    """The user's visible executions (``repository.EXECUTION_COLUMNS``) that meet the conditions.

    Straight from the driver: a refresh reads every execution of its days, and SQLAlchemy's row
    processing cost it about twice the driver's own decoding (200,000 rows: ~4.5 s against ~2.5 s
    on this machine). The values are the same: asyncpg decodes each column as SQLAlchemy passes it
    on (JSONB too: SQLAlchemy's dialect gives every connection its JSON codec)."""
    records = await _fetch(session, select(*_PROJECTED_COLUMNS).where(*_visible(user_id, *conditions)))
    with cpu.collector_paused():
        return [dict(zip(_PROJECTED_NAMES, r, strict=True)) for r in records]  # ~30 % less than dict(r)


# What the engines read of an execution: EXECUTION_COLUMNS but for recorded_at (decoding 40,000
# timestamps cost a window ~35 ms of the refresher's thread).
_PROJECTED_COLUMNS = tuple(c for c in repository.EXECUTION_COLUMNS if c.name != "recorded_at")
_PROJECTED_NAMES = tuple(c.name for c in _PROJECTED_COLUMNS)


def _visible(user_id: uuid.UUID, *conditions: Any) -> tuple[ColumnElement[bool], ...]:
    return (executions.c.user_id == user_id, repository.visible(user_id), *conditions)


async def _fetch(session: AsyncSession, query: Any) -> list[Any]:
    """The query's records, straight from the driver (see :func:`_visible_rows`)."""
    compiled = query.compile(dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    connection = await pgarrays.driver(session)
    return list(
        await connection.fetch(compiled.string, *(compiled.params[name] for name in compiled.positiontup or ()))
    )


async def _rows_reusing(
    session: AsyncSession,
    user_id: uuid.UUID,
    conditions: Sequence[ColumnElement[bool]],
    held: list[dict[str, Any]],
    covered: Mapping[uuid.UUID, set[date]],
    marks: Sequence[Any] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What ``_visible_rows(session, user_id, *conditions)`` reads now (before the caller keeps
    the rows of its groups after their flat points: ``held`` rows outside ``conditions`` are kept
    too), taking the rows of the ``covered`` (account, IST days) from ``held`` (read earlier in the
    transaction, all of those days' executions).

    ``marks``: the marks the refresh read of those days. If no writer has marked any of them
    since (:func:`_marked_since`), the held rows are those days' executions still; else only
    their ids are read, to drop a row deleted since and to read whole a row committed since (a
    writer's, after the refresh read its marks). Also the held rows deleted since."""
    on_covered = or_(
        *(and_(executions.c.account_id == a, _EXECUTED_DAY.in_(sorted(days))) for a, days in covered.items())
    )
    if marks and not await _marked_since(session, user_id, covered, marks):
        return held + await _visible_rows(session, user_id, ~on_covered, *conditions), []
    # The ids as one text: 40,000 of them cost ~30 ms so, ~150 ms as rows of UUIDs.
    ids_query = select(func.string_agg(cast(executions.c.id, String()), ","))
    (ids_record,) = await _fetch(session, ids_query.where(*_visible(user_id, on_covered, *conditions)))
    ids = set(ids_record[0].split(",")) if ids_record[0] else set()
    by_text = {str(r["id"]): r for r in held}
    kept = [r for text_id, r in by_text.items() if text_id in ids]
    committed_since = ids.difference(by_text)
    rows = await _visible_rows(session, user_id, ~on_covered, *conditions)
    if committed_since:
        rows += await _visible_rows(session, user_id, executions.c.id.in_([uuid.UUID(i) for i in committed_since]))
    return kept + rows, [r for text_id, r in by_text.items() if text_id not in ids]


# A mark of the user on one of the (account, IST day)s that is not one of the marks read: a writer
# changed an execution of those days after the refresh read its marks (its mark is new, or has a
# new marked_at: projection.mark sets clock_timestamp()).
_MARKED_SINCE_SQL = """
SELECT EXISTS (
    SELECT FROM trades.projection_dirty d
    JOIN unnest($2::uuid[], $3::date[]) AS c(account_id, day) ON d.account_id = c.account_id AND d.day = c.day
    WHERE d.user_id = $1 AND NOT EXISTS (
        SELECT FROM unnest($4::uuid[], $5::text[], $6::date[], $7::timestamptz[])
            AS s(account_id, instrument, day, marked_at)
        WHERE s.account_id = d.account_id AND s.instrument = d.instrument AND s.day = d.day
          AND s.marked_at = d.marked_at
    )
)
"""


async def _marked_since(
    session: AsyncSession, user_id: uuid.UUID, covered: Mapping[uuid.UUID, set[date]], marks: Sequence[Any]
) -> bool:
    """Whether a writer has marked one of the covered (account, IST day)s since the refresh read
    ``marks`` (its marks of those days), as far as this transaction sees now: a few milliseconds,
    where checking the days' executions one by one read 40,000 ids a window."""
    pairs = [(a, d) for a, days in covered.items() for d in days]
    connection = await pgarrays.driver(session)
    return bool(
        await connection.fetchval(
            _MARKED_SINCE_SQL,
            user_id,
            [a for a, _ in pairs],
            [d for _, d in pairs],
            [m.account_id for m in marks],
            [m.instrument for m in marks],
            [m.day for m in marks],
            [m.marked_at for m in marks],
        )
    )


# Both stores send each column as one joined text parameter (tj_trades.pgarrays): asyncpg's
# element-by-element encoding of 17 arrays of a large refresh's trades cost more CPU than the
# INSERT itself.
# A day of an account at a time (projection_rows.charge_days_columns): a day's entries replace
# what is stored of it, and a day without any (NULL) deletes it. A row per day, not per execution:
# 40,000 executions' charges were ~250 ms of PostgreSQL's CPU as rows, ~60-120 ms as days.
_STORE_CHARGE_DAYS = f"""
WITH d AS MATERIALIZED {pgarrays.rows(CHARGE_DAY_COLUMNS, 2)},
emptied AS (
    DELETE FROM trades.charge_days c USING d
    WHERE d.entries IS NULL AND c.user_id = $1 AND c.account_id = d.account_id AND c.day = d.day
)
INSERT INTO trades.charge_days (user_id, account_id, day, entries)
SELECT $1, d.account_id, d.day, d.entries FROM d WHERE d.entries IS NOT NULL
ON CONFLICT (user_id, account_id, day) DO UPDATE SET entries = excluded.entries
"""  # noqa: S608 - constant

_TRADE_NAMES = ", ".join(c for c, _ in TRADE_COLUMNS)
_STORE_TRADES = f"INSERT INTO trades.trade_rows ({_TRADE_NAMES}) SELECT * FROM {pgarrays.rows(TRADE_COLUMNS, 1)} AS r"  # noqa: S608
# The same from arrays, for trades whose instrument has a separator character of its own.
_STORE_TRADES_ARRAYS = (
    f"INSERT INTO trades.trade_rows ({_TRADE_NAMES}) "  # noqa: S608 - constant
    f"SELECT * FROM unnest({', '.join(f'${i + 1}::{t}[]' for i, (_, t) in enumerate(TRADE_COLUMNS))})"
)


async def _store_charges(session: AsyncSession, user_id: uuid.UUID, parts: Iterable[list[str]]) -> None:
    """Store days of charges, each part CHARGE_DAY_COLUMNS (projection_rows.charge_days_columns)."""
    connection = await pgarrays.driver(session)
    for columns in parts:
        if columns[0]:  # not an empty column: any day at all
            await connection.execute(_STORE_CHARGE_DAYS, user_id, *columns)


async def _store_trades(session: AsyncSession, output: TradeOutput) -> None:
    columns, rows, _ = output
    connection = await pgarrays.driver(session)
    if columns is not None:
        await connection.execute(_STORE_TRADES, *columns)
    elif rows:
        await connection.execute(_STORE_TRADES_ARRAYS, *([r[c] for r in rows] for c, _ in TRADE_COLUMNS))


async def _then(first: Written, then: Written | None) -> None:
    await first()
    if then is not None:
        await then()


async def _alongside(computation: Awaitable[R], meanwhile: Written | None) -> R:
    """The computation's result, with ``meanwhile`` (if any) run on the connection while the
    computation's thread works; if ``meanwhile`` fails, the computation is left to end alone."""
    computing = asyncio.ensure_future(computation)
    if meanwhile is not None:
        try:
            await meanwhile()
        except BaseException:
            computing.cancel()  # the thread ends on its own; nothing waits for its result
            raise
    return await computing


async def _recharge(
    session: AsyncSession,
    user_id: uuid.UUID,
    account_id: uuid.UUID,
    days: set[date],
    accounts: Mapping[uuid.UUID, Mapping[str, Any]],
    *,
    store: bool = True,
    meanwhile: Written | None = None,
    encoded: list[list[str]] | None = None,
) -> tuple[set[tuple[uuid.UUID, str]], dict[Any, tradebook.ExecutionCharges], list[dict[str, Any]]]:
    """Re-estimate (and store, unless the caller stores them later) the charges of the account's
    executions on these IST days; the groups whose executions' charges changed, the charges, and
    the executions read (all the account's visible ones of those days).
    ``meanwhile``: writes to make on the connection while the charges are computed (always made).
    ``encoded``: for a caller that stores them later, the days' charges are appended to it
    (CHARGE_DAY_COLUMNS), encoded in the same thread (off the connection's path: see
    _refresh_windows)."""
    first = datetime.combine(min(days), time(), IST)
    last = datetime.combine(max(days) + timedelta(days=1), time(), IST)
    conditions = [
        executions.c.account_id == account_id,
        executions.c.executed_at >= first,
        executions.c.executed_at < last,
    ]
    if len(days) < (max(days) - min(days)).days + 1:  # days between them left out: PostgreSQL skips them
        conditions.append(_EXECUTED_DAY.in_(sorted(days)))
    rows = await _visible_rows(session, user_id, *conditions)
    covered = {account_id: days}
    if not rows:  # what is stored of these days goes (their executions were deleted)
        emptied = charge_days_columns((), {}, covered)
        if meanwhile is not None:
            await meanwhile()
        if encoded is not None:
            encoded.append(emptied)
        elif store:
            await _store_charges(session, user_id, [emptied])
        return set(), {}, []
    # CPU-bound (the charges engine): in a thread, so the service keeps answering meanwhile.
    charges, columns = await _alongside(cpu.compute(_priced, rows, accounts, covered), meanwhile)
    stored = await _stored_entries(session, user_id, [(account_id, d) for d in days])
    if encoded is not None:
        encoded.append(columns)
    changed = await cpu.compute(changed_groups, rows, charges, stored)
    if store:
        await _store_charges(session, user_id, [columns])
    return changed, charges, rows


_STORED_DAYS_SQL = """
SELECT c.entries FROM trades.charge_days c
JOIN unnest($2::uuid[], $3::date[]) AS k(account_id, day) ON c.account_id = k.account_id AND c.day = k.day
WHERE c.user_id = $1
"""


async def _stored_entries(
    session: AsyncSession, user_id: uuid.UUID, days: Iterable[tuple[Any, date]]
) -> dict[str, str]:
    """What is stored of the charges of these (account, IST day)s: each execution's entry, by its
    id as text (projection_rows.day_entries)."""
    keys = list(days)
    connection = await pgarrays.driver(session)
    found = await connection.fetch(_STORED_DAYS_SQL, user_id, [a for a, _ in keys], [d for _, d in keys])
    return day_entries(r[0] for r in found)


def _priced(
    rows: list[dict[str, Any]],
    accounts: Mapping[uuid.UUID, Mapping[str, Any]],
    days: Mapping[Any, Iterable[date]] | None = None,
) -> tuple[dict[Any, tradebook.ExecutionCharges], list[str]]:
    """The executions' charges, and their days' CHARGE_DAY_COLUMNS."""
    charges = tradebook.charges_of(rows, accounts)
    return charges, charge_days_columns(rows, charges, days)


async def _recompute(
    session: AsyncSession,
    user_id: uuid.UUID,
    groups: set[tuple[uuid.UUID, str]] | None,
    accounts: Mapping[uuid.UUID, Mapping[str, Any]],
    *,
    rows: list[dict[str, Any]] | None = None,
    charges: tradebook.Charges | None = None,
    since: Mapping[tuple[uuid.UUID, str], date] | None = None,
    bounds: Mapping[tuple[uuid.UUID, str], datetime] | None = None,
    fresh: Mapping[Any, tradebook.ExecutionCharges] | None = None,
    until: datetime | None = None,
    store: tradebook.Charges | None = None,
    store_columns: list[list[str]] | None = None,
    defer: bool = False,
    read: tuple[list[dict[str, Any]], Mapping[uuid.UUID, set[date]], Sequence[Any]] | None = None,
    meanwhile: Written | None = None,
) -> tuple[Written, Written] | None:
    """Store the round trips of the groups (all with None) from their executions' stored charges
    (``fresh``: charges this transaction has just estimated, which need not be read back), of the
    executions before ``until`` if given (a window of a large refresh: the next one goes on).
    ``store``: charges just estimated and not stored yet, written while the round trips are
    computed (PostgreSQL's work and the computation's then take the two cores at once);
    ``store_columns``: the same, encoded already (:func:`_store_charges`): with ``read``, the
    days it covers.

    With ``since`` (each group's earliest changed IST day), only what follows the group's last
    flat point before that day is recomputed (see :func:`_flat_points`): the trades before it
    are made of unchanged executions and stay as stored. Without, the groups' whole histories.

    With ``defer``, the new trades and the rollup rows are not written: the two writes are
    returned, for the caller to make in that order, the trades before anything reads them again
    (with the round trips in a forked child, the first also stores the charges and makes
    ``meanwhile`` before it waits for the child).
    ``meanwhile``: writes to make on the connection while the round trips are computed (always
    made), after the charges: an earlier window's rollup rows. Should this window's deletions
    leave a day of them short, the day is one this window's rollup writes again: the close
    days of the trades it deletes are its own.

    ``read``: executions this transaction has just read (:func:`_recharge`), and the IST days of
    each account they cover whole: taken from there, not read again (a large refresh read every
    execution twice, ~12 % of its time)."""
    if groups is not None and bounds is None:
        bounds = await _flat_points(session, user_id, since) if since else {}
    gone: list[dict[str, Any]] = []  # executions read earlier (``read``), deleted since
    if rows is None:
        conditions: list[ColumnElement[bool]] = []
        if groups is not None:
            conditions = [
                executions.c.account_id.in_({a for a, _ in groups}),
                executions.c.symbol.in_({i.partition(":")[2] for _, i in groups}),
            ]
            if bounds and len(bounds) == len(groups):  # every group has a flat point: after the first
                conditions.append(executions.c.executed_at > min(bounds.values()))
        if until is not None:
            conditions.append(executions.c.executed_at < until)
        found, gone = (
            (await _visible_rows(session, user_id, *conditions), [])
            if read is None or not read[1]
            else await _rows_reusing(session, user_id, conditions, *read)
        )
        rows = [r for r in found if groups is None or _after_bound(r, groups, bounds)]
    repriced: set[tuple[uuid.UUID, date]] = set()  # (account, IST day)s estimated (and stored) again below
    if charges is None:
        fresh = fresh or {}
        known: dict[Any, tradebook.ExecutionCharges]
        missing: list[dict[str, Any]] = []
        unread = [r for r in rows if r["id"] not in fresh]
        if unread:
            unread_days = {(r["account_id"], ist_day(r["executed_at"])) for r in unread}
            stored = await _stored_entries(session, user_id, unread_days)
            known = await cpu.compute(stored_charges, stored, [r["id"] for r in unread])
            known.update((r["id"], fresh[r["id"]]) for r in rows if r["id"] in fresh)
            missing = [r for r in rows if r["id"] not in known]
        else:  # every row just estimated (a large refresh's window): one pass over them, not three
            known = dict(fresh)
        if missing or gone:
            # Executions committed after this refresh read its marks (their writers marked their
            # days, so the next refresh does them again): estimated now, so that the trades
            # stored are whole. Only theirs: re-reading every charge of the rows cost a large
            # refresh beside a stream of RecordExecutions a tenth of its time. So are the days of
            # executions deleted since: the others' shares of the day's contract note change.
            by_account: dict[uuid.UUID, set[date]] = defaultdict(set)
            for r in missing + gone:
                by_account[r["account_id"]].add(ist_day(r["executed_at"]))
            for account_id, account_days in by_account.items():
                _, recharged, _ = await _recharge(session, user_id, account_id, account_days, accounts)
                known.update(recharged)
                repriced.update((account_id, d) for d in account_days)
            # One deleted since it was read has no charges now: its deleter marked its day.
            rows = [r for r in rows if r["id"] in known]
        charges = known
    # The charges to store: ``store``'s days but those estimated again just above (for an
    # execution committed after the marks were read, or deleted since: stored then, whole),
    # encoded already unless some were.
    parts: list[list[str]] = []
    if store is not None and store_columns is not None and not repriced:
        parts = store_columns
    elif store is not None and read is not None and read[1]:
        cover = {a: {d for d in days if (a, d) not in repriced} for a, days in read[1].items()}
        parts = [await cpu.compute(charge_days_columns, read[0], store, cover)]
    elif store:
        parts = [await cpu.compute(charge_days_columns, rows, store)]
    # CPU-bound: the round trips and their rows. A window followed by others (``defer`` with
    # ``until``), if large (FORK_ROWS), in a forked child, on the other core: the writes (the
    # charges, the ``meanwhile`` ones, the trades once the child is done) are returned, for the
    # caller to make while it reads and prices the next window. Otherwise in a thread, so the
    # service keeps answering, while the connection stores the charges and makes ``meanwhile``.
    child: cpu.Forked[TradeOutput] | None = None
    zone = all_accounts_zone(accounts)  # all accounts' rollup days (projection_rows.day_rollups)
    rolled: DayRollups | None = None  # the window's day rollups, once its trades are made
    if defer and until is not None and FORK_ROWS and len(rows) >= FORK_ROWS and cpu.FORK_AVAILABLE:
        try:
            child = cpu.Forked(trade_output, user_id, rows, accounts, charges, ALL_ACCOUNTS, zone)
        except OSError:  # out of memory or of processes (a container's pid limit): computed here
            log.warning("could not fork for a window's round trips; computing them here", exc_info=True)
    writes: Written | None = functools.partial(
        _then, functools.partial(_store_charges, session, user_id, parts), meanwhile
    )
    output: TradeOutput | None = None
    touched: dict[uuid.UUID, set[datetime]] = defaultdict(set)  # close times whose days changed
    try:
        if child is None:
            output = await _alongside(
                cpu.compute(trade_output, user_id, rows, accounts, charges, ALL_ACCOUNTS, zone), writes
            )
        if groups is not None:
            # One statement whatever the number of groups: each group's trades after its flat
            # point (all of them for a group recomputed whole).
            ordered = sorted(groups, key=lambda g: (str(g[0]), g[1]))
            old = await session.execute(
                text(_DELETE_AFTER).bindparams(
                    bindparam("accounts", type_=ARRAY(PG_UUID(as_uuid=True))),
                    bindparam("names", type_=ARRAY(String())),
                    bindparam("after", type_=ARRAY(DateTime(timezone=True))),
                ),
                {
                    "user_id": user_id,
                    "accounts": [a for a, _ in ordered],
                    "names": [n for _, n in ordered],
                    "after": [(bounds or {}).get(g) for g in ordered],  # None: the whole group
                },
            )
            for account_id, closed_at, status in old.all():
                if closed_at is not None and status == "closed":
                    touched[account_id].add(closed_at)
    except BaseException:
        if child is not None:
            child.cancel()
        raise

    async def write() -> None:
        nonlocal child, writes
        made = output
        if child is not None:
            # The charges and the earlier window's rollup rows first: the caller makes these writes
            # while it prices the next window (tj_trades.projection._refresh_windows).
            assert writes is not None
            await writes()
            try:
                made = await child.result()
            finally:
                child.cancel()
        assert made is not None
        nonlocal rolled
        rolled = made[2]
        storing = asyncio.ensure_future(_store_trades(session, made))
        await asyncio.sleep(0)  # the INSERT on its way
        # The window's executions and charges (the child's arguments, the charges stored) are of
        # no more use: freed now, while PostgreSQL stores the trades, rather than when the caller
        # lets go of this write, between two windows on the connection's path (~60 ms of this
        # thread for 40,000 executions).
        child = None
        writes = None
        await storing

    async def roll_up() -> None:
        # ``touched`` holds the close times of the trades deleted; those of the new ones are the
        # days of ``rolled`` (made with them, by write, which comes first).
        assert rolled is not None
        await _rollup(session, user_id, accounts, None if groups is None else touched, rolled)

    if defer:
        return write, roll_up
    await write()
    await roll_up()
    return None


_DELETE_AFTER = """
DELETE FROM trades.trade_rows t
USING unnest(:accounts, :names, :after) AS g(account_id, instrument, after)
WHERE t.user_id = :user_id AND t.account_id = g.account_id AND t.instrument = g.instrument
  AND (g.after IS NULL OR t.opened_at > g.after)
RETURNING t.account_id, t.closed_at, t.status
"""


def _after_bound(
    row: Mapping[str, Any],
    groups: set[tuple[uuid.UUID, str]],
    bounds: Mapping[tuple[uuid.UUID, str], datetime] | None,
) -> bool:
    group = (row["account_id"], instrument(row["exchange"], row["symbol"]))
    if group not in groups:
        return False
    after = bounds.get(group) if bounds else None
    return after is None or bool(row["executed_at"] > after)


FLAT_POINT_PAGE = 64  # tests shrink it to cross pages


async def _flat_points(
    session: AsyncSession, user_id: uuid.UUID, since: Mapping[tuple[uuid.UUID, str], date]
) -> dict[tuple[uuid.UUID, str], datetime]:
    """Each group's last flat point before its earliest changed day: the latest close time ``c``
    of a stored trade, before the start of that IST day, that no stored trade spans (none opened
    at or before ``c`` closes after it, or is still open). Every execution at or before ``c``
    belongs to a trade that closed by ``c``, and every later one to a trade opened after it, so
    the round trips after ``c`` depend only on the executions after ``c`` (a flip at ``c`` opens
    a trade at ``c``: it spans ``c``, so ``c`` is not a flat point). No changed execution is at
    or before ``c`` (every change marks its day). Groups without one are recomputed whole."""
    found: dict[tuple[uuid.UUID, str], datetime] = {}
    groups = list(since.items())
    if not groups:
        return found
    limits = [datetime.combine(day, time(), IST) for _, day in groups]
    # Every group's first page and earliest opening in one statement (one round trip a group, two
    # queries each, cost a window of 50 groups ~50 ms before its round trips could start).
    first_pages = await (await pgarrays.driver(session)).fetch(
        _FIRST_PAGES_SQL,
        user_id,
        [a for (a, _), _ in groups],
        [n for (_, n), _ in groups],
        limits,
        FLAT_POINT_PAGE,
    )
    for first, ((account_id, name), _) in zip(first_pages, groups, strict=True):
        group = (
            trade_rows.c.user_id == user_id,
            trade_rows.c.account_id == account_id,
            trade_rows.c.instrument == name,
        )
        # The earliest opening of the trades that close at or after the limit (or not yet): one
        # aggregate, however long the history after the changed day.
        earliest_open: datetime | None = first["earliest_open"]
        page: Sequence[Any] = [_Span(o, c) for o, c in zip(first["opened"] or (), first["closed"] or (), strict=True)]
        while True:
            point, earliest_open = _flat_point(page, earliest_open)
            if point is not None:
                found[(account_id, name)] = point
                break
            if len(page) < FLAT_POINT_PAGE:
                break  # no flat point (or no trade at all): the whole history
            # The last close time's trades may go on past the page: all of them count from here.
            cursor = page[-1].closed_at
            tied = await session.scalar(
                select(func.min(trade_rows.c.opened_at)).where(*group, trade_rows.c.closed_at == cursor)
            )
            if tied is not None:
                earliest_open = _earlier(earliest_open, tied)
            page = (
                await session.execute(
                    select(trade_rows.c.opened_at, trade_rows.c.closed_at)
                    .where(*group, trade_rows.c.closed_at < cursor)
                    .order_by(trade_rows.c.closed_at.desc(), trade_rows.c.opened_at.desc())
                    .limit(FLAT_POINT_PAGE)
                )
            ).all()
    return found


# Per group (in the order given): the earliest opening of its trades that close at or after its
# limit (or not yet), and its first page of trades closing before the limit, latest first.
_FIRST_PAGES_SQL = """
SELECT
    (SELECT min(t.opened_at) FROM trades.trade_rows t
     WHERE t.user_id = $1 AND t.account_id = g.account_id AND t.instrument = g.instrument
       AND (t.closed_at IS NULL OR t.closed_at >= g.lim)) AS earliest_open,
    p.opened, p.closed
FROM unnest($2::uuid[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS g(account_id, instrument, lim, n)
LEFT JOIN LATERAL (
    SELECT array_agg(s.opened_at ORDER BY s.closed_at DESC, s.opened_at DESC) AS opened,
           array_agg(s.closed_at ORDER BY s.closed_at DESC, s.opened_at DESC) AS closed
    FROM (
        SELECT t.opened_at, t.closed_at FROM trades.trade_rows t
        WHERE t.user_id = $1 AND t.account_id = g.account_id AND t.instrument = g.instrument AND t.closed_at < g.lim
        ORDER BY t.closed_at DESC, t.opened_at DESC
        LIMIT $5
    ) s
) p ON true
ORDER BY g.n
"""


class _Span(NamedTuple):
    """A stored trade's opening and close (a row of _flat_points' pages)."""

    opened_at: datetime
    closed_at: datetime


def _flat_point(page: Sequence[Any], earliest_open: datetime | None) -> tuple[datetime | None, datetime | None]:
    """:func:`_flat_points` over one page of trades closing before ``limit`` (latest first): the
    flat point if the page holds it, and the earliest opening of the trades closing after the
    last candidate seen (to go on with the next page)."""
    i = 0
    while i < len(page):
        closed: datetime = page[i].closed_at
        # A candidate: every trade closing after it is counted in earliest_open; the ones closing
        # at the same instant do not span it.
        if earliest_open is None or earliest_open > closed:
            return closed, earliest_open
        while i < len(page) and page[i].closed_at == closed:
            earliest_open = _earlier(earliest_open, page[i].opened_at)
            i += 1
    return None, earliest_open


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


# The rollup rows of all of a user's accounts together (in the zone the summary buckets them in).
ALL_ACCOUNTS = uuid.UUID(int=0)


def all_accounts_zone(accounts: Mapping[uuid.UUID, Mapping[str, Any]]) -> str:
    return tradebook.metrics_config(accounts, None).timezone


# The closed trades a rollup is made of, between two close instants when given.
_CLOSED_TRADES_SQL = """
SELECT trade_id, account_id, instrument, opened_at, closed_at, gross_pnl, charges, net_pnl
FROM trades.trade_rows
WHERE user_id = $1 AND status = 'closed' AND closed_at IS NOT NULL
  AND ($2::timestamptz IS NULL OR closed_at >= $2) AND ($3::timestamptz IS NULL OR closed_at < $3)
"""
_ROLLUP_COLUMNS = (
    "user_id",
    "account_id",
    "day",
    "zone",
    "trade_count",
    "win_count",
    "loss_count",
    "breakeven_count",
    "gross_pnl",
    "charges",
    "net_pnl",
    "sum_wins",
    "sum_losses",
    "largest_win",
    "largest_loss",
    "first_kind",
    "first_run",
    "last_kind",
    "last_run",
    "best_win_run",
    "best_loss_run",
    "segments",
)


async def _rollup(
    session: AsyncSession,
    user_id: uuid.UUID,
    accounts: Mapping[uuid.UUID, Mapping[str, Any]],
    touched: dict[uuid.UUID, set[datetime]] | None,
    ready: DayRollups | None = None,
) -> None:
    """Recompute the rollup rows of the days of the touched close times (all with None), and of
    the days ``ready`` holds: each account's (its time zone) and all accounts' together (the
    summary's zone).

    ``ready``: the day rollups of a window's new trades, made with them (projection_rows.
    day_rollups; ``touched`` then holds the close times of the trades the window deleted): if the
    closed trades stored on every one of those days are as many as ``ready`` holds (all stored),
    they are these, and the rows are made from ``ready`` without reading the trades back (~0.2 s
    a window of 20,000 trades, on the connection's path).

    Built for a whole history (``rebuild_rollups``: 100,000 trades in about a second): the closed
    trades are read once, straight from the driver, sorted once in close order, and the rows are
    written with COPY."""
    await session.execute(delete(summary_snapshots).where(summary_snapshots.c.user_id == user_id))
    zone = all_accounts_zone(accounts)
    stale_zone = await session.scalar(
        select(func.count()).where(
            daily_rollups.c.user_id == user_id,
            daily_rollups.c.account_id == ALL_ACCOUNTS,
            daily_rollups.c.zone != zone,
        )
    )
    if touched is None or stale_zone:
        touched = None
    scopes: list[tuple[uuid.UUID, str, set[date] | None]] = []
    if touched is None:
        scopes = [(a, str(s["timezone"]), None) for a, s in accounts.items()]
        scopes.append((ALL_ACCOUNTS, zone, None))
    else:
        days_of: dict[uuid.UUID, set[date]] = defaultdict(set)
        for account_id, instants in touched.items():
            account_zone = projection_rows.account_zone(accounts, account_id)
            days_of[account_id] |= {t.astimezone(ZoneInfo(account_zone)).date() for t in instants}
            days_of[ALL_ACCOUNTS] |= {t.astimezone(ZoneInfo(zone)).date() for t in instants}
        for scope, day in ready or ():
            days_of[scope].add(day)
        every = days_of.pop(ALL_ACCOUNTS, set())
        scopes = [(a, projection_rows.account_zone(accounts, a), days) for a, days in days_of.items()]
        scopes.append((ALL_ACCOUNTS, zone, every))  # last: with one account, it reuses the account's rows
    scopes = [scope for scope in scopes if scope[2] is None or scope[2]]
    if not scopes:
        return
    # One read covers every scope: all closed trades, or those closing between the earliest and
    # the latest touched day (widened by a day each side: the scopes' zones differ).
    low = high = None
    if all(days is not None for _, _, days in scopes):
        first_day = min(min(days) for _, _, days in scopes if days)
        last_day = max(max(days) for _, _, days in scopes if days)
        low = datetime.combine(first_day - timedelta(days=1), time(), IST)
        high = datetime.combine(last_day + timedelta(days=2), time(), IST)
    connection = await pgarrays.driver(session)
    if ready is not None and all(days is not None for _, _, days in scopes):
        zones = sorted({scope_zone for _, scope_zone, _ in scopes})
        stored = await connection.fetch(_CLOSED_COUNTS_SQL, user_id, low, high, zones)
        if _counts_match(stored, scopes, ready):
            for account_id, scope_zone, days in scopes:
                assert days is not None
                composites = [(d, ready[(account_id, d)][1]) for d in sorted(days) if (account_id, d) in ready]
                records = _rollup_records(user_id, account_id, scope_zone, composites)
                await _replace_rollup_rows(connection, user_id, account_id, days, records)
            return
    closed = await connection.fetch(_CLOSED_TRADES_SQL, user_id, low, high)
    closed.sort(key=close_order)
    made: dict[tuple[str, frozenset[date] | None], list[tuple[Any, ...]]] = {}
    (only,) = accounts if len(accounts) == 1 else (None,)
    single = only is not None and all(r["account_id"] == only for r in closed)
    for account_id, scope_zone, days in scopes:
        tz = ZoneInfo(scope_zone)
        # With one account, all accounts' rows are that account's rows (when the zones agree).
        alone = account_id == ALL_ACCOUNTS and single
        reused = made.get((scope_zone, None if days is None else frozenset(days))) if alone else None
        per_day: dict[date, list[Any]] = defaultdict(list)
        for r in closed if reused is None else ():
            if account_id != ALL_ACCOUNTS and r["account_id"] != account_id:
                continue
            day = r["closed_at"].astimezone(tz).date()
            if days is None or day in days:
                per_day[day].append(r)  # in close order: ``closed`` is
        if reused is not None:
            records = [(user_id, ALL_ACCOUNTS, *record[2:]) for record in reused]
        else:
            composites = [(day, day_composite(trades)) for day, trades in sorted(per_day.items())]
            records = _rollup_records(user_id, account_id, scope_zone, composites)
        await _replace_rollup_rows(connection, user_id, account_id, days, records)
        if single and account_id == only:
            made[(scope_zone, None if days is None else frozenset(days))] = records


def _rollup_records(
    user_id: uuid.UUID, account_id: uuid.UUID, zone: str, composites: Sequence[tuple[date, Mapping[str, Any]]]
) -> list[tuple[Any, ...]]:
    """A scope's rollup rows (``_ROLLUP_COLUMNS``) of its days' composites."""
    records = []
    for day, composite in composites:
        row = {"user_id": user_id, "account_id": account_id, "day": day, "zone": zone, **composite}
        row["segments"] = json.dumps(composite["segments"])
        records.append(tuple(row[c] for c in _ROLLUP_COLUMNS))
    return records


async def _replace_rollup_rows(
    connection: Any, user_id: uuid.UUID, account_id: uuid.UUID, days: set[date] | None, records: list[tuple[Any, ...]]
) -> None:
    """Replace the scope's rollup rows of these days (all with None) by ``records``."""
    if days is None:
        await connection.execute(
            "DELETE FROM trades.daily_rollups WHERE user_id = $1 AND account_id = $2", user_id, account_id
        )
    else:
        await connection.execute(
            "DELETE FROM trades.daily_rollups WHERE user_id = $1 AND account_id = $2 AND day = ANY($3::date[])",
            user_id,
            account_id,
            list(days),
        )
    if records:
        await connection.copy_records_to_table(
            "daily_rollups", schema_name="trades", columns=_ROLLUP_COLUMNS, records=records
        )


# The close instants (and accounts) of the closed trades between two instants: what the rollup
# counts to know whether a window's day rollups (``ready``) are whole.
# How many closed trades close on each day, in each zone, by account (the days PostgreSQL buckets
# them in: a day Python would bucket otherwise only fails the match, see _counts_match).
_CLOSED_COUNTS_SQL = """
SELECT t.account_id, z.zone, (t.closed_at AT TIME ZONE z.zone)::date AS day, count(*) AS n
FROM trades.trade_rows t CROSS JOIN unnest($4::text[]) AS z(zone)
WHERE t.user_id = $1 AND t.status = 'closed' AND t.closed_at IS NOT NULL AND t.closed_at >= $2 AND t.closed_at < $3
GROUP BY 1, 2, 3
"""


def _counts_match(
    stored: Sequence[Any],
    scopes: Sequence[tuple[uuid.UUID, str, set[date] | None]],
    ready: DayRollups,
) -> bool:
    """Whether, on each scope's days, the closed trades stored (``_CLOSED_COUNTS_SQL``'s counts)
    are as many as ``ready`` holds. Counted by PostgreSQL: reading 20,000 close times a window and
    bucketing them here cost the refresher's thread ~25 ms."""
    counted: dict[tuple[str, uuid.UUID, date], int] = defaultdict(int)
    for r in stored:
        counted[(r["zone"], r["account_id"], r["day"])] += r["n"]
        counted[(r["zone"], ALL_ACCOUNTS, r["day"])] += r["n"]
    for account_id, scope_zone, days in scopes:
        assert days is not None
        for d in days:
            expected = ready[(account_id, d)][0] if (account_id, d) in ready else 0
            if counted.get((scope_zone, account_id, d), 0) != expected:
                return False
    return True


async def rebuild_rollups(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Recompute the user's daily rollups (every account's and all accounts') from the stored round
    trips. The round trips themselves are brought up to date first (``refresh``); ``rebuild``
    recomputes those too, from the executions."""
    await refresh(session, user_id)  # which takes the user's lock (held to the transaction's end)
    accounts = await repository.account_settings(session, user_id)
    await session.execute(delete(daily_rollups).where(daily_rollups.c.user_id == user_id))
    await _rollup(session, user_id, accounts, None)


_CHECKSUM_SQL = """
SELECT
  (SELECT count(*) FROM trades.trade_rows WHERE user_id = :user_id) AS trades,
  (SELECT count(*) FROM trades.daily_rollups WHERE user_id = :user_id) AS days,
  md5(coalesce((
    SELECT string_agg(concat_ws('|', trade_id, account_id, instrument, side, status, opened_at, closed_at,
                                close_day, trim_scale(quantity), trim_scale(entry_price), trim_scale(multiplier),
                                trim_scale(gross_pnl), trim_scale(charges), trim_scale(net_pnl), charges_source,
                                charges_breakdown::jsonb::text),
                      ';' ORDER BY trade_id)
    FROM trades.trade_rows WHERE user_id = :user_id), '')
  || '#' || coalesce((
    SELECT string_agg(concat_ws('|', account_id, day, trade_count, win_count, loss_count, breakeven_count,
                                trim_scale(gross_pnl), trim_scale(charges), trim_scale(net_pnl)),
                      ';' ORDER BY account_id, day)
    FROM trades.daily_rollups WHERE user_id = :user_id), '')) AS checksum
"""


async def checksum(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """A fingerprint of the user's stored projection: equal projections, equal checksums."""
    row = (await session.execute(text(_CHECKSUM_SQL), {"user_id": user_id})).one()
    return {"trades": int(row.trades), "days": int(row.days), "checksum": row.checksum}


def connect_args(engine: AsyncEngine) -> tuple[list[Any], dict[str, Any]]:
    """``asyncpg.connect``'s arguments for the engine's database (a connection of its own)."""
    args, options = engine.dialect.create_connect_args(engine.url)
    accepted = inspect.signature(asyncpg.connect).parameters
    return list(args), {k: v for k, v in options.items() if k in accepted}


async def dirty_users(session: AsyncSession, limit: int = 100, skip: Sequence[uuid.UUID] = ()) -> list[uuid.UUID]:
    """Users with marks, but for those in ``skip``."""
    query = select(projection_dirty.c.user_id).distinct().limit(limit)
    if skip:
        query = query.where(projection_dirty.c.user_id != all_(bindparam(None, list(skip), type_=ARRAY(PG_UUID()))))
    rows = await session.execute(query)
    return list(rows.scalars())


class Refresher:
    """Keeps the projection current in the background, so reads rarely have work to do.

    Every ``interval`` seconds it refreshes the users with marks, each at most once in
    ``user_interval`` seconds: a user's first write after a quiet spell is projected at the next
    pass, a stream of writes every ``user_interval`` seconds with all that came meanwhile. A
    refresh costs about as much for one new fill as for many (the day's charges, the rollup, the
    summary), so a trader sending a fill a second no longer costs a refresh a second: under 50
    single-fill writes a second from 20 users, the refresher used ~30 % of a core."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        interval: float = 1.0,
        after: Callable[[AsyncSession, uuid.UUID], Awaitable[None]] | None = None,
        user_interval: float = 0.0,
        clock: Callable[[], float] = time_monotonic,
        listen: bool = False,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.interval = interval
        self.after = after  # runs in the refresh's transaction when something was recomputed
        self.user_interval = user_interval
        self.clock = clock
        self.listen = listen  # for the marks' notifications (NOTIFY_CHANNEL), besides polling
        self.listening = False
        self._started: dict[uuid.UUID, float] = {}  # when each recent refresh of a user started
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="projection-refresher"))
        if self.listen:
            self._tasks.append(asyncio.create_task(self._listen(), name="projection-listener"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def run_once(self) -> list[uuid.UUID]:
        """One pass: refresh the users with marks but for those refreshed less than
        ``user_interval`` seconds ago; the users refreshed."""
        now = self.clock()
        self._started = {u: at for u, at in self._started.items() if now - at < self.user_interval}
        async with self.sessionmaker() as session:
            users = await dirty_users(session, skip=list(self._started))
        for user_id in users:
            started = self.clock()
            self._started[user_id] = started
            # A large refresh keeps hundreds of thousands of rows, charges and trades alive at
            # once; the collector's full passes over them, between the computations that already
            # pause it, cost ~10 % of a 200,000-execution import's refresh (bench.ingest).
            with cpu.collector_paused():
                async with self.sessionmaker() as session, session.begin():
                    if await refresh(session, user_id) and self.after is not None:
                        await self.after(session, user_id)
            took = self.clock() - started
            if took > 1.0:
                log.warning(
                    "slow projection refresh",
                    extra={"fields": {"user_id": str(user_id), "seconds": round(took, 3)}},
                )
        return users

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # marks committed from now on wake the next wait
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("projection refresh failed")
            # Woken by a notification, or after ``interval`` seconds at the latest; never more
            # often than every WAKE_GAP seconds, however fast writers commit.
            await asyncio.sleep(WAKE_GAP)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(self.interval - WAKE_GAP, 0.0))

    async def _listen(self) -> None:
        """Wake the refresher when a writer commits marks (trades.projection_dirty's trigger
        notifies NOTIFY_CHANNEL), on a connection of its own. Should it fail or drop, polling
        goes on and it connects again LISTEN_RETRY seconds later."""
        args, options = connect_args(self.sessionmaker.kw["bind"])
        options["server_settings"] = {"application_name": "tj-trades-projection-listener"}
        while True:
            try:
                await self._listen_once(args, options)
                log.warning("projection listener's connection closed; polling until it is back")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("projection listener failed; polling until it is back", exc_info=True)
            await asyncio.sleep(LISTEN_RETRY)

    async def _listen_once(self, args: list[Any], options: dict[str, Any]) -> None:
        """Listen on one connection until it closes."""
        connection = await asyncpg.connect(*args, **options)
        try:
            closed = asyncio.Event()
            connection.add_termination_listener(lambda _: closed.set())
            await connection.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            self.listening = True
            self._wake.set()  # whatever was marked before this listened
            while not connection.is_closed():  # checked now and then too, should the callback not come
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), LISTEN_RETRY)
        finally:
            self.listening = False
            connection.terminate()
