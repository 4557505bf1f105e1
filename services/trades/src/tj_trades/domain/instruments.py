"""What a traded symbol is: exchange, segment, underlying, expiry, strike, option right and size.

Parses Indian exchange trading symbols (``NIFTY2560524750PE``, ``BANKNIFTY25JUN52000CE``,
``RELIANCE25JULFUT``), the descriptive contract names some brokers print instead
(``OPTIDX NIFTY Aug 25 2026 24150.00 PE``, ``FUT WIPRO 28 Apr 2026``), and plain equity symbols.
Monthly expiry days come from a dated rule table, never from a constant weekday.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum


class Segment(StrEnum):
    EQUITY_DELIVERY = "equity_delivery"
    EQUITY_INTRADAY = "equity_intraday"
    FUTURES = "futures"
    OPTIONS = "options"


class OptionRight(StrEnum):
    CALL = "call"
    PUT = "put"


class ExpirySource(StrEnum):
    """How sure the expiry date is."""

    SYMBOL = "symbol"  # the symbol spells out the day (weekly contracts, descriptive names)
    RULE = "rule"  # derived from the dated weekday rule; a holiday shift is NOT applied
    GIVEN = "given"  # supplied by the caller, e.g. the broker file's expiry column


@dataclass(frozen=True, slots=True, order=True)
class ContractMonth:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month out of range: {self.month}")


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable instrument.

    ``multiplier`` turns price * quantity into money. Indian brokers report derivative quantities
    in units (lots * lot size), so it is 1 unless the caller knows better; ``lot_size`` is
    informational and cannot be derived from a symbol.
    """

    symbol: str
    exchange: str
    segment: Segment
    underlying: str
    expiry: date | None = None
    expiry_month: ContractMonth | None = None
    expiry_source: ExpirySource | None = None
    strike: Decimal | None = None
    right: OptionRight | None = None
    lot_size: Decimal | None = None
    multiplier: Decimal = Decimal(1)

    @property
    def is_derivative(self) -> bool:
        return self.segment in (Segment.FUTURES, Segment.OPTIONS)


@dataclass(frozen=True, slots=True)
class MonthlyExpiryRule:
    """From ``effective_from`` (a contract month) on, monthly contracts expire on the last ``weekday``.

    ``weekday`` None means "not derivable from a weekday" for that period (the rule exists to stop an
    older rule from being applied where it is known to be wrong or not known to be right).
    ``underlyings`` None makes the rule the exchange's default for underlyings without their own rules.
    """

    exchange: str
    underlyings: frozenset[str] | None
    effective_from: ContractMonth
    weekday: int | None


_THU = calendar.THURSDAY
_TUE = calendar.TUESDAY
_NSE_OTHER_INDICES = frozenset({"BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50"})
_NSE_CURRENCIES = frozenset({"USDINR", "EURINR", "GBPINR", "JPYINR"})
# Listed only on BSE: a file that files them under "NSE" (or nothing) still gets BSE's expiry days.
_BSE_ONLY_UNDERLYINGS = frozenset({"SENSEX", "BANKEX", "SENSEX50"})

# Scheduled monthly expiry weekdays. NSE equity derivatives expired on the last Thursday until the
# August-2025 contracts and on the last Tuesday from the September-2025 contracts (SEBI's expiry-day
# rationalisation); BSE moved to the last Thursday at the same time. The other NSE indices had their
# own days (Wednesday, Tuesday, Monday, Friday) at various times before January 2025, which this table
# does not try to reproduce; currency derivatives expire two working days before month end, which
# needs a holiday calendar. Extend the table rather than the code when an exchange changes its days.
MONTHLY_EXPIRY_RULES: tuple[MonthlyExpiryRule, ...] = (
    MonthlyExpiryRule("NSE", None, ContractMonth(2000, 6), _THU),
    MonthlyExpiryRule("NSE", None, ContractMonth(2025, 9), _TUE),
    MonthlyExpiryRule("NSE", frozenset({"BANKNIFTY"}), ContractMonth(2005, 6), _THU),
    MonthlyExpiryRule("NSE", frozenset({"BANKNIFTY"}), ContractMonth(2023, 9), None),
    MonthlyExpiryRule("NSE", _NSE_OTHER_INDICES, ContractMonth(2000, 1), None),
    MonthlyExpiryRule("NSE", _NSE_OTHER_INDICES, ContractMonth(2025, 1), _THU),
    MonthlyExpiryRule("NSE", _NSE_OTHER_INDICES, ContractMonth(2025, 9), _TUE),
    MonthlyExpiryRule("NSE", _NSE_CURRENCIES, ContractMonth(2000, 1), None),
    MonthlyExpiryRule("BSE", None, ContractMonth(2025, 9), _THU),
)

