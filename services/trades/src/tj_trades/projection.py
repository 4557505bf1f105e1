"""The stored round-trip projection (``trade_rows``) and the daily rollup (``daily_rollups``).

Round trips are a pure function of an (account, instrument)'s visible executions, and charges too
(brokerage per order, DP charge per scrip and day). So every write marks the groups it touches in
``projection_dirty``, in its own transaction; :func:`refresh` recomputes the dirty groups of a user
(before the projection is read, and in the background) and the rollup rows of the days they
touch. :func:`rebuild` recomputes a user's whole projection from the executions, and
:func:`checksum` fingerprints it, so an operator can prove the live projection equal to a rebuilt
one (``python -m tj_trades.ops rebuild-rollups``).

Concurrency: :func:`refresh` locks the dirty rows it works on (``FOR UPDATE``). A write that marks
a group while it is being recomputed waits for that lock and marks it again afterwards, so a
change is never lost; two refreshes of one user serialise on the same rows.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tj_trades import repository, tradebook
from tj_trades.models import daily_rollups, executions, projection_dirty, trade_rows

log = logging.getLogger(__name__)

Group = tuple[uuid.UUID, uuid.UUID, str]  # user, account, "<exchange>:<symbol>"


def instrument(exchange: str, symbol: str) -> str:
    return f"{exchange}:{symbol}"


async def mark(session: AsyncSession, groups: Iterable[Group]) -> None:
    """Mark groups stale (in the writer's transaction), in a fixed order against deadlocks."""
    unique = sorted(set(groups), key=lambda g: (str(g[0]), str(g[1]), g[2]))
    if not unique:
        return
    statement = pg_insert(projection_dirty).values(
        [{"user_id": u, "account_id": a, "instrument": i} for u, a, i in unique]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[projection_dirty.c.user_id, projection_dirty.c.account_id, projection_dirty.c.instrument],
            set_={"marked_at": func.now()},
        )
    )


def groups_of_rows(user_id: uuid.UUID, rows: Iterable[dict[str, Any]]) -> set[Group]:
    return {(user_id, r["account_id"], instrument(r["exchange"], r["symbol"])) for r in rows}


_MARK_EXECUTIONS = (
    "INSERT INTO trades.projection_dirty (user_id, account_id, instrument) "
    "SELECT DISTINCT user_id, account_id, exchange || ':' || symbol FROM trades.executions WHERE {column} = :v "
    "ON CONFLICT (user_id, account_id, instrument) DO UPDATE SET marked_at = now()"
)
_MARK_TRADES = (
    "INSERT INTO trades.projection_dirty (user_id, account_id, instrument) "
    "SELECT DISTINCT user_id, account_id, instrument FROM trades.trade_rows WHERE account_id = :v "
    "ON CONFLICT (user_id, account_id, instrument) DO UPDATE SET marked_at = now()"
)
MARK_SQL = {
    "import_id": [_MARK_EXECUTIONS.format(column="import_id")],
    "account_id": [_MARK_EXECUTIONS.format(column="account_id"), _MARK_TRADES],
}


async def mark_where(session: AsyncSession, column: Literal["import_id", "account_id"], value: uuid.UUID) -> None:
    """Mark every group of an import, or of an account (its executions and its stored trades)."""
    for statement in MARK_SQL[column]:
        await session.execute(text(statement), {"v": value})


