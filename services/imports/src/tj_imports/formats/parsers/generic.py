"""Our own import template (``docs/import-template.md``): one execution per line, explicit time
zone, side, quantity, price, fees and an optional broker trade id. The row builder here also
drives the column-mapping parser (``mapped``): the template is a mapping onto itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tj_imports.formats.base import (
    Columns,
    FormatParser,
    ParsedRow,
    ParseOptions,
    ParseResult,
    RowInvalid,
    Segment,
    Side,
    Source,
    cell_text,
    iter_csv,
    parse_datetime,
    parse_decimal,
    parse_side,
    positive,
    to_utc,
)
from tj_imports.formats.parsers._global import blank, drive, locate_header, sniff_header, symbol_of

# Our field names, in the template's column order. ``datetime`` (date and time in one cell) is an
# alternative to ``date`` + ``time`` for mapped files.
FIELDS = [
    "date",
    "time",
    "timezone",
    "symbol",
    "exchange",
    "segment",
    "side",
    "quantity",
    "price",
    "fees",
    "currency",
    "broker_trade_id",
    "order_id",
    "product",
]
MAPPABLE_FIELDS = [*FIELDS, "datetime"]
TEMPLATE_REQUIRED = ["date", "time", "symbol", "side", "quantity", "price"]
TEMPLATE_DATE = ["%Y-%m-%d"]
TEMPLATE_TIME = ["%H:%M:%S", "%H:%M", "%H:%M:%S.%f"]

SEGMENTS: dict[str, Segment] = {
    "equity": "equity", "eq": "equity", "stock": "equity", "stocks": "equity", "cash": "equity",
    "futures": "futures", "future": "futures", "fut": "futures",
    "options": "options", "option": "options", "opt": "options",
    "currency": "currency", "cds": "currency", "forex": "currency", "fx": "currency",
    "commodity": "commodity", "mcx": "commodity", "com": "commodity",
}  # fmt: skip
PRODUCTS = {"MIS", "CNC", "NRML"}
_OFFSET = re.compile(r"\s*(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


def zone_of(raw: str, column: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise RowInvalid(column, "not an IANA time zone (e.g. Asia/Kolkata)", raw) from None
    return raw


def _offset(text: str) -> timezone:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 14 or minutes > 59:
        raise RowInvalid("time", "impossible UTC offset", text)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


class RowBuilder:
    """Builds a :class:`ParsedRow` from cells located by field name (our field → column)."""

    def __init__(
        self,
        columns: Columns,
        date_formats: Sequence[str],
        time_formats: Sequence[str],
        *,
        decimal_comma: bool = False,
        iso: bool = False,
    ) -> None:
        self.columns = columns
        self.iso = iso
        self.decimal_comma = decimal_comma
        self.date_formats = list(date_formats)
        self.time_formats = list(time_formats)
        self.has = {name: name in columns.positions for name in MAPPABLE_FIELDS}

    def _moment(self, row: Sequence[Any], options: ParseOptions) -> tuple[datetime, str, bool]:
        """(UTC time, source zone, day-level?)"""
        c = self.columns
        offset: timezone | None = None
        day_level = False
        if self.has["datetime"]:
            raw = c.get(row, "datetime")
            text = cell_text(raw)
            match = _OFFSET.search(text) if isinstance(raw, str) else None
            if match:
                offset, raw = _offset(match.group(1)), text[: match.start()]
            formats = [f"{d} {t}" for d in self.date_formats for t in self.time_formats]
            formats += [f"{d}T{t}" for d in self.date_formats for t in self.time_formats] + self.date_formats
            local = parse_datetime(raw, "datetime", formats)
        else:
            raw_date = c.get(row, "date")
            local = self._date(raw_date)
            raw_time = c.get(row, "time") if self.has["time"] else None
            if raw_time is None and not self.has["time"] and isinstance(raw_date, datetime):
                raw_time = raw_date.time() if raw_date.time() != time() else None  # a date-time cell
            if isinstance(raw_time, datetime):
                raw_time = raw_time.time()
            if isinstance(raw_time, time):
                local = datetime.combine(local.date(), raw_time.replace(tzinfo=None))
            elif cell_text(raw_time):
                text = cell_text(raw_time)
                match = _OFFSET.search(text)
                if match:
                    offset, text = _offset(match.group(1)), text[: match.start()]
                local = datetime.combine(local.date(), self._clock(text))
            elif self.has["time"]:
                raise RowInvalid("time", "empty", raw_time)
            else:
                local, day_level = local.replace(hour=12), True
        if offset is not None:
            aware = local.replace(tzinfo=offset)
            return aware.astimezone(UTC), _offset_name(offset), day_level
        zone_text = c.text(row, "timezone") if self.has["timezone"] else ""
        if zone_text:
            zone = zone_of(zone_text, "timezone")
        elif options.timezone:
            zone = options.timezone
        else:
            raise RowInvalid(
                "timezone", "no time zone: give a timezone column, an offset on the time, or the account's zone"
            )
        return to_utc(local, zone), zone, day_level

    def _date(self, raw: object) -> datetime:
        if self.iso and isinstance(raw, str):
            try:  # the C parser first: the template's dates are ISO
                return datetime.combine(date.fromisoformat(raw.strip()), time())
            except ValueError:
                pass
        return parse_datetime(raw, "date", self.date_formats).replace(hour=0, minute=0, second=0, microsecond=0)

    def _clock(self, text: str) -> time:
        if self.iso:
            try:
                clock = time.fromisoformat(text)
                if clock.tzinfo is None:
                    return clock
            except ValueError:
                pass
        return parse_datetime(text, "time", self.time_formats).time()

    def _number(self, row: Sequence[Any], name: str) -> Decimal:
        return parse_decimal(self.columns.get(row, name), name, decimal_comma=self.decimal_comma)

    def build(self, line: int, row: Sequence[Any], options: ParseOptions) -> ParsedRow:
        c = self.columns
        executed_at, zone, day_level = self._moment(row, options)
        quantity = self._number(row, "quantity")
        side: Side
        if self.has["side"]:
            side = parse_side(c.get(row, "side"), "side")
        elif quantity < 0:
            side = "sell"
        else:
            side = "buy"
        segment = None
        if self.has["segment"] and c.text(row, "segment"):
            segment = SEGMENTS.get(c.text(row, "segment").lower())
            if segment is None:
                raise RowInvalid(
                    "segment", "must be equity, futures, options, currency or commodity", c.get(row, "segment")
                )
        product = c.text(row, "product").upper() if self.has["product"] else ""
        if product and product not in PRODUCTS:
            raise RowInvalid("product", "must be MIS, CNC or NRML", product)
        fees = None
        if self.has["fees"] and c.text(row, "fees"):
            fees = self._number(row, "fees")
            if fees < 0:
                raise RowInvalid("fees", "must not be negative", c.get(row, "fees"))
        currency = c.text(row, "currency").upper() if self.has["currency"] else ""
        if currency and not re.fullmatch(r"[A-Z]{3}", currency):
            raise RowInvalid("currency", "must be a three-letter currency code", currency)
        exchange = c.text(row, "exchange").upper() if self.has["exchange"] else ""
        return ParsedRow(
            line=line,
            symbol=symbol_of(c.get(row, "symbol"), "symbol"),
            side=side,
            quantity=positive(abs(quantity), "quantity"),
            price=positive(self._number(row, "price"), "price"),
            executed_at=executed_at,
            source_timezone=zone,
            exchange=(exchange or "NSE")[:16],
            segment=segment,
            currency=currency or options.currency or "INR",
            fees=fees,
            broker_trade_id=(c.text(row, "broker_trade_id") if self.has["broker_trade_id"] else "") or None,
            broker_order_id=(c.text(row, "order_id") if self.has["order_id"] else "") or None,
            product=cast(Literal["MIS", "CNC", "NRML"], product) if product else None,
            day_level=day_level,
        )


def _offset_name(offset: timezone) -> str:
    """A fixed offset as the IANA-compatible name we store (``UTC`` or ``+05:30``)."""
    delta = offset.utcoffset(None)
    if not delta:
        return "UTC"
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


class GenericTemplateCsv(FormatParser):
    name = "generic_template_csv"
    label = "Trading Journal import template (CSV)"
    broker = "generic"
    family = "csv"

    ALIASES: dict[str, Sequence[str]] = {name: [name] for name in FIELDS}

    def sniff(self, source: Source) -> int:
        found = sniff_header(source, self.ALIASES, TEMPLATE_REQUIRED, score=70)
        return 0 if found is None else found[0]

    def parse(self, source: Source, options: ParseOptions) -> Iterator[ParseResult]:
        self.zone(options)  # a bad account zone is the file's error, not every row's
        rows = iter_csv(source)
        _, columns = locate_header(rows, self.ALIASES, TEMPLATE_REQUIRED, self.label)
        builder = RowBuilder(columns, TEMPLATE_DATE, TEMPLATE_TIME, iso=True)
        for line, row in rows:
            if blank(row) or cell_text(row[0]).startswith("#"):
                continue
            yield drive(builder.build, line, row, options)