# Derivative segments are listed under their own exchange codes; the expiry rules are per exchange.
_EXCHANGE_FAMILY = {"NSE": "NSE", "NFO": "NSE", "BSE": "BSE", "BFO": "BSE"}

_MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
_WEEKLY_MONTH_CODES = {**{str(m): m for m in range(1, 10)}, "O": 10, "N": 11, "D": 12}

# Indices whose names end in digits: a weekly symbol's date digits could otherwise be read as part
# of the name (or the other way round).
KNOWN_INDEX_UNDERLYINGS = frozenset(
    {"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX", "SENSEX50"}
)

_MONTHLY = re.compile(
    r"(?P<u>[A-Z0-9&\-_.]+?)(?P<yy>\d{2})(?P<mon>JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"
    r"(?:(?P<strike>\d+(?:\.\d+)?)(?P<right>CE|PE)|(?P<fut>FUT))"
)
_WEEKLY_UNDERLYING = re.compile(r"[A-Z][A-Z&\-]*")
_WEEKLY_TAIL = re.compile(r"(?P<yy>\d{2})(?P<m>[1-9OND])(?P<dd>\d{2})(?P<strike>\d+(?:\.\d+)?)(?P<right>CE|PE)")
_DESCRIPTIVE = re.compile(
    r"(?P<kind>OPT(?:IDX|STK|CUR|COM)?|FUT(?:IDX|STK|CUR|COM)?)\s+(?P<u>\S+)\s+"
    r"(?:(?P<mon1>[A-Z]{3})\s+(?P<day1>\d{1,2})|(?P<day2>\d{1,2})\s+(?P<mon2>[A-Z]{3}))\s+(?P<year>\d{4})"
    r"(?:\s+(?P<strike>\d+(?:\.\d+)?)\s+(?P<right>CE|PE))?"
    r"(?:\s*\(.*\))?"
)


def monthly_expiry(
    exchange: str,
    underlying: str,
    month: ContractMonth,
    rules: tuple[MonthlyExpiryRule, ...] = MONTHLY_EXPIRY_RULES,
) -> date | None:
    """The scheduled expiry of a monthly contract, or None when the rules cannot tell.

    The date is the last ``weekday`` of the month by the rule in force for that contract month. An
    exchange holiday moves the real expiry to the previous trading day; that shift is not applied,
    because it needs a holiday calendar: prefer the broker's expiry column when there is one.
    """
    family = _EXCHANGE_FAMILY.get(exchange.upper())
    if family is None:
        return None
    if underlying in _BSE_ONLY_UNDERLYINGS:
        family = "BSE"
    own = [r for r in rules if r.exchange == family and r.underlyings is not None and underlying in r.underlyings]
    applicable = own or [r for r in rules if r.exchange == family and r.underlyings is None]
    in_force = [r for r in applicable if r.effective_from <= month]
    if not in_force:
        return None
    weekday = max(in_force, key=lambda r: r.effective_from).weekday
    if weekday is None:
        return None
    return last_weekday_of_month(month.year, month.month, weekday)


def last_weekday_of_month(year: int, month: int, weekday: int) -> date:
    last_day = calendar.monthrange(year, month)[1]
    last = date(year, month, last_day)
    return date(year, month, last_day - (last.weekday() - weekday) % 7)


