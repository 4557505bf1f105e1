"""Helpers the global (non-Indian) parsers share: bounded header search, symbol checks, US option
symbols, time-zone abbreviations and the row driver that turns :class:`RowInvalid` into a row error."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from tj_imports.formats.base import (
    Columns,
    MissingColumns,
    RowError,
    RowInvalid,
    Source,
    cell_text,
)

T = TypeVar("T")

US_EASTERN = "America/New_York"
# How far down a file a parser looks for its header before giving up with MissingColumns.
HEADER_SCAN_ROWS = 60
# US equity options: one contract is 100 shares (quantities are multiplied out, prices stay per share).
US_OPTION_MULTIPLIER = Decimal(100)

_SYMBOL = re.compile(r"^[A-Za-z0-9&._\-: ]{1,64}$")

# Abbreviations US brokers print after a time; each maps to the zone whose rules produce it.
ZONE_ABBREVIATIONS = {
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "ET": "America/New_York",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "CT": "America/Chicago",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "UTC": "UTC",
    "GMT": "UTC",
    "IST": "Asia/Kolkata",
}

_FUTURES_MONTHS = "FGHJKMNQUVXZ"
_FUTURES_CONTRACT = re.compile(rf"^([A-Z0-9]{{1,6}}?)([{_FUTURES_MONTHS}])(\d{{1,2}})$")
_OCC = re.compile(r"^[A-Z.]{1,6}\d{6}[CP]\d{8}$")


def symbol_of(raw: object, column: str) -> str:
    """An upper-case symbol the trades service accepts (letters, digits, ``& . _ - :`` and spaces)."""
    text = " ".join(cell_text(raw).split()).upper()
    if not text:
        raise RowInvalid(column, "empty", raw)
    if not _SYMBOL.match(text):
        raise RowInvalid(column, "not a valid symbol", raw)
    return text


def futures_root(contract: str) -> str | None:
    """``MESZ5`` → ``MES``; ``None`` when the text is not a month-coded futures contract."""
    match = _FUTURES_CONTRACT.match(contract.upper())
    return match.group(1) if match else None


def is_occ_symbol(symbol: str) -> bool:
    return bool(_OCC.match(symbol))


def occ_symbol(underlying: str, expiry: datetime, right: str, strike: Decimal) -> str:
    """The OCC option symbol, e.g. ``SPY250620C00550000`` (strike in thousandths, eight digits)."""
    right = right.strip().upper()[:1]
    if right not in {"C", "P"}:
        raise RowInvalid("type", "option right must be call or put", right)
    thousandths = int((strike * 1000).to_integral_value())
    if not 0 < thousandths < 100_000_000:
        raise RowInvalid("strike", "implausible strike", strike)
    return f"{underlying.upper()}{expiry:%y%m%d}{right}{thousandths:08d}"


def locate_header(
    rows: Iterator[tuple[int, Sequence[Any]]],
    aliases: dict[str, Sequence[str]],
    required: Sequence[str],
    label: str,
    scan: int = HEADER_SCAN_ROWS,
    accept: Callable[[Sequence[Any]], bool] | None = None,
) -> tuple[int, Columns]:
    """The header row among the first ``scan`` rows; :class:`MissingColumns` naming what the closest
    candidate lacked. ``rows`` is left positioned just after the header."""
    best: list[str] | None = None
    for count, (line, row) in enumerate(rows):
        if count >= scan:
            break
        if accept is not None and not accept(row):
            continue
        columns = Columns(row, aliases)
        if columns.matches(required):
            return line, columns
        missing = columns.missing(required)
        if len(missing) < len(required) and (best is None or len(missing) < len(best)):
            best = missing
    raise MissingColumns(label, best if best is not None else list(required))


def drive(build: Callable[..., T], line: int, row: Sequence[Any], *args: Any) -> T | RowError:
    """``build(line, row, *args)`` for one row; a :class:`RowInvalid` becomes a :class:`RowError`
    carrying the raw value (or the raw row)."""
    try:
        return build(line, row, *args)
    except RowInvalid as exc:
        raw = exc.raw if exc.raw is not None else ",".join(cell_text(c) for c in row)[:200]
        return RowError(line=line, column=exc.column, reason=exc.reason, raw=raw)
    except (ValueError, ArithmeticError, OverflowError) as exc:  # a value no parser rule anticipated
        return RowError(line=line, column=None, reason=f"unreadable row: {type(exc).__name__}", raw=None)


def blank(row: Sequence[Any]) -> bool:
    return not any(cell_text(c) for c in row)


def sniff_header(
    source: Source, aliases: dict[str, Sequence[str]], required: Sequence[str], score: int = 80
) -> tuple[int, Columns] | None:
    """(score, columns) when a text file's first lines hold this header; a CSV-only sniff."""
    if source.kind != "text":
        return None
    for row in source.first_rows():
        columns = Columns(row, aliases)
        if columns.matches(required):
            return score, columns
    return None


def delimiter_of(source: Source) -> str:
    """``;`` for European-locale exports (more semicolons than commas in the first lines), else ``,``."""
    text = "\n".join(source.sample[:10])
    return ";" if text.count(";") > text.count(",") else ","