async def refresh(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Recompute the user's dirty groups; the number of groups recomputed."""
    locked = (
        await session.execute(
            select(projection_dirty.c.account_id, projection_dirty.c.instrument)
            .where(projection_dirty.c.user_id == user_id)
            .order_by(projection_dirty.c.account_id, projection_dirty.c.instrument)
            .with_for_update()
        )
    ).all()
    groups = {(r.account_id, r.instrument) for r in locked}
    if not groups:
        return 0
    await _recompute(session, user_id, groups)
    await session.execute(
        delete(projection_dirty).where(
            projection_dirty.c.user_id == user_id,
            tuple_(projection_dirty.c.account_id, projection_dirty.c.instrument).in_(list(groups)),
        )
    )
    return len(groups)


async def rebuild(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Recompute the user's whole projection from the executions."""
    await session.execute(
        select(projection_dirty.c.instrument).where(projection_dirty.c.user_id == user_id).with_for_update()
    )
    await session.execute(delete(trade_rows).where(trade_rows.c.user_id == user_id))
    await session.execute(delete(daily_rollups).where(daily_rollups.c.user_id == user_id))
    await _recompute(session, user_id, None)
    await session.execute(delete(projection_dirty).where(projection_dirty.c.user_id == user_id))


async def _recompute(session: AsyncSession, user_id: uuid.UUID, groups: set[tuple[uuid.UUID, str]] | None) -> None:
    query = select(*repository.EXECUTION_COLUMNS).where(executions.c.user_id == user_id, repository.visible(user_id))
    if groups is not None:
        query = query.where(
            executions.c.account_id.in_({a for a, _ in groups}),
            executions.c.symbol.in_({i.partition(":")[2] for _, i in groups}),
        )
    rows = [
        dict(r._mapping)
        for r in (await session.execute(query)).all()
        if groups is None or (r.account_id, instrument(r.exchange, r.symbol)) in groups
    ]
    accounts = await repository.account_settings(session, user_id)
    trades, sources = tradebook.round_trips(rows, accounts)

    touched: dict[uuid.UUID, set[date]] = defaultdict(set)
    if groups is not None:
        stale = tuple_(trade_rows.c.account_id, trade_rows.c.instrument).in_(list(groups))
        old = await session.execute(
            delete(trade_rows)
            .where(trade_rows.c.user_id == user_id, stale)
            .returning(trade_rows.c.account_id, trade_rows.c.close_day)
        )
        for account_id, day in old.all():
            if day is not None:
                touched[account_id].add(day)
    zones = {a: ZoneInfo(s["timezone"]) for a, s in accounts.items()}
    new_rows = []
    for trade in trades:
        account_id = uuid.UUID(str(trade.account_id))
        close_day = None
        if trade.closed_at is not None and str(trade.status) == "closed":
            close_day = trade.closed_at.astimezone(zones.get(account_id, ZoneInfo("Asia/Kolkata"))).date()
            touched[account_id].add(close_day)
        new_rows.append(
            {
                "trade_id": trade.id,
                "user_id": user_id,
                "account_id": account_id,
                "instrument": trade.symbol,
                "side": str(trade.side),
                "status": str(trade.status),
                "opened_at": trade.opened_at,
                "closed_at": trade.closed_at,
                "close_day": close_day,
                "quantity": trade.quantity,
                "entry_price": trade.average_entry_price,
                "multiplier": trade.multiplier,
                "gross_pnl": trade.gross_pnl,
                "charges": trade.charges,
                "net_pnl": trade.net_pnl,
                "charges_source": sources[trade.id],
            }
        )
    for start in range(0, len(new_rows), 5000):
        await session.execute(trade_rows.insert(), new_rows[start : start + 5000])
    await _rollup(session, user_id, None if groups is None else touched)


_ROLLUP_SQL = """
INSERT INTO trades.daily_rollups
    (user_id, account_id, day, trade_count, win_count, loss_count, breakeven_count, gross_pnl, charges, net_pnl)
SELECT user_id, account_id, close_day, count(*),
       count(*) FILTER (WHERE net_pnl > 0), count(*) FILTER (WHERE net_pnl < 0),
       count(*) FILTER (WHERE net_pnl = 0), sum(gross_pnl), sum(charges), sum(net_pnl)
FROM trades.trade_rows
WHERE user_id = :user_id AND status = 'closed' {days}
GROUP BY user_id, account_id, close_day
"""


async def _rollup(session: AsyncSession, user_id: uuid.UUID, touched: dict[uuid.UUID, set[date]] | None) -> None:
    """Recompute the rollup rows of the touched days (all of the user's with None)."""
    if touched is None:
        await session.execute(delete(daily_rollups).where(daily_rollups.c.user_id == user_id))
        await session.execute(text(_ROLLUP_SQL.format(days="")), {"user_id": user_id})
        return
    for account_id, days in touched.items():
        if not days:
            continue
        await session.execute(
            delete(daily_rollups).where(
                daily_rollups.c.user_id == user_id,
                daily_rollups.c.account_id == account_id,
                daily_rollups.c.day.in_(days),
            )
        )
        await session.execute(
            text(_ROLLUP_SQL.format(days="AND account_id = :account_id AND close_day = ANY(:days)")),
            {"user_id": user_id, "account_id": account_id, "days": sorted(days)},
        )


_CHECKSUM_SQL = """
SELECT
  (SELECT count(*) FROM trades.trade_rows WHERE user_id = :user_id) AS trades,
  (SELECT count(*) FROM trades.daily_rollups WHERE user_id = :user_id) AS days,
  md5(coalesce((
    SELECT string_agg(concat_ws('|', trade_id, account_id, instrument, side, status, opened_at, closed_at,
                                close_day, trim_scale(quantity), trim_scale(entry_price), trim_scale(multiplier),
                                trim_scale(gross_pnl), trim_scale(charges), trim_scale(net_pnl), charges_source),
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


async def dirty_users(session: AsyncSession, limit: int = 100) -> list[uuid.UUID]:
    rows = await session.execute(select(projection_dirty.c.user_id).distinct().limit(limit))
    return list(rows.scalars())


class Refresher:
    """Keeps the projection current in the background, so reads rarely have work to do."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], interval: float = 1.0) -> None:
        self.sessionmaker = sessionmaker
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="projection-refresher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                async with self.sessionmaker() as session:
                    users = await dirty_users(session)
                for user_id in users:
                    async with self.sessionmaker() as session, session.begin():
                        await refresh(session, user_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("projection refresh failed")
            await asyncio.sleep(self.interval)
