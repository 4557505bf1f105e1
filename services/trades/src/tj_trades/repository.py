"""All SQL of the trades service."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, any_, bindparam, exists, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.contracts import trades as contract
from tj_common.db import observe_query
from tj_trades import pgarrays
from tj_trades.models import accounts, executions, imports, trade_annotations, trade_tags

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
    executions.c.charges,
    executions.c.currency,
    executions.c.broker_trade_id,
    executions.c.broker_order_id,
    executions.c.product,
    executions.c.recorded_at,
)


async def owned_accounts(
    session: AsyncSession, pairs: set[tuple[uuid.UUID, uuid.UUID]]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """The (user, account) pairs where the account exists and belongs to the user."""
    if not pairs:
        return set()
    rows = await session.execute(
        select(accounts.c.user_id, accounts.c.id).where(tuple_(accounts.c.user_id, accounts.c.id).in_(list(pairs)))
    )
    return {(r.user_id, r.id) for r in rows}


ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.user_id,
    accounts.c.name,
    accounts.c.broker,
    accounts.c.base_currency,
    accounts.c.timezone,
    accounts.c.long_only,
    accounts.c.brokerage_plan,
    accounts.c.starting_balance,
    accounts.c.commission_schedule,
    accounts.c.created_at,
)


async def accounts_by_id(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not ids:
        return {}
    rows = await session.execute(select(*ACCOUNT_COLUMNS).where(accounts.c.id.in_(list(ids))))
    return {r.id: dict(r._mapping) for r in rows}


async def list_accounts(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(*ACCOUNT_COLUMNS).where(accounts.c.user_id == user_id).order_by(accounts.c.created_at, accounts.c.id)
    )
    return [dict(r._mapping) for r in rows]


async def account_named(session: AsyncSession, user_id: uuid.UUID, name: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        select(accounts.c.id).where(accounts.c.user_id == user_id, accounts.c.name == name)
    )
    return found


async def insert_account(session: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
    row = (await session.execute(accounts.insert().values(**values).returning(*ACCOUNT_COLUMNS))).one()
    return dict(row._mapping)


async def update_account(session: AsyncSession, account_id: uuid.UUID, values: dict[str, Any]) -> dict[str, Any]:
    query = accounts.update().where(accounts.c.id == account_id).returning(*ACCOUNT_COLUMNS)
    query = query.values(**values) if values else query.values(name=accounts.c.name)
    return dict((await session.execute(query)).one()._mapping)


async def delete_account(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Delete an account without executions, and the records of its (discarded or reverted, hence
    empty) imports."""
    await session.execute(imports.delete().where(imports.c.account_id == account_id))
    await session.execute(accounts.delete().where(accounts.c.id == account_id))


async def account_has_executions(session: AsyncSession, account_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(exists().where(executions.c.account_id == account_id))))


async def account_settings(session: AsyncSession, user_id: uuid.UUID) -> dict[uuid.UUID, dict[str, Any]]:
    """What trade math needs of each of the user's accounts: long-only, brokerage plan,
    commission schedule, time zone and starting balance."""
    rows = await session.execute(
        select(
            accounts.c.id,
            accounts.c.long_only,
            accounts.c.brokerage_plan,
            accounts.c.commission_schedule,
            accounts.c.timezone,
            accounts.c.starting_balance,
        ).where(accounts.c.user_id == user_id)
    )
    return {r.id: dict(r._mapping) for r in rows}


