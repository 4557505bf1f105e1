"""Staged imports (DESIGN §4: an import is all-or-nothing): batches of parsed rows are staged under
the import's id, invisible to every query, and made visible by one commit.

Built for volume (a million rows in 500 batches): a batch is checked with plain comparisons rather
than a pydantic model per row (a row that fails them is explained by the contract model, for the
rejection's reason), and stored with one ``INSERT … SELECT`` of the unnested columns that drops the
duplicates set-based. A commit is one row update of ``trades.imports`` whatever the import's size:
an imported execution is visible while its import is ``committed``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.contracts import trades as contract
from tj_trades import pgarrays, projection_rows
from tj_trades.domain.charges.india import ist_trade_date
from tj_trades.models import import_batches, import_groups, imports

FUTURE_TOLERANCE = timedelta(minutes=5)

_SYMBOL = re.compile(r"^[A-Za-z0-9&._\-: ]+$")
_SEGMENTS = frozenset({None, "equity", "futures", "options", "currency", "commodity"})
_PRODUCTS = frozenset({None, "MIS", "CNC", "NRML"})
_FIELDS = frozenset(contract.StagedExecutionIn.model_fields)
_LIMIT = Decimal(10) ** 12  # NUMERIC(20, 8): 12 digits before the point
_CHARGE_LINES = frozenset(contract.CHARGE_LINES)


class BatchHeader(BaseModel):
    """A StageImportBatch with its rows left as they came (checked below: rows one by one,
    columns a column at a time)."""

    model_config = ConfigDict(extra="forbid")

    import_id: uuid.UUID
    account_id: uuid.UUID
    batch_no: int = Field(ge=0)
    executions: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=contract.MAX_STAGE_BATCH)
    columns: dict[str, list[Any]] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> BatchHeader:
        contract.check_batch_form(self.executions, self.columns)
        return self

    def check(self, base_currency: str, now: datetime) -> tuple[Columns, list[contract.StagedRowRejected]]:
        """The rows that may be staged, and why the others may not."""
        if self.columns is not None:
            return check_columns(self.columns, base_currency, now)
        assert self.executions is not None
        return check_rows(self.executions, base_currency, now)


class Columns:
    """The accepted rows of a batch, column by column, each value in its text form (PostgreSQL
    reads the columns back from one joined string each: tj_trades.pgarrays). The ids are made by
    the database."""

    NAMES = (
        "fingerprint",
        "source_line",
        "source_timezone",
        "day_level",
        "symbol",
        "exchange",
        "segment",
        "side",
        "quantity",
        "price",
        "fees",
        "charges",
        "currency",
        "executed_at",
        "broker_trade_id",
        "broker_order_id",
        "product",
    )
    TYPES = (
        "text",
        "int",
        "text",
        "bool",
        "text",
        "text",
        "text",
        "text",
        "numeric",
        "numeric",
        "numeric",
        "jsonb",
        "text",
        "timestamptz",
        "text",
        "text",
        "text",
    )

    def __init__(self) -> None:
        self.values: list[list[Any]] = [[] for _ in self.NAMES]

    def __len__(self) -> int:
        return len(self.values[0])

    def add(self, *row: Any) -> None:
        for column, value in zip(self.values, row, strict=True):
            column.append(value)

    def joined(self) -> list[str]:
        """Each column as one parameter."""
        return [pgarrays.texts(values) for values in self.values]

    def keys_distinct(self) -> bool:
        """Whether no two rows share a fingerprint (the unique key of staged rows; two rows with
        one broker trade id have one fingerprint, contract.TRADE_KEY and the id)."""
        fingerprints = self.values[self.NAMES.index("fingerprint")]
        return len(set(fingerprints)) == len(fingerprints)

    def stage_sql(self) -> str:
        """The statement that stages these rows: ``STAGE_NEW_SQL`` when their keys are distinct,
        else ``STAGE_SQL``."""
        return STAGE_NEW_SQL if self.keys_distinct() else STAGE_SQL

    def groups(self) -> set[tuple[str, date]]:
        """The projection groups of these rows: (instrument, IST trade date)."""
        names = self.NAMES
        exchanges, symbols, times = (self.values[names.index(n)] for n in ("exchange", "symbol", "executed_at"))
        days: dict[str, date] = {}
        found: set[tuple[str, date]] = set()
        for exchange, symbol, at in zip(exchanges, symbols, times, strict=True):
            # An ISO 8601 time without its seconds (always "HH:MM:SS" here) is on one IST day.
            minute = at[:16] + at[19:]
            day = days.get(minute)
            if day is None:
                day = days[minute] = ist_trade_date(datetime.fromisoformat(at))
            found.add((projection_rows.instrument(exchange, symbol), day))
        return found

    def params(self) -> list[str]:
        """The parameters of ``STAGE_SQL`` from $6 on: the columns, then new execution ids."""
        return [*self.joined(), pgarrays.SEP + pgarrays.SEP.join(time_ordered_ids(len(self)))]


def time_ordered_ids(count: int) -> list[str]:
    """``count`` new UUIDs in version 7 layout (RFC 9562): the current Unix time in milliseconds,
    then random bits, the last 48 of them counting up from a random start. New rows' ids land
    next to each other at the end of the primary key instead of on a random page each (with
    random ids a 2,000-row batch cost PostgreSQL ~20 % more CPU). Unique as UUIDs are: 74
    random bits per batch, and ids within a batch differ in their counter."""
    ms = time.time_ns() // 1_000_000
    rand_a = secrets.randbits(12)
    high = 0x8000 | secrets.randbits(14)  # the variant (10), then random bits
    start = secrets.randbits(47)  # room for any batch without carrying into the bits above
    prefix = f"{(ms >> 16) & 0xFFFFFFFF:08x}-{ms & 0xFFFF:04x}-7{rand_a:03x}-{high:04x}-"
    return [f"{prefix}{n:012x}" for n in range(start, start + count)]


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number) >= _LIMIT:
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -8:
        return None
    return number


def _charges(value: Any) -> dict[str, Decimal] | None:
    """Itemised charges: known lines, amounts not negative; None if absent; raises on anything else."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError
    charges: dict[str, Decimal] = {}
    for line, raw in value.items():
        amount = _decimal(raw)
        if line not in _CHARGE_LINES or amount is None or amount < 0:
            raise ValueError
        charges[line] = amount
    return charges


