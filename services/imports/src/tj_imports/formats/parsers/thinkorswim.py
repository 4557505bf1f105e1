"""thinkorswim (Schwab/TD Ameritrade) account statement CSV: executions from the ``Account Trade
History`` section; fees from the ``Cash Balance`` section's TRD lines when one matches the order.

Continuation rows of a multi-leg order leave ``Exec Time`` (and ``Spread``) blank: they inherit
the order's. A Cash Balance line matches an order when its time is within two seconds and its
description names the symbol; the order's fee goes on its first leg, the other legs get 0. An
order with no matching line gets no fee (``None``), since the statement cannot tell us.
Options are stored under their OCC symbol with quantities in shares (contracts x 100).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tj_imports.formats.base import (
    Columns,
    FormatParser,
    MissingColumns,
    ParsedRow,
    ParseOptions,
    ParseResult,
    RowError,
    RowInvalid,
    Segment,
    Side,
    Source,
    cell_text,
    iter_csv,
    norm,
    parse_datetime,
    parse_decimal,
    positive,
    to_utc,
)
from tj_imports.formats.parsers._global import (
    US_EASTERN,
    US_OPTION_MULTIPLIER,
    blank,
    drive,
    occ_symbol,
    symbol_of,
)

TRADES_ALIASES: dict[str, Sequence[str]] = {
    "exec_time": ["Exec Time"],
    "spread": ["Spread"],
    "side": ["Side"],
    "qty": ["Qty"],
    "pos_effect": ["Pos Effect"],
    "symbol": ["Symbol"],
    "exp": ["Exp"],
    "strike": ["Strike"],
    "type": ["Type"],
    "price": ["Price"],
}
TRADES_REQUIRED = ["exec_time", "side", "qty", "symbol", "type", "price"]

CASH_ALIASES: dict[str, Sequence[str]] = {
    "date": ["DATE"],
    "time": ["TIME"],
    "type": ["TYPE"],
    "description": ["DESCRIPTION"],
    "misc_fees": ["Misc Fees"],
    "commissions": ["Commissions & Fees"],
}
CASH_REQUIRED = ["date", "time", "type", "description"]

TIME_FORMATS = ["%m/%d/%y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M"]
MATCH_WINDOW = timedelta(seconds=2)
OPTION_TYPES = {"CALL", "PUT"}
SEGMENT_OF_TYPE: dict[str, Segment] = {"STOCK": "equity", "ETF": "equity", "FUTURE": "futures", "FUTURES": "futures"}


@dataclass
class _CashLine:
    at: datetime
    words: frozenset[str]
    fee: Decimal
    used: bool = False


def _section(row: Sequence[Any]) -> str | None:
    cells = [cell_text(c) for c in row if cell_text(c)]
    return norm(cells[0]) if len(cells) == 1 else None


def _fee_lines(source: Source) -> list[_CashLine]:
    """The Cash Balance TRD lines: when, which words, and the fees they charged (as a positive amount)."""
    lines: list[_CashLine] = []
    in_cash = False
    columns: Columns | None = None
    for _, row in iter_csv(source):
        title = _section(row)
        if title is not None and not in_cash and title == "cashbalance":
            in_cash = True
            continue
        if not in_cash:
            continue
        if blank(row):
            if columns is not None:
                break
            continue
        if columns is None:
            columns = Columns(row, CASH_ALIASES)
            if not columns.matches(CASH_REQUIRED):
                return []
            continue
        if columns.text(row, "type").upper() != "TRD":
            continue
        try:
            at = parse_datetime(f"{columns.text(row, 'date')} {columns.text(row, 'time')}", "DATE", TIME_FORMATS)
            fee = Decimal(0)
            for name in ("misc_fees", "commissions"):
                if columns.text(row, name):
                    fee += parse_decimal(columns.get(row, name), name)
        except RowInvalid:
            continue
        words = frozenset(re.findall(r"[A-Z0-9./]+", columns.text(row, "description").upper()))
        lines.append(_CashLine(at=at, words=words, fee=-fee if fee < 0 else Decimal(0)))
    return lines


class ThinkorswimStatementCsv(FormatParser):
    name = "thinkorswim_statement_csv"
    label = "thinkorswim account statement (CSV)"
    broker = "thinkorswim"
    family = "csv"
    timezone = US_EASTERN

    def sniff(self, source: Source) -> int:
        if source.kind != "text":
            return 0
        first = norm(source.sample[0]) if source.sample else ""
        rows = source.first_rows()
        if any(Columns(row, TRADES_ALIASES).matches(TRADES_REQUIRED) for row in rows):
            return 90
        if first.startswith("accountstatementfor"):
            return 85  # the trade history section is further down than the sniffed lines
        return 0

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        zone = self.zone(options)
        fees = _fee_lines(source)
        in_trades = False
        columns: Columns | None = None
        seen = False
        order_time: datetime | None = None
        order_fee: Decimal | None = None
        for line, row in iter_csv(source):
            title = _section(row)
            if title == "accounttradehistory":
                in_trades, columns, seen = True, None, True
                continue
            if not in_trades:
                continue
            if blank(row) or (title is not None and columns is not None):
                if columns is not None:
                    break  # the section ends at a blank line or the next section's title
                continue
            if columns is None:
                columns = Columns(row, TRADES_ALIASES)
                if not columns.matches(TRADES_REQUIRED):
                    raise MissingColumns(self.label, columns.missing(TRADES_REQUIRED))
                continue
            exec_text = columns.text(row, "exec_time")
            if exec_text:
                try:
                    order_time = parse_datetime(exec_text, "Exec Time", TIME_FORMATS)
                except RowInvalid as exc:
                    order_time = None
                    yield RowError(line=line, column=exc.column, reason=exc.reason, raw=exc.raw)
                    continue
                order_fee = self._match_fee(fees, order_time, row, columns)
                fee = order_fee
            else:
                if order_time is None:
                    yield RowError(line=line, column="Exec Time", reason="a continuation row without an order")
                    continue
                fee = None if order_fee is None else Decimal(0)
            yield drive(self._row, line, row, columns, order_time, fee, zone, options)
        if not seen:
            raise MissingColumns(self.label, ["the Account Trade History section"])

    @staticmethod
    def _match_fee(fees: list[_CashLine], at: datetime, row: Sequence[Any], columns: Columns) -> Decimal | None:
        symbol = columns.text(row, "symbol").upper()
        for cash in fees:
            if not cash.used and abs(cash.at - at) <= MATCH_WINDOW and symbol in cash.words:
                cash.used = True
                return cash.fee
        return None

    def _row(
        self,
        line: int,
        row: Sequence[Any],
        columns: Columns,
        at: datetime,
        fee: Decimal | None,
        zone: str,
        options: ParseOptions,
    ) -> ParsedRow:
        qty = parse_decimal(columns.get(row, "qty"), "Qty")
        if qty == 0:
            raise RowInvalid("Qty", "zero quantity", columns.get(row, "qty"))
        side_text = columns.text(row, "side").upper()
        side: Side = "sell" if qty < 0 else "buy"
        if side_text in {"BUY", "SELL"} and side_text.lower() != side:
            raise RowInvalid("Side", "Side contradicts the sign of Qty", side_text)
        kind = columns.text(row, "type").upper()
        raw_symbol = columns.text(row, "symbol")
        future = raw_symbol.startswith("/")
        underlying = symbol_of(raw_symbol.lstrip("/"), "Symbol")
        quantity = abs(qty)
        segment: Segment | None
        if kind in OPTION_TYPES:
            expiry = parse_datetime(columns.get(row, "exp"), "Exp", ["%d %b %y", "%d %b %Y"])
            strike = positive(parse_decimal(columns.get(row, "strike"), "Strike"), "Strike")
            symbol = occ_symbol(underlying, expiry, kind, strike)
            quantity *= US_OPTION_MULTIPLIER
            segment = "options"
        else:
            symbol = underlying
            segment = SEGMENT_OF_TYPE.get(kind, "futures" if future else "equity")
        return ParsedRow(
            line=line,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=positive(parse_decimal(columns.get(row, "price"), "Price"), "Price"),
            executed_at=to_utc(at, zone),
            source_timezone=zone,
            exchange="US",
            segment=segment,
            currency=(options.currency or "USD")[:3],
            fees=fee,
        )