async def recorded_broker_trade_ids(
    session: AsyncSession, pairs: set[tuple[uuid.UUID, str]]
) -> set[tuple[uuid.UUID, str]]:
    """The (account, broker_trade_id) pairs already stored.

    Per account, the ids as one array, with the partial unique indexes' predicates spelt out: a
    row-valued IN list let the planner prove neither, and it scanned the account's executions for
    every RecordExecutions (most of a 1,000-fill command's time once the account was large)."""
    if not pairs:
        return set()
    by_account: dict[uuid.UUID, set[str]] = defaultdict(set)
    for account_id, trade_id in pairs:
        by_account[account_id].add(trade_id)
    found: set[tuple[uuid.UUID, str]] = set()
    for account_id, trade_ids in by_account.items():
        ids = bindparam(None, sorted(trade_ids), type_=ARRAY(String()))
        direct = await session.execute(
            select(executions.c.broker_trade_id).where(
                executions.c.account_id == account_id,
                executions.c.broker_trade_id == any_(ids),
                executions.c.broker_trade_id.is_not(None),
                executions.c.import_id.is_(None),
            )
        )
        found.update((account_id, t) for t in direct.scalars())
        # An imported execution with a broker trade id has the fingerprint "t:<id>" (found through
        # the index on import_id, fingerprint; migration trades_0017).
        committed = list(
            (
                await session.execute(
                    select(imports.c.import_id).where(
                        imports.c.account_id == account_id, imports.c.status == "committed"
                    )
                )
            ).scalars()
        )
        if committed:
            keys = sorted(contract.TRADE_KEY + t for t in trade_ids)
            imported = await session.execute(
                select(executions.c.broker_trade_id).where(
                    executions.c.import_id == any_(bindparam(None, committed, type_=ARRAY(PG_UUID(as_uuid=True)))),
                    executions.c.fingerprint == any_(bindparam(None, keys, type_=ARRAY(String()))),
                    executions.c.import_id.is_not(None),
                    executions.c.fingerprint.is_not(None),
                )
            )
            found.update((account_id, t) for t in imported.scalars())
    return found


def visible(user_id: uuid.UUID) -> ColumnElement[bool]:
    """The user's executions that queries see: recorded directly, or of a committed import
    (staged, discarded and reverted imports' rows are invisible)."""
    committed = select(imports.c.import_id).where(imports.c.user_id == user_id, imports.c.status == "committed")
    return or_(executions.c.import_id.is_(None), executions.c.import_id.in_(committed))