# An ISO 8601 instant as the imports service writes them, which PostgreSQL reads as Python does.
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:[+-][0-9]{2}:[0-9]{2}|Z)"
)
# A plain non-negative decimal as the imports service writes them: taken as it is (no Decimal).
_PLAIN = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,8})?")


def _number(value: Any) -> tuple[str, int] | None:
    """A decimal in its text form and its sign (1, 0 or -1); None when it is no number that
    NUMERIC(20, 8) holds exactly (as :func:`_decimal`)."""
    if type(value) is str and _PLAIN.fullmatch(value):
        return value, 1 if value.strip("0.") else 0
    number = _decimal(value)
    if number is None:
        return None
    return str(number), 1 if number > 0 else -1 if number < 0 else 0


def _text(value: Any, limit: int) -> str | None:
    """A stripped string of at most ``limit`` characters, None if absent; raises on anything else
    (including the two control characters that separate joined columns)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError
    stripped: str = value.strip()
    if len(stripped) > limit or not pgarrays.clean(stripped):
        raise ValueError
    return stripped


def check_rows(
    rows: list[dict[str, Any]], base_currency: str, now: datetime
) -> tuple[Columns, list[contract.StagedRowRejected]]:
    """The rows that may be staged, and why the others may not (by source line)."""
    columns = Columns()
    rejected: list[contract.StagedRowRejected] = []
    latest = now + FUTURE_TOLERANCE
    for index, row in enumerate(rows):
        line = row.get("line") if isinstance(row, dict) else None
        line = line if isinstance(line, int) and not isinstance(line, bool) and line >= 1 else index + 1
        try:
            if not isinstance(row, dict) or not row.keys() <= _FIELDS:
                raise ValueError
            symbol = row.get("symbol")
            if not isinstance(symbol, str):
                raise ValueError
            symbol = symbol.strip()
            if not 1 <= len(symbol) <= 64 or not _SYMBOL.match(symbol):
                raise ValueError
            exchange = _text(row.get("exchange", "NSE"), 16)
            segment = row.get("segment")
            side = row.get("side")
            product = row.get("product")
            if exchange is None or segment not in _SEGMENTS or side not in ("buy", "sell") or product not in _PRODUCTS:
                raise ValueError
            quantity = _number(row.get("quantity"))
            price = _number(row.get("price"))
            if quantity is None or quantity[1] <= 0 or price is None or price[1] < 0:
                raise ValueError
            fees: str | None = None
            if row.get("fees") is not None:
                given = _number(row["fees"])
                if given is None or given[1] < 0:
                    raise ValueError
                fees = given[0]
            charges = _charges(row.get("charges"))
            if charges is not None:
                itemised = sum(charges.values(), Decimal(0))
                if fees is None:
                    fees = str(itemised)
                elif Decimal(fees) < itemised:
                    raise ValueError
            raw_time = row.get("executed_at")
            if not isinstance(raw_time, str):
                raise ValueError
            executed_at = datetime.fromisoformat(raw_time)
            if executed_at.tzinfo is None or executed_at.utcoffset() is None:
                raise ValueError
            currency = row.get("currency")
            if currency is not None and (not isinstance(currency, str) or len(currency.strip()) != 3):
                raise ValueError
            fingerprint = row.get("fingerprint")
            if not isinstance(fingerprint, str) or not 3 <= len(fingerprint) <= 160 or not pgarrays.clean(fingerprint):
                raise ValueError
            broker_trade_id = _text(row.get("broker_trade_id"), 128)
            broker_order_id = _text(row.get("broker_order_id"), 128)
            source_timezone = _text(row.get("source_timezone"), 64)
            day_level = row.get("day_level", False)
            if not isinstance(day_level, bool) or not isinstance(row.get("line"), int):
                raise ValueError
            # A broker's trade id is the row's key: its fingerprint is contract.TRADE_KEY and the id,
            # as every imported row's is (CHECK ck_executions_imported_trade_key), so that the
            # fingerprint index also keeps an import's trade ids unique and finds them.
            if broker_trade_id is not None:
                fingerprint = contract.TRADE_KEY + broker_trade_id
            elif fingerprint.startswith(contract.TRADE_KEY):
                raise ValueError
        except (ValueError, TypeError):
            rejected.append(contract.StagedRowRejected(line=line, reason=_explain(row)))
            continue
        # The checks the contract model cannot make: they depend on the account and the clock.
        currency = base_currency if currency is None else currency.strip().upper()
        if currency != base_currency:
            reason = f"currency {currency} does not match the account's base currency {base_currency}"
            rejected.append(contract.StagedRowRejected(line=line, reason=reason))
            continue
        if executed_at > latest:
            reason = f"executed_at {executed_at.isoformat()} is in the future"
            rejected.append(contract.StagedRowRejected(line=line, reason=reason))
            continue
        columns.add(
            fingerprint,
            str(line),
            source_timezone,
            "t" if day_level else "f",
            symbol.upper(),
            exchange.upper(),
            segment,
            side,
            quantity[0],
            price[0],
            fees,
            None if charges is None else json.dumps({line: str(amount) for line, amount in charges.items()}),
            currency,
            raw_time if _INSTANT.fullmatch(raw_time) else executed_at.isoformat(),
            broker_trade_id,
            broker_order_id,
            product,
        )
    return columns, rejected


# Whole columns in the form the imports service writes them, checked with one regular expression
# each over the column joined by the unit separator (every value preceded by one). A column that is
# not entirely in this form sends the batch to check_rows, value by value, which is the definition:
# check_columns gives exactly what check_rows gives for the same rows.
_EACH_SYMBOL = re.compile(r"(?:\x1f[A-Z0-9&._\-:](?:[A-Z0-9&._\-: ]{0,62}[A-Z0-9&._\-:])?)+")
_EACH_PLAIN = re.compile(r"(?:\x1f[0-9]{1,12}(?:\.[0-9]{1,8})?)+")
_EACH_CODE = re.compile(r"(?:\x1f[A-Z0-9_]{1,16})+")
_EACH_FINGERPRINT = re.compile(r"(?:\x1f[^\x1e\x1f]{3,160})+")
_EACH_UTC = re.compile(r"(?:\x1f[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?\+00:00)+")


def _each_text(limit: int) -> re.Pattern[str]:
    """Texts of 1 to ``limit`` characters that strip() leaves as they are."""
    return re.compile(rf"(?:\x1f[^\x1e\x1f\s](?:[^\x1e\x1f]{{0,{limit - 2}}}[^\x1e\x1f\s])?)+")


_EACH_TEXT_128 = _each_text(128)
_EACH_TEXT_64 = _each_text(64)
_REQUIRED_COLUMNS = frozenset({"symbol", "side", "quantity", "price", "executed_at", "fingerprint", "line"})


def _all(pattern: re.Pattern[str], values: list[Any]) -> bool:
    """Whether every value is a str of the pattern's form."""
    try:
        joined = pgarrays.SEP + pgarrays.SEP.join(values)
    except TypeError:  # a value that is no str
        return False
    # One separator per value: a value with a separator of its own would pass for two.
    return joined.count(pgarrays.SEP) == len(values) and pattern.fullmatch(joined) is not None


