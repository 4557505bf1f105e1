"""Symbol parsing and expiry resolution."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tj_trades.domain.instruments import (
    ContractMonth,
    ExpirySource,
    OptionRight,
    Segment,
    last_weekday_of_month,
    monthly_expiry,
    parse_symbol,
)


def test_weekly_option_spells_out_its_expiry_day() -> None:
    inst = parse_symbol("NIFTY2560524750PE", exchange="NFO")
    assert inst.segment is Segment.OPTIONS
    assert inst.underlying == "NIFTY"
    assert inst.expiry == date(2025, 6, 5)
    assert inst.expiry_source is ExpirySource.SYMBOL
    assert inst.strike == Decimal("24750")
    assert inst.right is OptionRight.PUT
    assert inst.multiplier == Decimal(1)
    assert inst.lot_size is None
    assert inst.exchange == "NFO"


@pytest.mark.parametrize(
    ("symbol", "expiry", "strike", "right"),
    [
        ("NIFTY25O0724750CE", date(2025, 10, 7), Decimal("24750"), OptionRight.CALL),
        ("NIFTY25N1124000PE", date(2025, 11, 11), Decimal("24000"), OptionRight.PUT),
        ("NIFTY25D0225000CE", date(2025, 12, 2), Decimal("25000"), OptionRight.CALL),
        ("NIFTY2591622500PE", date(2025, 9, 16), Decimal("22500"), OptionRight.PUT),
        ("SENSEX2560381000CE", date(2025, 6, 3), Decimal("81000"), OptionRight.CALL),
    ],
)
def test_weekly_month_codes(symbol: str, expiry: date, strike: Decimal, right: OptionRight) -> None:
    inst = parse_symbol(symbol)
    assert (inst.expiry, inst.strike, inst.right) == (expiry, strike, right)


def test_monthly_option_before_the_tuesday_move_expires_last_thursday() -> None:
    inst = parse_symbol("BANKNIFTY25JUN52000CE", exchange="NFO")
    assert inst.segment is Segment.OPTIONS
    assert inst.underlying == "BANKNIFTY"
    assert inst.expiry_month == ContractMonth(2025, 6)
    assert inst.expiry == date(2025, 6, 26)  # a Thursday
    assert inst.expiry_source is ExpirySource.RULE
    assert inst.strike == Decimal("52000")
    assert inst.right is OptionRight.CALL


def test_stock_future() -> None:
    inst = parse_symbol("RELIANCE25JULFUT")
    assert inst.segment is Segment.FUTURES
    assert inst.underlying == "RELIANCE"
    assert inst.strike is None and inst.right is None
    assert inst.expiry == date(2025, 7, 31)
    assert inst.is_derivative


def test_nse_monthly_expiry_is_last_tuesday_from_september_2025() -> None:
    assert parse_symbol("NIFTY25AUGFUT").expiry == date(2025, 8, 28)  # Thursday
    assert parse_symbol("NIFTY25SEPFUT").expiry == date(2025, 9, 30)  # Tuesday
    assert parse_symbol("RELIANCE25DECFUT").expiry == date(2025, 12, 30)
    assert parse_symbol("NIFTY26MAR23000CE").expiry == date(2026, 3, 31)


def test_bse_monthly_expiry_is_last_thursday_from_september_2025_and_unknown_before() -> None:
    assert parse_symbol("SENSEX25SEP80000CE", exchange="BFO").expiry == date(2025, 9, 25)
    # SENSEX is a BSE index even when the file says NSE.
    assert parse_symbol("SENSEX25SEP80000CE", exchange="NSE").expiry == date(2025, 9, 25)
    early = parse_symbol("SENSEX25JUN80000CE", exchange="BFO")
    assert early.expiry is None
    assert early.expiry_month == ContractMonth(2025, 6)
    assert early.expiry_source is None


def test_monthly_expiry_is_none_where_the_rules_do_not_know() -> None:
    # Bank Nifty's monthly day moved around in 2023-24; currency needs a holiday calendar; MCX has no rules.
    assert parse_symbol("BANKNIFTY24MAR47000CE").expiry is None
    assert parse_symbol("USDINR25JUN83.25CE", exchange="CDS").expiry is None
    assert parse_symbol("USDINR25JUN83.25CE", exchange="NSE").expiry is None
    assert parse_symbol("CRUDEOIL25JULFUT", exchange="MCX").expiry is None
    assert parse_symbol("FINNIFTY24DEC23000CE").expiry is None
    assert parse_symbol("FINNIFTY25JAN23000CE").expiry == date(2025, 1, 30)


def test_given_expiry_wins_and_must_be_in_the_contract_month() -> None:
    # A holiday can move the expiry a day earlier; the broker's column knows it, the rule does not.
    inst = parse_symbol("NIFTY25DEC25000CE", expiry=date(2025, 12, 29))
    assert inst.expiry == date(2025, 12, 29)
    assert inst.expiry_source is ExpirySource.GIVEN
    with pytest.raises(ValueError, match="contract month"):
        parse_symbol("NIFTY25DEC25000CE", expiry=date(2026, 1, 27))


def test_underlyings_with_digits_and_symbols() -> None:
    assert parse_symbol("NIFTYNXT5025JUN70000CE").underlying == "NIFTYNXT50"
    assert parse_symbol("M&M25AUGFUT").underlying == "M&M"
    assert parse_symbol("BAJAJ-AUTO25AUG9000CE").underlying == "BAJAJ-AUTO"
    assert parse_symbol("360ONE25JULFUT").underlying == "360ONE"


def test_decimal_strike() -> None:
    assert parse_symbol("USDINR25JUN83.25CE").strike == Decimal("83.25")


@pytest.mark.parametrize("symbol", ["RELIANCE", "SBIN", "M&M", "NIFTYBEES", "BAJAJ-AUTO", "3MINDIA"])
def test_plain_equity(symbol: str) -> None:
    inst = parse_symbol(symbol)
    assert inst.segment is Segment.EQUITY_DELIVERY
    assert inst.underlying == symbol
    assert inst.expiry is None and inst.strike is None and inst.right is None
    assert not inst.is_derivative
    assert parse_symbol(symbol, intraday=True).segment is Segment.EQUITY_INTRADAY


def test_descriptive_contract_names() -> None:
    angel = parse_symbol("OPTIDX NIFTY Aug 25 2026 24150.00 PE (BT)")
    assert (angel.segment, angel.underlying, angel.expiry, angel.strike, angel.right) == (
        Segment.OPTIONS,
        "NIFTY",
        date(2026, 8, 25),
        Decimal("24150.00"),
        OptionRight.PUT,
    )
    dhan = parse_symbol("OPT NIFTY 07 Apr 2026 23000 CE")
    assert (dhan.expiry, dhan.strike, dhan.right) == (date(2026, 4, 7), Decimal("23000"), OptionRight.CALL)
    fut = parse_symbol("FUT WIPRO 28 Apr 2026")
    assert (fut.segment, fut.underlying, fut.expiry, fut.strike) == (Segment.FUTURES, "WIPRO", date(2026, 4, 28), None)


def test_lot_size_and_multiplier_are_the_callers() -> None:
    inst = parse_symbol("NIFTY25JULFUT", lot_size=Decimal(75))
    assert inst.lot_size == Decimal(75)
    assert inst.multiplier == Decimal(1)
    assert parse_symbol("ES", exchange="CME", multiplier=Decimal(50)).multiplier == Decimal(50)


def test_invalid_weekly_day_is_not_an_option() -> None:
    # Day 32 does not exist, so this cannot be a weekly contract.
    assert parse_symbol("NIFTY2563224750PE").segment is Segment.EQUITY_DELIVERY


def test_empty_symbol_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_symbol("  ")


def test_last_weekday_of_month() -> None:
    assert last_weekday_of_month(2025, 6, 3) == date(2025, 6, 26)
    assert last_weekday_of_month(2025, 9, 1) == date(2025, 9, 30)
    assert last_weekday_of_month(2024, 2, 3) == date(2024, 2, 29)
    assert monthly_expiry("NFO", "NIFTY", ContractMonth(1999, 1)) is None