class DefaultAccounts:
    """Each user's default account id, created on first use. Cached in the process: the account
    named "Default" can be neither renamed nor deleted (the account handlers refuse with 409), so
    a cached id never goes stale on any replica (the FK on executions would still reject one, and
    the batch would be retried message by message)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self.cache: dict[uuid.UUID, uuid.UUID] = {}

    async def resolve(self, session: AsyncSession, users: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        missing = [u for u in users if u not in self.cache]
        if missing:
            await session.execute(
                pg_insert(accounts)
                .values([{"id": uuid.uuid4(), "user_id": u, "name": DEFAULT_ACCOUNT} for u in missing])
                .on_conflict_do_nothing(constraint="uq_accounts_user_name")
            )
            rows = await session.execute(
                select(accounts.c.user_id, accounts.c.id).where(
                    accounts.c.user_id.in_(missing), accounts.c.name == DEFAULT_ACCOUNT
                )
            )
            if len(self.cache) + len(missing) > self.capacity:
                self.cache.clear()
            # Cached only once the transaction that may have created them commits would be
            # stricter; an id that rolled back is caught by the FK and retried uncached.
            for row in rows:
                self.cache[row.user_id] = row.id
        return {u: self.cache[u] for u in users}


# The columns a recorded execution is inserted with (recorded_at: the transaction's now()).
_RECORD_COLUMNS = (
    ("id", "uuid"),
    ("user_id", "uuid"),
    ("account_id", "uuid"),
    ("command_id", "uuid"),
    ("symbol", "text"),
    ("exchange", "text"),
    ("segment", "text"),
    ("side", "text"),
    ("quantity", "numeric"),
    ("price", "numeric"),
    ("fees", "numeric"),
    ("charges", "jsonb"),
    ("currency", "text"),
    ("executed_at", "timestamptz"),
    ("broker_trade_id", "text"),
    ("broker_order_id", "text"),
    ("product", "text"),
)


def mark_selected(select: str) -> str:
    """The statement that marks the projection groups (user, account, instrument, day) a SELECT
    gives stale (tj_trades.projection)."""
    return (
        f"INSERT INTO trades.projection_dirty (user_id, account_id, instrument, day) {select} "
        "ON CONFLICT (user_id, account_id, instrument, day) DO UPDATE SET marked_at = clock_timestamp()"
    )


def groups_of(source: str, *, ordered: bool = False) -> str:
    """The projection groups of the execution rows ``source`` (a table, and its WHERE) gives.
    ``ordered``: in the order ``projection.mark`` takes them (UUIDs as their text, instruments
    by code point), against deadlocks between writers marking the same groups."""
    groups = (
        "SELECT DISTINCT user_id, account_id, exchange || ':' || symbol AS instrument, "  # noqa: S608
        f"(executed_at AT TIME ZONE 'Asia/Kolkata')::date AS day FROM {source}"
    )
    if not ordered:
        return groups
    return f'SELECT * FROM ({groups}) g ORDER BY user_id, account_id, instrument COLLATE "C", day'  # noqa: S608


# Data-modifying WITHs run to completion whatever the outer query reads: the rows are stored and
# their projection groups marked in one round trip. now() is what recorded_at defaults to (the
# transaction's start), so the stored rows need no RETURNING of their own.
_RECORD_SQL = (
    f"WITH stored AS (INSERT INTO trades.executions ({', '.join(c for c, _ in _RECORD_COLUMNS)}) "  # noqa: S608
    f"SELECT * FROM {pgarrays.rows(_RECORD_COLUMNS, 1)} AS r "
    "RETURNING user_id, account_id, exchange, symbol, executed_at), "
    f"marked AS ({mark_selected(groups_of('stored', ordered=True))}) "
    "SELECT now()"
)
_MARK_STORED = text(mark_selected(groups_of("trades.executions WHERE id = ANY(:ids)", ordered=True)))
_SCALE = Decimal("1e-8")  # NUMERIC(20, 8)
_FREE_TEXT = ("broker_trade_id", "broker_order_id", "symbol", "exchange", "currency")


async def insert_executions(session: AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert execution rows (as handlers build them: the columns of ``_RECORD_COLUMNS``) and mark
    their projection groups; the rows as stored, as ``EXECUTION_COLUMNS`` plus ``command_id``
    would read them back.

    Each column travels as one joined text parameter (tj_trades.pgarrays): a 1,000-fill command's
    insert costs ~2 ms of CPU instead of ~25 ms through SQLAlchemy's multi-row VALUES. A value
    with a separator character of its own (possible only in a free-text id) sends the rows the
    ordinary way."""
    if not rows:
        return []
    if not all(pgarrays.clean(v) for r in rows for c in _FREE_TEXT if (v := r.get(c)) is not None):
        result = await session.execute(
            executions.insert().returning(*EXECUTION_COLUMNS, executions.c.command_id, sort_by_parameter_order=True),
            rows,
        )
        stored = [dict(r._mapping) for r in result.all()]
        await session.execute(_MARK_STORED, {"ids": [r["id"] for r in stored]})
        return stored
    # An optional column a row leaves out is NULL, as in an ordinary insert.
    columns = [pgarrays.texts(pgarrays.TEXT_FORMS[t](r.get(c) for r in rows)) for c, t in _RECORD_COLUMNS]
    driver = await pgarrays.driver(session)
    with observe_query("insert", "executions"):
        recorded_at = await driver.fetchval(_RECORD_SQL, *columns)
    return [_as_stored(r, recorded_at) for r in rows]


def _as_stored(row: dict[str, Any], recorded_at: datetime) -> dict[str, Any]:
    """A row as the database gives it back: amounts at the column's scale, times in UTC."""
    fees = row.get("fees")
    return {
        "id": row["id"],
        "account_id": row["account_id"],
        "symbol": row["symbol"],
        "exchange": row["exchange"],
        "segment": row.get("segment"),
        "side": row["side"],
        "quantity": row["quantity"].quantize(_SCALE),
        "price": row["price"].quantize(_SCALE),
        "executed_at": row["executed_at"].astimezone(UTC),
        "fees": None if fees is None else fees.quantize(_SCALE),
        "charges": row.get("charges"),
        "currency": row["currency"],
        "broker_trade_id": row.get("broker_trade_id"),
        "broker_order_id": row.get("broker_order_id"),
        "product": row.get("product"),
        "recorded_at": recorded_at,
        "command_id": row["command_id"],
    }


