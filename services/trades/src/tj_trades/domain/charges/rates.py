"""India's statutory and exchange charge rates, versioned by effective date, loaded from `data/india_charges.toml`.

The table is read once into frozen dataclasses; `rates_on(day)` picks what was in force on an IST
trade date. Rates here are fractions of turnover (the file's percentages divided by 100).
"""

from __future__ import annotations

import bisect
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Generic, TypeVar

from tj_trades.domain.charges.segments import ChargeClass, Exchange, Segment

RATE_TABLE_RESOURCE = "data/india_charges.toml"

_HUNDRED = Decimal(100)
T = TypeVar("T")


class RatesUnavailableError(LookupError):
    """No rate version covers the trade date (it is older than the table)."""


@dataclass(frozen=True, slots=True)
class SideRates:
    """A rate per side of the trade, as a fraction of turnover."""

    buy: Decimal
    sell: Decimal


@dataclass(frozen=True, slots=True)
class SttRates:
    by_class: Mapping[ChargeClass, SideRates]
    # Due from the option holder on the intrinsic value when an option is exercised.
    options_exercised: Decimal


@dataclass(frozen=True, slots=True)
class ExchangeRates:
    """A rate per exchange and segment, with optional per-underlying overrides for options."""

    by_exchange: Mapping[Exchange, Mapping[Segment, Decimal]]
    options_by_underlying: Mapping[Exchange, Mapping[str, Decimal]]

    def rate(self, exchange: Exchange, segment: Segment, underlying: str | None = None) -> Decimal:
        if segment is Segment.OPTIONS and underlying is not None:
            override = self.options_by_underlying.get(exchange, {}).get(underlying.upper())
            if override is not None:
                return override
        return self.by_exchange[exchange][segment]


@dataclass(frozen=True, slots=True)
class DpCharge:
    per_scrip: Decimal
    gst_applies: bool


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """One version of one charge: in force from `effective_from` until the next version."""

    effective_from: date
    value: T
    source: str


@dataclass(frozen=True, slots=True)
class IndiaRates:
    """Every rate in force on one trade date, and the table version it came from."""

    trade_date: date
    version: str
    stt: SttRates
    exchange_txn: ExchangeRates
    ipft: ExchangeRates
    sebi: Decimal
    stamp_duty: Mapping[ChargeClass, Decimal]
    gst: Decimal
    dp: DpCharge


def _pick(versions: tuple[Versioned[T], ...], day: date, charge: str) -> T:
    starts = [v.effective_from for v in versions]
    i = bisect.bisect_right(starts, day) - 1
    if i < 0:
        raise RatesUnavailableError(f"no {charge} rates before {starts[0].isoformat()} (asked for {day.isoformat()})")
    return versions[i].value


@dataclass(frozen=True, slots=True)
class IndiaRateTable:
    """The whole versioned table. Each charge has its own versions, sorted by `effective_from`."""

    version: str
    stt: tuple[Versioned[SttRates], ...]
    exchange_txn: tuple[Versioned[ExchangeRates], ...]
    ipft: tuple[Versioned[ExchangeRates], ...]
    sebi: tuple[Versioned[Decimal], ...]
    stamp_duty: tuple[Versioned[Mapping[ChargeClass, Decimal]], ...]
    gst: tuple[Versioned[Decimal], ...]
    dp: tuple[Versioned[DpCharge], ...]
    sources: tuple[str, ...] = ()
    simplifications: tuple[str, ...] = ()

    def on(self, day: date) -> IndiaRates:
        """The rates in force on `day`, a trade date in IST."""
        return IndiaRates(
            trade_date=day,
            version=self.version,
            stt=_pick(self.stt, day, "STT"),
            exchange_txn=_pick(self.exchange_txn, day, "exchange transaction"),
            ipft=_pick(self.ipft, day, "IPFT"),
            sebi=_pick(self.sebi, day, "SEBI fee"),
            stamp_duty=_pick(self.stamp_duty, day, "stamp duty"),
            gst=_pick(self.gst, day, "GST"),
            dp=_pick(self.dp, day, "DP"),
        )


# --- parsing -------------------------------------------------------------------------------------
# The file is ours, but a typo in it would silently misprice every trade: parse strictly and fail loudly.


class RateTableError(ValueError):
    """The rate table file is malformed."""


def _table(obj: object, where: str) -> dict[str, object]:
    if not isinstance(obj, dict):
        raise RateTableError(f"{where}: expected a table")
    return {str(k): v for k, v in obj.items()}


def _list(obj: object, where: str) -> list[object]:
    if not isinstance(obj, list) or not obj:
        raise RateTableError(f"{where}: expected a non-empty array")
    return list(obj)


def _number(obj: object, where: str) -> Decimal:
    # Bools are ints in Python, floats would have lost digits already: accept neither.
    if isinstance(obj, bool | float):
        raise RateTableError(f"{where}: expected an exact number, got {obj!r}")
    if isinstance(obj, int | Decimal | str):
        value = Decimal(obj)
    else:
        raise RateTableError(f"{where}: expected a number, got {obj!r}")
    if value < 0:
        raise RateTableError(f"{where}: negative rate {value}")
    return value


def _pct(obj: object, where: str) -> Decimal:
    return _number(obj, where) / _HUNDRED


