"""Parsed rows → staged executions: the per-execution fingerprint (DESIGN §4) and the batches
handed to trades (``trades.StageImportBatch``), sized to stay under Kafka's message limit.

Pure and synchronous: the pipeline runs it in a worker thread, a chunk of rows at a time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tj_common.contracts.trades import CHARGE_LINES, MAX_STAGE_BATCH, STAGED_FIELDS, TRADE_KEY
from tj_imports.formats.base import ParsedRow, RowBlock, RowError, StreamItem

# Kafka's default message limit is 1 MB; a batch is closed before its rows pass this many bytes.
MAX_BATCH_BYTES = 700_000


def normalised(row: ParsedRow) -> str:
    """The row as the fingerprint sees it: what makes a fill this fill, in a canonical form
    (numbers normalised, so ``10`` and ``10.000000`` are the same quantity)."""
    fees = "" if row.fees is None else str(row.fees.normalize())
    return "|".join(
        (
            row.symbol.upper(),
            row.exchange.upper(),
            row.segment or "",
            row.side,
            str(row.quantity.normalize()),
            str(row.price.normalize()),
            row.executed_at.isoformat(),
            fees,
            row.broker_order_id or "",
            row.product or "",
        )
    )


class Fingerprints:
    """``t:<broker trade id>`` when the broker gives one, else ``h:<sha256 of the normalised
    row>:<occurrence index>``: two genuinely identical fills in one file are two executions,
    and the same file read again yields the same keys. Occurrences are counted under a 64-bit
    prefix of the digest, so a million hash-keyed rows cost tens of megabytes, not hundreds."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}

    def of(self, row: ParsedRow) -> str:
        if row.broker_trade_id:
            return TRADE_KEY + row.broker_trade_id
        digest = hashlib.sha256(normalised(row).encode()).hexdigest()
        key = int(digest[:16], 16)
        occurrence = self.seen.get(key, 0)
        self.seen[key] = occurrence + 1
        return f"h:{digest}:{occurrence}"


def staged_row(row: ParsedRow, fingerprint: str) -> dict[str, Any]:
    """A ``trades.StagedExecutionIn`` as JSON-ready values; absent optional fields left out."""
    out: dict[str, Any] = {
        "symbol": row.symbol,
        "exchange": row.exchange,
        "side": row.side,
        "quantity": str(row.quantity),
        "price": str(row.price),
        "executed_at": row.executed_at.isoformat(),
        "currency": row.currency,
        "fingerprint": fingerprint,
        "line": row.line,
        "source_timezone": row.source_timezone,
    }
    if row.segment is not None:
        out["segment"] = row.segment
    if row.fees is not None:
        out["fees"] = str(row.fees)
    if row.charges:
        out["charges"] = charge_lines(row.charges)
    if row.broker_trade_id:
        out["broker_trade_id"] = row.broker_trade_id
    if row.broker_order_id:
        out["broker_order_id"] = row.broker_order_id
    if row.product is not None:
        out["product"] = row.product
    if row.day_level:
        out["day_level"] = True
    return out


# The parsers' names of charges that the trades contract spells otherwise (CHARGE_LINES).
_LINE_OF = {"sebi_fees": "sebi", "sebi_fee": "sebi", "stamp": "stamp_duty", "exchange": "exchange_txn"}
_LINES = frozenset(CHARGE_LINES)


def charge_lines(charges: dict[str, Decimal]) -> dict[str, str]:
    """A row's itemised charges as trades' charge lines (decimal strings): the parsers' names
    mapped to the contract's, a name it does not know folded into ``other``."""
    out: dict[str, Decimal] = {}
    for name, amount in charges.items():
        line = _LINE_OF.get(name, name)
        if line not in _LINES:
            line = "other"
        out[line] = out[line] + amount if line in out else amount
    return {line: str(amount) for line, amount in out.items()}


def _size(row: ParsedRow) -> int:
    """About the JSON size of the row's staged form: the keys and fixed-width values (~300
    bytes) plus the variable text. Cheap, since it is paid on every row. (Batches travel as
    columns, about half that size: the estimate errs on the safe side.)"""
    return (
        300
        + len(row.symbol)
        + 2 * len(row.broker_trade_id or "")
        + len(row.broker_order_id or "")
        + len(row.source_timezone)
        + (40 * len(row.charges) if row.charges else 0)
    )


def _block_sizes(columns: dict[str, list[Any]]) -> list[int]:
    """:func:`_size` of each row of a row block, from its columns."""
    charges = [0 if c is None else 40 * len(c) for c in columns["charges"]]
    return [
        300 + len(symbol) + 2 * len(trade_id or "") + len(order_id or "") + len(zone) + extra
        for symbol, trade_id, order_id, zone, extra in zip(
            columns["symbol"],
            columns["broker_trade_id"],
            columns["broker_order_id"],
            columns["source_timezone"],
            charges,
            strict=True,
        )
    ]


def _block_bytes(columns: dict[str, list[Any]]) -> int:
    """The sum of :func:`_block_sizes`, a column at a time."""
    return (
        300 * len(columns["line"])
        + sum(map(len, columns["symbol"]))
        + 2 * sum(map(len, filter(None, columns["broker_trade_id"])))
        + sum(map(len, filter(None, columns["broker_order_id"])))
        + sum(map(len, columns["source_timezone"]))
        + 40 * sum(map(len, filter(None, columns["charges"])))
    )


def _plain(number: Decimal) -> str:
    """A decimal in positional notation (``100``, not ``1E+2``): the form trades checks fastest."""
    text = str(number)
    return format(number, "f") if "E" in text else text