async def executions_of_command(session: AsyncSession, command_id: uuid.UUID) -> list[dict[str, Any]]:
    return (await executions_of_commands(session, [command_id])).get(command_id, [])


async def executions_of_commands(
    session: AsyncSession, command_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    result = await session.execute(
        select(*EXECUTION_COLUMNS, executions.c.command_id)
        .where(executions.c.command_id.in_(command_ids), executions.c.import_id.is_(None))
        .order_by(executions.c.executed_at, executions.c.id)
    )
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in result.all():
        found.setdefault(row.command_id, []).append(dict(row._mapping))
    return found


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
    query = _user_executions(user_id, account_id, symbol)
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


async def executions_for_trades(
    session: AsyncSession, user_id: uuid.UUID, *, account_id: uuid.UUID | None, symbol: str | None
) -> list[dict[str, Any]]:
    """Every execution the round trips of these filters are built from (whole instruments)."""
    query = _user_executions(user_id, account_id, symbol)
    return [dict(r._mapping) for r in (await session.execute(query)).all()]


ANNOTATION_FIELDS = ("initial_stop", "target", "setup", "notes")


async def annotations_of(
    session: AsyncSession, user_id: uuid.UUID, trade_ids: set[uuid.UUID] | None = None
) -> dict[uuid.UUID, dict[str, Any]]:
    """The user's trade annotations (all, or of ``trade_ids``), each with its ``tags``
    (``[{name, kind}]``, sorted by kind then name)."""
    query = select(trade_annotations).where(trade_annotations.c.user_id == user_id)
    tags_query = select(trade_tags).where(trade_tags.c.user_id == user_id)
    if trade_ids is not None:
        if not trade_ids:
            return {}
        query = query.where(trade_annotations.c.trade_id.in_(trade_ids))
        tags_query = tags_query.where(trade_tags.c.trade_id.in_(trade_ids))
    found = {r.trade_id: {**dict(r._mapping), "tags": []} for r in (await session.execute(query)).all()}
    tags: dict[uuid.UUID, list[dict[str, str]]] = defaultdict(list)
    for row in (await session.execute(tags_query.order_by(trade_tags.c.kind, trade_tags.c.name))).all():
        tags[row.trade_id].append({"name": row.name, "kind": row.kind})
    for trade_id, annotation in found.items():
        annotation["tags"] = tags.get(trade_id, [])
    return found


async def annotate_trade(
    session: AsyncSession, user_id: uuid.UUID, trade_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply the changes (absent fields keep their value; ``tags`` replaces the list) and return
    the annotation as stored."""
    values = {k: v for k, v in changes.items() if k in ANNOTATION_FIELDS}
    now = datetime.now(UTC)
    statement = pg_insert(trade_annotations).values(trade_id=trade_id, user_id=user_id, updated_at=now, **values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[trade_annotations.c.trade_id], set_={**values, "updated_at": now}
        )
    )
    if "tags" in changes:
        await session.execute(trade_tags.delete().where(trade_tags.c.trade_id == trade_id))
        unique = {(t["kind"], t["name"]) for t in changes["tags"] or []}
        if unique:
            await session.execute(
                trade_tags.insert(),
                [{"trade_id": trade_id, "user_id": user_id, "kind": k, "name": n} for k, n in sorted(unique)],
            )
    return (await annotations_of(session, user_id, {trade_id}))[trade_id]


def _user_executions(user_id: uuid.UUID, account_id: uuid.UUID | None, symbol: str | None) -> Select[Any]:
    query = select(*EXECUTION_COLUMNS).where(executions.c.user_id == user_id, visible(user_id))
    if account_id:
        query = query.where(executions.c.account_id == account_id)
    if symbol:
        query = query.where(executions.c.symbol == symbol.upper())
    return query