def _fast_columns(
    columns: dict[str, list[Any]], base_currency: str, now: datetime
) -> tuple[Columns, list[contract.StagedRowRejected]] | None:
    """check_columns for a batch whose every value is in canonical form and staged as it is; None
    for any other batch."""
    try:
        return _canonical_columns(columns, base_currency, now)
    except TypeError:  # an unhashable value (a list or an object) where a code belongs
        return None


def _canonical_columns(
    columns: dict[str, list[Any]], base_currency: str, now: datetime
) -> tuple[Columns, list[contract.StagedRowRejected]] | None:
    get = columns.get
    n = len(columns["line"]) if "line" in columns else 0
    nulls: list[Any] = [None] * n
    if not columns.keys() >= _REQUIRED_COLUMNS or get("charges", nulls).count(None) != n:
        return None
    lines, symbols, quantities = columns["line"], columns["symbol"], columns["quantity"]
    if not all(type(v) is int and v >= 1 for v in lines):
        return None
    if not set(columns["side"]) <= {"buy", "sell"} or not set(get("segment", nulls)) <= _SEGMENTS:
        return None
    if not set(get("product", nulls)) <= _PRODUCTS or not set(get("currency", nulls)) <= {None, base_currency}:
        return None
    if not _all(_EACH_SYMBOL, symbols) or not _all(_EACH_FINGERPRINT, columns["fingerprint"]):
        return None
    if not _all(_EACH_PLAIN, quantities) or not _all(_EACH_PLAIN, columns["price"]):
        return None
    if not all(q.strip("0.") for q in quantities):
        return None
    exchanges = get("exchange")
    if exchanges is not None and not _all(_EACH_CODE, exchanges):
        return None
    fees = get("fees", nulls)
    for values, pattern in (
        (fees, _EACH_PLAIN),
        (get("broker_trade_id", nulls), _EACH_TEXT_128),
        (get("broker_order_id", nulls), _EACH_TEXT_128),
        (get("source_timezone", nulls), _EACH_TEXT_64),
    ):
        given = [v for v in values if v is not None]
        if given and not _all(pattern, given):
            return None
    day_level = get("day_level")
    if day_level is not None and not all(v is None or type(v) is bool for v in day_level):
        return None
    times = columns["executed_at"]
    if not _all(_EACH_UTC, times):
        return None
    try:
        latest = max(map(datetime.fromisoformat, times))  # every one must be a real date and time
    except ValueError:
        return None
    if latest > now + FUTURE_TOLERANCE:
        return None
    trade_ids = get("broker_trade_id", nulls)
    key = contract.TRADE_KEY
    keys = [f if b is None else key + b for f, b in zip(columns["fingerprint"], trade_ids, strict=True)]
    if any(b is None and f.startswith(key) for f, b in zip(keys, trade_ids, strict=True)):
        return None
    out = Columns()
    out.values = [
        keys,
        [str(v) for v in lines],
        get("source_timezone", nulls),
        ["f"] * n if day_level is None else ["t" if v else "f" for v in day_level],
        symbols,
        ["NSE"] * n if exchanges is None else exchanges,
        get("segment", nulls),
        columns["side"],
        quantities,
        columns["price"],
        fees,
        nulls,
        [base_currency] * n,
        times,
        trade_ids,
        get("broker_order_id", nulls),
        get("product", nulls),
    ]
    return out, []