class ColumnBatch:
    """The rows of one ``trades.StageImportBatch`` in its columnar form: one list per field of
    ``StagedExecutionIn`` (null where a row has no value). Values are written as trades takes
    them without a second look: decimals in positional notation, instants in UTC ISO 8601."""

    FIELDS = STAGED_FIELDS

    def __init__(self) -> None:
        self.bytes = 0
        self.symbol: list[str] = []
        self.exchange: list[str] = []
        self.segment: list[str | None] = []
        self.side: list[str] = []
        self.quantity: list[str] = []
        self.price: list[str] = []
        self.executed_at: list[str] = []
        self.fees: list[str | None] = []
        self.charges: list[dict[str, str] | None] = []
        self.currency: list[str] = []
        self.broker_trade_id: list[str | None] = []
        self.broker_order_id: list[str | None] = []
        self.product: list[str | None] = []
        self.fingerprint: list[str] = []
        self.line: list[int] = []
        self.source_timezone: list[str] = []
        self.day_level: list[bool | None] = []

    def __len__(self) -> int:
        return len(self.line)

    def add(self, row: ParsedRow, fingerprint: str, size: int) -> None:
        """One more row; ``size`` is its _size."""
        self.symbol.append(row.symbol)
        self.exchange.append(row.exchange)
        self.segment.append(row.segment)
        self.side.append(row.side)
        self.quantity.append(_plain(row.quantity))
        self.price.append(_plain(row.price))
        self.executed_at.append(row.executed_at.isoformat())
        self.fees.append(None if row.fees is None else _plain(row.fees))
        self.charges.append(charge_lines(row.charges) if row.charges else None)
        self.currency.append(row.currency)
        self.broker_trade_id.append(row.broker_trade_id or None)
        self.broker_order_id.append(row.broker_order_id or None)
        self.product.append(row.product)
        self.fingerprint.append(fingerprint)
        self.line.append(row.line)
        self.source_timezone.append(row.source_timezone)
        self.day_level.append(True if row.day_level else None)
        self.bytes += size

    def extend(self, columns: dict[str, list[Any]], start: int, end: int, size: int) -> None:
        """Rows ``start`` to ``end`` of a row block; ``size`` is the sum of their _size."""
        for name in self.FIELDS:
            values: list[Any] = getattr(self, name)
            values.extend(columns[name][start:end])
        self.bytes += size

    def payload(self) -> dict[str, list[Any]]:
        """The ``columns`` of the command: a field that no row has is left out."""
        columns: dict[str, list[Any]] = {}
        for name in self.FIELDS:
            values: list[Any] = getattr(self, name)
            if any(values) or values.count(None) != len(values):
                columns[name] = values
        return columns


@dataclass
class Chunk:
    """What one pass over the parser produced: full batches ready to send (each the ``columns``
    of a StageImportBatch), row errors, and whether the file ended."""

    batches: list[dict[str, list[Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0
    day_level: bool = False
    done: bool = False


class Batcher:
    """Feeds parse results (rows, row errors and row blocks) into batches of at most
    MAX_STAGE_BATCH rows and MAX_BATCH_BYTES. A row block is cut where its rows one by one
    would have been: the batches are the same either way."""

    def __init__(self, results: Iterator[StreamItem]) -> None:
        self.results = results
        self.fingerprints = Fingerprints()
        self.current = ColumnBatch()
        self.pending: RowBlock | None = None  # the part of a block that did not fit the last chunk

    def take(self, rows: int, seconds: float | None = None) -> Chunk:
        """Read up to ``rows`` more rows, for at most about ``seconds`` (an ImportFileError from
        the parser propagates)."""
        chunk = Chunk()
        deadline = None if seconds is None else time.monotonic() + seconds
        fingerprint = self.fingerprints.of
        items = 0
        while chunk.rows < rows:
            item: StreamItem
            if self.pending is not None:
                item, self.pending = self.pending, None
            else:
                try:
                    item = next(self.results)
                except StopIteration:
                    chunk.done = True
                    break
            items += 1
            if isinstance(item, RowBlock):
                if len(item) > rows - chunk.rows:
                    item, self.pending = item.split(rows - chunk.rows)
                chunk.rows += len(item)
                self._add_block(item, chunk)
            elif isinstance(item, RowError):
                chunk.rows += 1
                chunk.errors.append(item)
            else:
                chunk.rows += 1
                if item.day_level:
                    chunk.day_level = True
                current = self.current
                size = _size(item)
                count = len(current)
                if count and (count >= MAX_STAGE_BATCH or current.bytes + size > MAX_BATCH_BYTES):
                    chunk.batches.append(current.payload())
                    current = self.current = ColumnBatch()
                current.add(item, fingerprint(item), size)
            checked = items % 256 == 0 or isinstance(item, RowBlock)
            if deadline is not None and checked and time.monotonic() > deadline:
                break
        if chunk.done and len(self.current):
            chunk.batches.append(self.current.payload())
            self.current = ColumnBatch()
        return chunk

    def _add_block(self, block: RowBlock, chunk: Chunk) -> None:
        columns = block.columns
        if any(columns["day_level"]):
            chunk.day_level = True
        end = len(block)
        current = self.current
        if len(current) + end <= MAX_STAGE_BATCH:
            size = _block_bytes(columns)
            if current.bytes + size <= MAX_BATCH_BYTES:
                current.extend(columns, 0, end, size)
                return
        sizes = _block_sizes(columns)
        start = 0
        while start < end:
            current = self.current
            count = len(current)
            total = current.bytes
            fit = 0
            for size in sizes[start : start + MAX_STAGE_BATCH - count]:
                if count + fit and total + size > MAX_BATCH_BYTES:
                    break
                total += size
                fit += 1
            if not fit:  # the batch is full: the next row opens another
                chunk.batches.append(current.payload())
                self.current = ColumnBatch()
                continue
            current.extend(columns, start, start + fit, total - current.bytes)
            start += fit