def _by_class(obj: object, where: str) -> dict[ChargeClass, Decimal]:
    t = _table(obj, where)
    missing = {c.value for c in ChargeClass} - set(t)
    if missing:
        raise RateTableError(f"{where}: missing {sorted(missing)}")
    return {c: _pct(t[c.value], f"{where}.{c.value}") for c in ChargeClass}


def _by_exchange_segment(obj: object, where: str) -> dict[Exchange, Mapping[Segment, Decimal]]:
    t = _table(obj, where)
    result: dict[Exchange, Mapping[Segment, Decimal]] = {}
    for exchange in Exchange:
        seg_table = _table(t.get(exchange.value), f"{where}.{exchange.value}")
        missing = {s.value for s in Segment} - set(seg_table)
        if missing:
            raise RateTableError(f"{where}.{exchange.value}: missing {sorted(missing)}")
        result[exchange] = MappingProxyType(
            {s: _pct(seg_table[s.value], f"{where}.{exchange.value}.{s.value}") for s in Segment}
        )
    return result


def _exchange_rates(entry: dict[str, object], where: str) -> ExchangeRates:
    overrides: dict[Exchange, Mapping[str, Decimal]] = {}
    for exchange_key, table in _table(entry.get("options_by_underlying", {}), where).items():
        exchange = Exchange(exchange_key)
        overrides[exchange] = MappingProxyType(
            {u.upper(): _pct(v, f"{where}.{exchange_key}.{u}") for u, v in _table(table, where).items()}
        )
    return ExchangeRates(
        by_exchange=MappingProxyType(_by_exchange_segment(entry.get("rates"), f"{where}.rates")),
        options_by_underlying=MappingProxyType(overrides),
    )


def _stt(entry: dict[str, object], where: str) -> SttRates:
    t = _table(entry.get("rates"), f"{where}.rates")
    by_class: dict[ChargeClass, SideRates] = {}
    for c in ChargeClass:
        sides = _table(t.get(c.value), f"{where}.rates.{c.value}")
        by_class[c] = SideRates(
            buy=_pct(sides.get("buy"), f"{where}.rates.{c.value}.buy"),
            sell=_pct(sides.get("sell"), f"{where}.rates.{c.value}.sell"),
        )
    return SttRates(
        by_class=MappingProxyType(by_class),
        options_exercised=_pct(entry.get("options_exercised"), f"{where}.options_exercised"),
    )


def _dp(entry: dict[str, object], where: str) -> DpCharge:
    gst_applies = entry.get("gst_applies")
    if not isinstance(gst_applies, bool):
        raise RateTableError(f"{where}.gst_applies: expected true or false")
    return DpCharge(per_scrip=_number(entry.get("per_scrip"), f"{where}.per_scrip"), gst_applies=gst_applies)


def _versions(
    doc: dict[str, object], charge: str, parse: Callable[[dict[str, object], str], T]
) -> tuple[Versioned[T], ...]:
    versions: list[Versioned[T]] = []
    for i, raw in enumerate(_list(doc.get(charge), charge)):
        where = f"{charge}[{i}]"
        entry = _table(raw, where)
        start = entry.get("effective_from")
        if not isinstance(start, date):
            raise RateTableError(f"{where}.effective_from: expected a date")
        if versions and start <= versions[-1].effective_from:
            raise RateTableError(f"{where}: versions must be in increasing effective_from order")
        versions.append(Versioned(effective_from=start, value=parse(entry, where), source=str(entry.get("source", ""))))
    return tuple(versions)


def parse_rate_table(text: str) -> IndiaRateTable:
    """Parse and validate a rate table in the `india_charges.toml` format."""
    doc = _table(tomllib.loads(text, parse_float=Decimal), "rate table")
    version = doc.get("version")
    if not isinstance(version, str) or not version:
        raise RateTableError("rate table: missing version")
    return IndiaRateTable(
        version=version,
        stt=_versions(doc, "stt", _stt),
        exchange_txn=_versions(doc, "exchange_txn", _exchange_rates),
        ipft=_versions(doc, "ipft", _exchange_rates),
        sebi=_versions(doc, "sebi", lambda e, w: _pct(e.get("rate"), f"{w}.rate")),
        stamp_duty=_versions(doc, "stamp_duty", lambda e, w: MappingProxyType(_by_class(e.get("rates"), f"{w}.rates"))),
        gst=_versions(doc, "gst", lambda e, w: _pct(e.get("rate"), f"{w}.rate")),
        dp=_versions(doc, "dp", _dp),
        sources=tuple(str(s) for s in _list(doc.get("sources", [""]), "sources")),
        simplifications=tuple(str(s) for s in _list(doc.get("simplifications", [""]), "simplifications")),
    )


@cache
def india_rate_table() -> IndiaRateTable:
    """The packaged rate table, read once per process."""
    text = resources.files("tj_trades.domain").joinpath(RATE_TABLE_RESOURCE).read_text(encoding="utf-8")
    return parse_rate_table(text)


def rates_on(day: date, table: IndiaRateTable | None = None) -> IndiaRates:
    """The rates in force on an IST trade date (from the packaged table unless one is given)."""
    return (table or india_rate_table()).on(day)
