"""Whole columns as one text parameter each, for ``INSERT … SELECT`` of many rows (:func:`rows`).

asyncpg encodes an array parameter element by element, with several type checks per element: a
2,000-row batch of 17 columns cost ~35 ms of the trades service's CPU, more than anything else it
did with the batch. Joined into one string per column and split by PostgreSQL
(``string_to_array``, in C), the same batch costs ~2 ms.

A column is its values as text joined by the unit separator (U+001F), with U+001E standing for
NULL; a leading empty element (dropped again by ``[2:]``) keeps a single empty string from reading
as an empty array. Values must not contain either control character: :func:`clean` tells.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

SEP = "\x1f"
NULL = "\x1e"


def clean(text: str) -> bool:
    """Whether a text value can travel in a joined column."""
    return SEP not in text and NULL not in text


def param(number: int, pg_type: str) -> str:
    """The SQL of parameter ``$number`` read back as a ``pg_type[]``."""
    return f"(string_to_array(${number}::text, E'\\x1f', E'\\x1e'))[2:]::{pg_type}[]"


def rows(columns: Iterable[tuple[str, str]], first: int) -> str:
    """A derived table (to alias) of joined columns: (name, type) of each, the parameters from
    ``$first`` on, one row per element, the shorter columns padded with NULL.

    Each column is unnested in the select list (PostgreSQL's ProjectSet hands each row on as it
    is made), not ``FROM unnest(a, b, …)``, which first stores every row in a tuplestore and
    then reads them back: ~8 % of PostgreSQL's CPU for a staged batch."""
    out = ", ".join(f"unnest({param(first + i, pg_type)}) AS {name}" for i, (name, pg_type) in enumerate(columns))
    return f"(SELECT {out})"


def texts(values: Iterable[str | None]) -> str:
    """A column of values in their text form (None for NULL): ``str`` of a number or UUID, ISO 8601
    of an instant, ``t``/``f`` of a boolean, JSON of a document."""
    items = values if isinstance(values, list) else list(values)
    if None in items:
        items = [NULL if v is None else v for v in items]
    return SEP.join(["", *items])


# Each column type's values in the text form PostgreSQL reads them back from, a whole column at a
# time: a UUID or a Decimal as str (PostgreSQL reads 1E+2 too, and keeps a Decimal's scale as the
# binary form does), an instant in UTC ISO 8601, a date in ISO 8601, a document as JSON
# ("json_text": a document that is JSON text already).
def _as_str(values: Iterable[Any]) -> list[str | None]:
    # A run of one object (a refresh's trades all carry its user's id, most its account's) is
    # turned into text once: str of a UUID costs as much as everything else done with it.
    texts: list[str | None] = []
    last: Any = None
    last_text: str | None = None
    for v in values:
        if v is not last:
            last, last_text = v, None if v is None else str(v)
        texts.append(last_text)
    return texts


TEXT_FORMS: dict[str, Callable[[Iterable[Any]], list[str | None]]] = {
    "text": list,
    "uuid": _as_str,
    "numeric": _as_str,
    "timestamptz": lambda values: [None if v is None else v.astimezone(UTC).isoformat() for v in values],
    "date": lambda values: [None if v is None else v.isoformat() for v in values],
    "jsonb": lambda values: [None if v is None else json.dumps(v) for v in values],
    "json_text": list,
}


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, in the session's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN with the first statement it executes itself, so a
    statement sent straight to the driver before any other would run outside the transaction
    (committed at once, never rolled back): one trivial statement through SQLAlchemy first."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    if not raw.is_in_transaction():  # type: ignore[union-attr]
        await connection.exec_driver_sql("SELECT 1")
    return raw