def check_columns(
    columns: dict[str, list[Any]], base_currency: str, now: datetime
) -> tuple[Columns, list[contract.StagedRowRejected]]:
    """check_rows of a columnar batch (a header already checked: known names, equal lengths)."""
    fast = _fast_columns(columns, base_currency, now)
    if fast is not None:
        return fast
    return check_rows(contract.staged_rows(columns), base_currency, now)


def _explain(row: Any) -> str:
    """Why the contract refuses a row (the fast checks only said that it does)."""
    try:
        contract.StagedExecutionIn.model_validate(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "row"
        return f"{where}: {first['msg']}"
    if isinstance(row, dict):
        for name, value in row.items():
            if isinstance(value, str) and not pgarrays.clean(value):
                return f"{name}: control characters U+001E and U+001F are not allowed"
    return "invalid row"


_COLUMN_LIST = ", ".join(("user_id", "account_id", "command_id", "import_id", *Columns.NAMES, "id"))
_ROWS = pgarrays.rows(zip((*Columns.NAMES, "id"), (*Columns.TYPES, "uuid"), strict=True), 6)
# Each NOT EXISTS is one index probe per row: its OFFSET 0 keeps PostgreSQL from turning it into
# an anti join or a hashed subplan, which read every execution of the imports in $5 (or the
# account's recorded ones) for each batch, so that a batch cost grew with what was already staged
# and a large import into an account that holds another took quadratic time.
# A broker trade id in an import is found by the first probe: the row's fingerprint is
# contract.TRADE_KEY and the id. Built from the constant column names above. $1 to $4: user,
# account, command and import ids; $5: the ids of the account's committed imports and of this
# import; from $6 on: Columns.params().
STAGE_SQL = f"""
INSERT INTO trades.executions ({_COLUMN_LIST})
SELECT $1, $2, $3, $4, r.*
FROM {_ROWS} AS r
WHERE NOT EXISTS (
    SELECT 1 FROM trades.executions v
    WHERE v.import_id IS NOT NULL AND v.fingerprint IS NOT NULL AND v.import_id = ANY($5::uuid[])
      AND v.fingerprint = r.fingerprint
    OFFSET 0
) AND (r.broker_trade_id IS NULL OR NOT EXISTS (
    SELECT 1 FROM trades.executions v
    WHERE v.account_id = $2 AND v.import_id IS NULL AND v.broker_trade_id IS NOT NULL
      AND v.broker_trade_id = r.broker_trade_id
    OFFSET 0
))
ON CONFLICT DO NOTHING
"""  # noqa: S608
# STAGE_SQL for a batch whose own rows share no key (Columns.keys_distinct): the NOT EXISTS tests
# (with $5 the account's committed imports and this one) already drop every row that an earlier
# batch or a committed import holds, so nothing is left for ON CONFLICT to skip, and its
# speculative insertion (a probe of every unique index before each row goes in) cost PostgreSQL
# about a third of its CPU per staged row. Should a concurrent transaction stage the same key
# after all (one import's batches are staged one at a time, from one partition), the unique index
# refuses it, the transaction rolls back, and the consumer applies the batch again, when the NOT
# EXISTS tests see the other's rows.
STAGE_NEW_SQL = STAGE_SQL.replace("ON CONFLICT DO NOTHING", "")


async def committed_imports(session: AsyncSession, account_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.execute(
        select(imports.c.import_id).where(imports.c.account_id == account_id, imports.c.status == "committed")
    )
    return list(rows.scalars())


# The lookups of an import's rows below say "fingerprint IS NOT NULL", which every imported row has
# (CHECK ck_executions_imported_fingerprint): it lets PostgreSQL find them through
# ux_executions_import_fingerprint, whose predicate requires it (migration trades_0015).

# Rows of the import that became duplicates after they were staged: the same fingerprint or broker
# trade id recorded directly, or committed by another import, since this import began.
COLLISIONS_SQL = """
WITH newer AS (
    SELECT fingerprint, broker_trade_id FROM trades.executions
    WHERE account_id = $2 AND import_id IS NULL AND recorded_at >= $3 AND broker_trade_id IS NOT NULL
    UNION ALL
    SELECT fingerprint, broker_trade_id FROM trades.executions
    WHERE import_id IS NOT NULL AND fingerprint IS NOT NULL AND import_id = ANY($4::uuid[])
)
DELETE FROM trades.executions s
WHERE s.import_id = $1 AND s.fingerprint IS NOT NULL AND (
    s.fingerprint IN (SELECT fingerprint FROM newer WHERE fingerprint IS NOT NULL)
    OR s.broker_trade_id IN (SELECT broker_trade_id FROM newer WHERE broker_trade_id IS NOT NULL)
)
"""


async def remove_collisions(session: AsyncSession, import_row: dict[str, Any]) -> int:
    since = import_row["created_at"]
    later = await session.execute(
        select(imports.c.import_id).where(
            imports.c.account_id == import_row["account_id"],
            imports.c.status == "committed",
            imports.c.committed_at >= since,
        )
    )
    connection = await pgarrays.driver(session)
    status: str = await connection.execute(
        COLLISIONS_SQL, import_row["import_id"], import_row["account_id"], since, list(later.scalars())
    )
    return int(status.rsplit(" ", 1)[-1])


STORE_GROUPS_SQL = """
INSERT INTO trades.import_groups (import_id, instrument, day)
SELECT $1, g.instrument, g.day FROM unnest($2::text[], $3::date[]) AS g(instrument, day)
ORDER BY 2, 3
ON CONFLICT DO NOTHING
"""


async def store_groups(session: AsyncSession, import_id: uuid.UUID, groups: set[tuple[str, date]]) -> None:
    """Remember the projection groups of an import's staged rows, for its commit to mark."""
    if groups:
        ordered = sorted(groups)
        connection = await pgarrays.driver(session)
        await connection.execute(STORE_GROUPS_SQL, import_id, [g[0] for g in ordered], [g[1] for g in ordered])


async def forget_groups(session: AsyncSession, import_id: uuid.UUID) -> None:
    """The groups of an import that is committed (marked) or discarded are of no more use."""
    await session.execute(import_groups.delete().where(import_groups.c.import_id == import_id))


async def delete_rows(session: AsyncSession, import_id: uuid.UUID) -> int:
    connection = await pgarrays.driver(session)
    status: str = await connection.execute(
        "DELETE FROM trades.executions WHERE import_id = $1 AND fingerprint IS NOT NULL", import_id
    )
    return int(status.rsplit(" ", 1)[-1])


async def import_row(session: AsyncSession, import_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(imports).where(imports.c.import_id == import_id))).first()
    return None if row is None else dict(row._mapping)


async def batch_row(session: AsyncSession, import_id: uuid.UUID, batch_no: int) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(import_batches).where(import_batches.c.import_id == import_id, import_batches.c.batch_no == batch_no)
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def batch_totals(session: AsyncSession, import_id: uuid.UUID) -> tuple[int, int, int]:
    """How many batches are staged, the rows they staged, and the duplicates they skipped. Rows
    leave a staged import only by its commit (remove_collisions) or its discard, so the rows it
    holds are the ones its batches staged."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(import_batches.c.staged), 0),
                func.coalesce(func.sum(import_batches.c.duplicates), 0),
            ).where(import_batches.c.import_id == import_id)
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])