def parse_symbol(
    symbol: str,
    *,
    exchange: str = "NSE",
    intraday: bool = False,
    expiry: date | None = None,
    lot_size: Decimal | None = None,
    multiplier: Decimal = Decimal(1),
) -> Instrument:
    """Read an instrument out of a trading symbol.

    Anything that is not a recognisable derivative is taken as an equity symbol. A symbol cannot say
    whether an equity trade was intraday or delivery (Zerodha's CSV cannot either), so the caller
    passes ``intraday`` from the product column or its own rule. ``expiry`` is the broker's expiry
    date when the file has one; it wins over the derived date but must fall in the symbol's month.
    """
    text = " ".join(symbol.split()).upper()
    exch = exchange.strip().upper()
    if not text:
        raise ValueError("empty symbol")
    parsed = _parse_compact(text, exch) or _parse_descriptive(text, exch)
    if parsed is None:
        segment = Segment.EQUITY_INTRADAY if intraday else Segment.EQUITY_DELIVERY
        return Instrument(
            symbol=text, exchange=exch, segment=segment, underlying=text, lot_size=lot_size, multiplier=multiplier
        )
    if expiry is not None:
        if parsed.expiry_month is not None and (expiry.year, expiry.month) != (
            parsed.expiry_month.year,
            parsed.expiry_month.month,
        ):
            raise ValueError(f"expiry {expiry} is not in the contract month of {symbol!r}")
        parsed = replace(parsed, expiry=expiry, expiry_source=ExpirySource.GIVEN)
    return replace(parsed, lot_size=lot_size, multiplier=multiplier)


def _parse_compact(text: str, exchange: str) -> Instrument | None:
    monthly = _MONTHLY.fullmatch(text)
    if monthly is not None:
        underlying = monthly["u"]
        month = ContractMonth(2000 + int(monthly["yy"]), _MONTHS[monthly["mon"]])
        day = monthly_expiry(exchange, underlying, month)
        is_future = monthly["fut"] is not None
        return Instrument(
            symbol=text,
            exchange=exchange,
            segment=Segment.FUTURES if is_future else Segment.OPTIONS,
            underlying=underlying,
            expiry=day,
            expiry_month=month,
            expiry_source=ExpirySource.RULE if day is not None else None,
            strike=None if is_future else Decimal(monthly["strike"]),
            right=None if is_future else _right(monthly["right"]),
        )
    return _parse_weekly(text, exchange)


def _parse_weekly(text: str, exchange: str) -> Instrument | None:
    candidates: list[tuple[str, date, re.Match[str]]] = []
    for cut in range(1, len(text) - 7):
        underlying = text[:cut]
        # Only indices have weekly contracts; digits in a name would make the date digits ambiguous.
        if underlying not in KNOWN_INDEX_UNDERLYINGS and not _WEEKLY_UNDERLYING.fullmatch(underlying):
            continue
        tail = _WEEKLY_TAIL.fullmatch(text, cut)
        if tail is None:
            continue
        try:
            day = date(2000 + int(tail["yy"]), _WEEKLY_MONTH_CODES[tail["m"]], int(tail["dd"]))
        except ValueError:
            continue
        candidates.append((underlying, day, tail))
    if not candidates:
        return None
    known = [c for c in candidates if c[0] in KNOWN_INDEX_UNDERLYINGS]
    underlying, day, tail = (known or candidates)[0]
    return Instrument(
        symbol=text,
        exchange=exchange,
        segment=Segment.OPTIONS,
        underlying=underlying,
        expiry=day,
        expiry_month=ContractMonth(day.year, day.month),
        expiry_source=ExpirySource.SYMBOL,
        strike=Decimal(tail["strike"]),
        right=_right(tail["right"]),
    )


def _parse_descriptive(text: str, exchange: str) -> Instrument | None:
    found = _DESCRIPTIVE.fullmatch(text)
    if found is None:
        return None
    is_option = found["kind"].startswith("OPT")
    if is_option != (found["strike"] is not None):
        return None
    month_name = found["mon1"] or found["mon2"]
    if month_name not in _MONTHS:
        return None
    try:
        day = date(int(found["year"]), _MONTHS[month_name], int(found["day1"] or found["day2"]))
    except ValueError:
        return None
    return Instrument(
        symbol=text,
        exchange=exchange,
        segment=Segment.OPTIONS if is_option else Segment.FUTURES,
        underlying=found["u"],
        expiry=day,
        expiry_month=ContractMonth(day.year, day.month),
        expiry_source=ExpirySource.SYMBOL,
        strike=Decimal(found["strike"]) if is_option else None,
        right=_right(found["right"]) if is_option else None,
    )


def _right(code: str) -> OptionRight:
    return OptionRight.CALL if code == "CE" else OptionRight.PUT
