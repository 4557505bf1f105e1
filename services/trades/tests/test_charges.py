"""Charges engine: cases worked by hand (arithmetic in the comments) and properties that must always hold.

Dates used for the three rate regimes: 2024-06-14 (before 1-Oct-2024), 2025-06-13 (between) and
2026-04-15 (after 1-Apr-2026). Rounding: brokerage per order, other lines per note column to the
paisa, STT per scrip to the rupee (Zerodha), all half-up; GST on the rounded lines.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tj_trades.domain.charges import (
    LINE_NAMES,
    NOTE_LINES,
    BrokeragePlan,
    BrokerageRule,
    ChargeBreakdown,
    ChargeClass,
    CommissionOrder,
    CommissionSchedule,
    Exchange,
    ExecutedOrder,
    Fill,
    Product,
    RatesUnavailableError,
    RateTableError,
    Segment,
    Side,
    SttRounding,
    allocate,
    allocate_by_weights,
    broker_charges,
    brokerage_plan,
    charges_per_fill,
    choose_charges,
    estimate_commission,
    estimate_contract_note,
    estimate_order_charges,
    estimate_orders,
    flat_plan,
    india_rate_table,
    ist_trade_date,
    note_lines_where_known,
    parse_rate_table,
    plan_from_dict,
    plan_to_dict,
    rates_on,
    schedule_from_dict,
    schedule_to_dict,
    zero_plan,
    zerodha_plan,
)

D = Decimal
BEFORE = date(2024, 6, 14)
BETWEEN = date(2025, 6, 13)
AFTER = date(2026, 4, 15)
ZERODHA = zerodha_plan()


def order(
    side: Side,
    quantity: str | int | Decimal,
    price: str | int | Decimal,
    *,
    segment: Segment = Segment.EQUITY,
    product: Product | None = None,
    day: date = BETWEEN,
    exchange: Exchange = Exchange.NSE,
    instrument: str = "RELIANCE",
    order_id: str = "o1",
    underlying: str | None = None,
    exercised: bool = False,
    multiplier: str | int = 1,
) -> ExecutedOrder:
    return ExecutedOrder.of(
        order_id=order_id,
        instrument=instrument,
        exchange=exchange,
        segment=segment,
        side=side,
        trade_date=day,
        quantity=D(quantity),
        price=D(price),
        product=product,
        underlying=underlying,
        exercised=exercised,
        multiplier=D(multiplier),
    )


def lines(b: ChargeBreakdown) -> dict[str, str]:
    """The present lines as strings, for compact exact comparisons."""
    return {name: str(value) for name, value in b.lines()}


def india(
    brokerage: str, stt: str, exch: str, ipft: str, sebi: str, stamp: str, gst: str, dp: str = "0.00"
) -> dict[str, str]:
    return {
        "brokerage": brokerage,
        "stt": stt,
        "exchange_txn": exch,
        "ipft": ipft,
        "sebi": sebi,
        "stamp_duty": stamp,
        "gst": gst,
        "dp": dp,
    }


# --- the rate table ------------------------------------------------------------------------------


def test_rates_change_on_their_effective_dates() -> None:
    def futures_stt(day: date) -> Decimal:
        return rates_on(day).stt.by_class[ChargeClass.FUTURES].sell

    assert futures_stt(date(2023, 3, 31)) == D("0.0001")
    assert futures_stt(date(2023, 4, 1)) == D("0.000125")
    assert futures_stt(date(2024, 9, 30)) == D("0.000125")
    assert futures_stt(date(2024, 10, 1)) == D("0.0002")
    assert futures_stt(date(2026, 3, 31)) == D("0.0002")
    assert futures_stt(date(2026, 4, 1)) == D("0.0005")

    nse_options = [rates_on(d).exchange_txn.rate(Exchange.NSE, Segment.OPTIONS) for d in (BEFORE, BETWEEN)]
    assert nse_options == [D("0.000495"), D("0.0003503")]
    assert rates_on(BETWEEN).exchange_txn.rate(Exchange.BSE, Segment.OPTIONS, "sensex") == D("0.000325")
    assert rates_on(BEFORE).exchange_txn.rate(Exchange.BSE, Segment.OPTIONS, "SENSEX") == D("0.00005")
    assert rates_on(BETWEEN).stt.options_exercised == D("0.00125")
    assert rates_on(AFTER).stt.options_exercised == D("0.0015")
    assert rates_on(BETWEEN).version == india_rate_table().version


def test_a_date_older_than_the_table_has_no_rates() -> None:
    with pytest.raises(RatesUnavailableError):
        rates_on(date(2019, 1, 1))


def test_rate_table_is_parsed_strictly() -> None:
    text = resources.files("tj_trades.domain").joinpath("data/india_charges.toml").read_text(encoding="utf-8")
    assert parse_rate_table(text) == india_rate_table()
    with pytest.raises(RateTableError, match="increasing"):
        parse_rate_table(text.replace("effective_from = 2023-04-01", "effective_from = 2019-04-01", 1))
    with pytest.raises(RateTableError, match="missing"):
        parse_rate_table(text.replace("currency_options = 0.0311\n", "", 1))
    with pytest.raises(RateTableError, match="negative"):
        parse_rate_table(text.replace("equity = 0.00297", "equity = -0.00297", 1))
    with pytest.raises(RateTableError, match="version"):
        parse_rate_table(text.replace('version = "', 'old_version = "', 1))


# --- equity delivery -----------------------------------------------------------------------------
# Buy 10 RELIANCE @ 2,500 (turnover 25,000) one day; sell 10 @ 2,600 (26,000) another day. Zerodha.
#
# Between 1-Oct-2024 and after 1-Apr-2026 (no equity change in 2026):
#   buy:  brokerage 0; STT 0.1 % = 25 -> 25; exch 0.00297 % = 0.7425 -> 0.74; IPFT 0.0001 % = 0.025 -> 0.03;
#         SEBI 0.0001 % = 0.025 -> 0.03; stamp 0.015 % = 3.75; GST 18 % * (0 + 0.74 + 0.03 + 0.03) = 0.144 -> 0.14
#         total 25 + 0.74 + 0.03 + 0.03 + 3.75 + 0.14 = 29.69
#   sell: STT 26; exch 0.7722 -> 0.77; IPFT 0.026 -> 0.03; SEBI 0.03; GST 18 % * 0.83 = 0.1494 -> 0.15;
#         DP 13.50 + 18 % = 15.93; total 26 + 0.77 + 0.03 + 0.03 + 0.15 + 15.93 = 42.91
# Before 1-Oct-2024 (NSE cash 0.00325 %):
#   buy:  exch 0.8125 -> 0.81; GST 18 % * 0.87 = 0.1566 -> 0.16; total 25 + 0.81 + 0.06 + 3.75 + 0.16 = 29.78
#   sell: exch 0.845 -> 0.85 (half up); GST 18 % * 0.91 = 0.1638 -> 0.16; total 26 + 0.85 + 0.06 + 0.16 + 15.93 = 43.00


@pytest.mark.parametrize(
    ("day", "buy", "buy_total", "sell", "sell_total"),
    [
        (
            BEFORE,
            india("0.00", "25.00", "0.81", "0.03", "0.03", "3.75", "0.16"),
            "29.78",
            india("0.00", "26.00", "0.85", "0.03", "0.03", "0.00", "0.16", "15.93"),
            "43.00",
        ),
        (
            BETWEEN,
            india("0.00", "25.00", "0.74", "0.03", "0.03", "3.75", "0.14"),
            "29.69",
            india("0.00", "26.00", "0.77", "0.03", "0.03", "0.00", "0.15", "15.93"),
            "42.91",
        ),
        (
            AFTER,
            india("0.00", "25.00", "0.74", "0.03", "0.03", "3.75", "0.14"),
            "29.69",
            india("0.00", "26.00", "0.77", "0.03", "0.03", "0.00", "0.15", "15.93"),
            "42.91",
        ),
    ],
)
def test_equity_delivery(day: date, buy: dict[str, str], buy_total: str, sell: dict[str, str], sell_total: str) -> None:
    bought = estimate_order_charges(order(Side.BUY, 10, 2500, product=Product.DELIVERY, day=day), ZERODHA)
    sold = estimate_order_charges(order(Side.SELL, 10, 2600, product=Product.DELIVERY, day=day), ZERODHA)
    assert lines(bought) == buy
    assert bought.total == D(buy_total)
    assert lines(sold) == sell
    assert sold.total == D(sell_total)
    assert bought.source == sold.source == "estimated"
    assert bought.rates_version == india_rate_table().version


def test_equity_delivery_on_bse() -> None:
    # BSE cash 0.00375 % * 25,000 = 0.9375 -> 0.94; no IPFT on BSE; SEBI 0.03; stamp 3.75; STT 25;
    # GST 18 % * (0.94 + 0.03) = 0.1746 -> 0.17; total 25 + 0.94 + 0.03 + 3.75 + 0.17 = 29.89
    bought = estimate_order_charges(order(Side.BUY, 10, 2500, product=Product.DELIVERY, exchange=Exchange.BSE), ZERODHA)
    assert lines(bought) == india("0.00", "25.00", "0.94", "0.00", "0.03", "3.75", "0.17")
    assert bought.total == D("29.89")


# --- equity intraday -----------------------------------------------------------------------------
# Buy 100 @ 500 (50,000) and sell 100 @ 510 (51,000) the same day, product unknown: inferred intraday.
#   brokerage: min(0.03 % * 50,000 = 15, 20) = 15.00 and min(15.30, 20) = 15.30 -> 30.30
#   STT 0.025 % of the sell, 12.75 -> 13 (rupee per scrip); stamp 0.003 % * 50,000 = 1.50
#   note column (NSE cash) on 101,000: IPFT 0.101 -> 0.10, SEBI 0.10, and exch
#     before:          0.00325 % = 3.2825 -> 3.28; GST 18 % * (30.30 + 3.28 + 0.10 + 0.10) = 6.0804 -> 6.08
#     between/after:   0.00297 % = 2.9997 -> 3.00; GST 18 % * (30.30 + 3.00 + 0.10 + 0.10) = 6.03
#   note total before 30.30 + 13 + 3.28 + 0.10 + 0.10 + 1.50 + 6.08 = 54.36; between/after 54.03
#   shared back (between): exch 300 paise as 148.51 : 151.49 -> 1.49 / 1.51; GST 603 paise by bases
#     16.59 : 16.91 -> 2.99 / 3.04


@pytest.mark.parametrize(
    ("day", "exch", "gst", "total"),
    [(BEFORE, "3.28", "6.08", "54.36"), (BETWEEN, "3.00", "6.03", "54.03"), (AFTER, "3.00", "6.03", "54.03")],
)
def test_equity_intraday_inferred_from_a_same_day_round_trip(day: date, exch: str, gst: str, total: str) -> None:
    note = estimate_contract_note(
        [order(Side.BUY, 100, 500, day=day, order_id="b"), order(Side.SELL, 100, 510, day=day, order_id="s")],
        ZERODHA,
    )
    assert lines(note.total) == india("30.30", "13.00", exch, "0.10", "0.10", "1.50", gst)
    assert note.total.total == D(total)
    assert all(p.product_inferred and p.intraday_fraction == 1 for p in note.orders)
    assert [p.charges.brokerage for p in note.orders] == [D("15.00"), D("15.30")]
    assert sum((p.charges.total for p in note.orders), D(0)) == D(total)


def test_intraday_shares_of_note_lines_between() -> None:
    note = estimate_contract_note(
        [order(Side.BUY, 100, 500, order_id="b"), order(Side.SELL, 100, 510, order_id="s")], ZERODHA
    )
    buy, sell = (p.charges for p in note.orders)
    assert (buy.exchange_txn, sell.exchange_txn) == (D("1.49"), D("1.51"))
    assert (buy.gst, sell.gst) == (D("2.99"), D("3.04"))
    assert (buy.stt, sell.stt) == (D("0.00"), D("13.00"))


def test_zerodha_caps_brokerage_at_20_per_executed_order() -> None:
    # 0.03 % of 1,000 * 500 = 150 -> capped at 20; 0.03 % of 100 * 500 = 15 stays 15.
    big = estimate_order_charges(order(Side.BUY, 1000, 500, product=Product.INTRADAY), ZERODHA)
    small = estimate_order_charges(order(Side.BUY, 100, 500, product=Product.INTRADAY), ZERODHA)
    assert (big.brokerage, small.brokerage) == (D("20.00"), D("15.00"))
    # Futures: 0.03 % of 50 * 100 = 1.50 (under the cap).
    assert estimate_order_charges(order(Side.BUY, 50, 100, segment=Segment.FUTURES), ZERODHA).brokerage == D("1.50")


def test_one_brokerage_per_executed_order_whatever_its_fills() -> None:
    # Options: ₹20 per executed order, not per fill; three fills of one order pay 20 once.
    fills = tuple(Fill(f"t{i}", D(75), D(100)) for i in range(3))
    multi = ExecutedOrder(
        order_id="o",
        instrument="NIFTY25JUN24000CE",
        exchange=Exchange.NSE,
        segment=Segment.OPTIONS,
        side=Side.BUY,
        trade_date=BETWEEN,
        fills=fills,
    )
    charges = estimate_order_charges(multi, ZERODHA)
    assert charges.brokerage == D("20.00")
    per_fill = charges_per_fill(multi, charges)
    assert set(per_fill) == {"t0", "t1", "t2"}
    for name in LINE_NAMES:
        parts = [p.line(name) for p in per_fill.values()]
        whole = charges.line(name)
        assert (whole is None and all(p is None for p in parts)) or sum(p or D(0) for p in parts) == whole
    assert [p.brokerage for p in per_fill.values()] == [D("6.67"), D("6.67"), D("6.66")]


def test_partial_same_day_sale_splits_the_buy_into_intraday_and_delivery() -> None:
    # Buy 100 @ 100 (10,000), sell 60 @ 110 (6,600), product unknown: 60 intraday, 40 delivery.
    #   buy, intraday 60 % (6,000): brokerage min(1.80, 20 * 0.6) = 1.80; stamp 0.003 % = 0.18
    #   buy, delivery 40 % (4,000): brokerage 0; STT 0.1 % = 4.00; stamp 0.015 % = 0.60
    #   sell, intraday: brokerage 0.03 % * 6,600 = 1.98; STT 0.025 % = 1.65
    #   STT per scrip 4 + 1.65 = 5.65 -> 6 (rupee), shared 4 : 1.65 -> 4.25 / 1.75; stamp 0.78
    #   nothing left the demat, so no DP.
    note = estimate_contract_note(
        [order(Side.BUY, 100, 100, order_id="b"), order(Side.SELL, 60, 110, order_id="s")], ZERODHA
    )
    buy, sell = note.orders
    assert (buy.intraday_fraction, sell.intraday_fraction) == (D("0.6"), D(1))
    assert (buy.charges.brokerage, sell.charges.brokerage) == (D("1.80"), D("1.98"))
    assert (buy.charges.stt, sell.charges.stt) == (D("4.25"), D("1.75"))
    assert note.total.stt == D("6.00")
    assert note.total.stamp_duty == D("0.78")
    assert note.total.dp == D("0.00")


def test_explicit_product_is_not_second_guessed() -> None:
    # Both legs declared delivery: STT 0.1 % on both sides, not intraday's 0.025 % of the sell.
    note = estimate_contract_note(
        [
            order(Side.BUY, 100, 500, product=Product.DELIVERY, order_id="b"),
            order(Side.SELL, 100, 510, product=Product.DELIVERY, order_id="s"),
        ],
        ZERODHA,
    )
    assert note.total.stt == D("101.00")  # 50 + 51
    assert not any(p.product_inferred for p in note.orders)


# --- futures -------------------------------------------------------------------------------------
# NIFTY future, 75 units. Buy @ 24,000 (18,00,000), sell @ 24,100 (18,07,500). Zerodha.
#   brokerage min(0.03 % = 540, 20) = 20 each side; IPFT and SEBI 0.0001 %: 1.80 / 1.8075 -> 1.81;
#   stamp 0.002 % of the buy = 36.00
# before (STT 0.0125 %, exch 0.00183 %):
#   buy:  exch 32.94; GST 18 % * (20 + 32.94 + 1.80 + 1.80) = 10.1772 -> 10.18; total 102.72
#   sell: STT 225.9375 -> 226; exch 33.07725 -> 33.08; GST 18 % * 56.70 = 10.206 -> 10.21; total 292.91
# between (STT 0.02 %, exch 0.00173 %):
#   buy:  exch 31.14; GST 18 % * 54.74 = 9.8532 -> 9.85; total 20 + 31.14 + 3.60 + 36 + 9.85 = 100.59
#   sell: STT 361.50 -> 362 (half up); exch 31.26975 -> 31.27; GST 18 % * 54.89 = 9.8802 -> 9.88; total 426.77
# after (STT 0.05 %): sell STT 903.75 -> 904; total 968.77; buy as between.


@pytest.mark.parametrize(
    ("day", "buy", "buy_total", "sell", "sell_total"),
    [
        (
            BEFORE,
            india("20.00", "0.00", "32.94", "1.80", "1.80", "36.00", "10.18"),
            "102.72",
            india("20.00", "226.00", "33.08", "1.81", "1.81", "0.00", "10.21"),
            "292.91",
        ),
        (
            BETWEEN,
            india("20.00", "0.00", "31.14", "1.80", "1.80", "36.00", "9.85"),
            "100.59",
            india("20.00", "362.00", "31.27", "1.81", "1.81", "0.00", "9.88"),
            "426.77",
        ),
        (
            AFTER,
            india("20.00", "0.00", "31.14", "1.80", "1.80", "36.00", "9.85"),
            "100.59",
            india("20.00", "904.00", "31.27", "1.81", "1.81", "0.00", "9.88"),
            "968.77",
        ),
    ],
)
def test_futures(day: date, buy: dict[str, str], buy_total: str, sell: dict[str, str], sell_total: str) -> None:
    bought = estimate_order_charges(order(Side.BUY, 75, 24000, segment=Segment.FUTURES, day=day), ZERODHA)
    sold = estimate_order_charges(order(Side.SELL, 75, 24100, segment=Segment.FUTURES, day=day), ZERODHA)
    assert (lines(bought), bought.total) == (buy, D(buy_total))
    assert (lines(sold), sold.total) == (sell, D(sell_total))


def test_bse_futures_have_no_exchange_charge() -> None:
    # 75 * 24,000 on BSE: exch 0, IPFT 0; GST 18 % * (20 + 1.80) = 3.924 -> 3.92
    bought = estimate_order_charges(order(Side.BUY, 75, 24000, segment=Segment.FUTURES, exchange=Exchange.BSE), ZERODHA)
    assert lines(bought) == india("20.00", "0.00", "0.00", "0.00", "1.80", "36.00", "3.92")


# --- options -------------------------------------------------------------------------------------
# NIFTY 24000 CE, 75 units. Buy @ 120 (premium 9,000), sell @ 150 (11,250). Brokerage ₹20 flat.
#   IPFT 0.0005 % of premium: 0.045 -> 0.05 / 0.05625 -> 0.06; SEBI 0.009 -> 0.01 / 0.01125 -> 0.01;
#   stamp 0.003 % of the buy premium = 0.27
# before (STT 0.0625 %, exch 0.0495 %):
#   buy:  exch 4.455 -> 4.46; GST 18 % * (20 + 4.46 + 0.01 + 0.05) = 4.4136 -> 4.41; total 29.20
#   sell: STT 7.03125 -> 7; exch 5.56875 -> 5.57; GST 18 % * 25.64 = 4.6152 -> 4.62; total 37.26
# between (STT 0.1 %, exch 0.03503 %):
#   buy:  exch 3.1527 -> 3.15; GST 18 % * 23.21 = 4.1778 -> 4.18; total 27.66
#   sell: STT 11.25 -> 11; exch 3.940875 -> 3.94; GST 18 % * 24.01 = 4.3218 -> 4.32; total 39.33
# after (STT 0.15 %): sell STT 16.875 -> 17; total 45.33


@pytest.mark.parametrize(
    ("day", "buy", "buy_total", "sell", "sell_total"),
    [
        (
            BEFORE,
            india("20.00", "0.00", "4.46", "0.05", "0.01", "0.27", "4.41"),
            "29.20",
            india("20.00", "7.00", "5.57", "0.06", "0.01", "0.00", "4.62"),
            "37.26",
        ),
        (
            BETWEEN,
            india("20.00", "0.00", "3.15", "0.05", "0.01", "0.27", "4.18"),
            "27.66",
            india("20.00", "11.00", "3.94", "0.06", "0.01", "0.00", "4.32"),
            "39.33",
        ),
        (
            AFTER,
            india("20.00", "0.00", "3.15", "0.05", "0.01", "0.27", "4.18"),
            "27.66",
            india("20.00", "17.00", "3.94", "0.06", "0.01", "0.00", "4.32"),
            "45.33",
        ),
    ],
)
def test_options(day: date, buy: dict[str, str], buy_total: str, sell: dict[str, str], sell_total: str) -> None:
    bought = estimate_order_charges(order(Side.BUY, 75, 120, segment=Segment.OPTIONS, day=day), ZERODHA)
    sold = estimate_order_charges(order(Side.SELL, 75, 150, segment=Segment.OPTIONS, day=day), ZERODHA)
    assert (lines(bought), bought.total) == (buy, D(buy_total))
    assert (lines(sold), sold.total) == (sell, D(sell_total))


@pytest.mark.parametrize(
    ("day", "underlying", "exch"),
    [
        # premium 20 * 200 = 4,000. SENSEX options: 0.005 % = 0.20 before, 0.0325 % = 1.30 from 1-Oct-2024.
        (BEFORE, "SENSEX", "0.20"),
        (BETWEEN, "SENSEX", "1.30"),
        (BETWEEN, "BANKEX", "1.30"),
        # Other BSE options (SENSEX 50, stock options) stay at ₹500 per crore = 0.005 %.
        (BETWEEN, "SENSEX50", "0.20"),
        (BETWEEN, None, "0.20"),
    ],
)
def test_bse_options_by_underlying(day: date, underlying: str | None, exch: str) -> None:
    sold = estimate_order_charges(
        order(Side.SELL, 20, 200, segment=Segment.OPTIONS, exchange=Exchange.BSE, underlying=underlying, day=day),
        ZERODHA,
    )
    assert sold.exchange_txn == D(exch)
    assert sold.ipft == D("0.00")


@pytest.mark.parametrize(("day", "stt"), [(BEFORE, "5.00"), (BETWEEN, "5.00"), (AFTER, "6.00")])
def test_exercised_option_pays_stt_on_intrinsic_value(day: date, stt: str) -> None:
    # Holder's 75 units exercised with intrinsic value 50 per unit: 3,750.
    # 0.125 % = 4.6875 -> 5 (before and between); 0.15 % = 5.625 -> 6 (after). Nothing else.
    holder = estimate_order_charges(order(Side.SELL, 75, 50, segment=Segment.OPTIONS, exercised=True, day=day), ZERODHA)
    assert lines(holder) == india("0.00", stt, "0.00", "0.00", "0.00", "0.00", "0.00")
    writer = estimate_order_charges(order(Side.BUY, 75, 50, segment=Segment.OPTIONS, exercised=True, day=day), ZERODHA)
    assert writer.total == 0


# --- per-scrip and per-day rules -----------------------------------------------------------------


def test_stt_is_rounded_per_scrip_per_note() -> None:
    # Two sells of the same option, each 75 @ 5.20 = 390 premium: STT 0.1 % = 0.39 each.
    # Per scrip: 0.78 -> 1 rupee, shared 0.50 / 0.50. Alone, each order's 0.39 rounds to 0.
    orders = [
        order(Side.SELL, 75, "5.20", segment=Segment.OPTIONS, instrument="NIFTY25JUN24000CE", order_id=i)
        for i in ("a", "b")
    ]
    note = estimate_contract_note(orders, ZERODHA)
    assert [p.charges.stt for p in note.orders] == [D("0.50"), D("0.50")]
    assert estimate_order_charges(orders[0], ZERODHA).stt == D("0.00")
    paisa = estimate_contract_note(orders, replace(ZERODHA, stt_rounding=SttRounding.PAISA))
    assert paisa.total.stt == D("0.78")


def test_stt_rounding_setting_is_an_enum() -> None:
    assert SttRounding("paisa") is SttRounding.PAISA


def test_dp_charge_once_per_scrip_per_day_on_delivery_sells() -> None:
    # RELIANCE sold in two delivery orders (10 and 30) and TCS once: DP 15.93 per scrip.
    # RELIANCE's 1,593 paise shared 1 : 3 = 398.25 : 1,194.75 -> 3.98 / 11.95. Intraday sells pay none.
    note = estimate_contract_note(
        [
            order(Side.SELL, 10, 2600, product=Product.DELIVERY, order_id="r1"),
            order(Side.SELL, 30, 2601, product=Product.DELIVERY, order_id="r2"),
            order(Side.SELL, 5, 3500, product=Product.DELIVERY, instrument="TCS", order_id="t"),
            order(Side.SELL, 5, 900, product=Product.INTRADAY, instrument="INFY", order_id="i"),
        ],
        ZERODHA,
    )
    assert [p.charges.dp for p in note.orders] == [D("3.98"), D("11.95"), D("15.93"), D("0.00")]
    assert note.total.dp == D("31.86")


def test_plan_may_name_its_own_dp_charge_and_skip_gst_on_ipft() -> None:
    # Flat ₹20 plan, DP 20 + 18 % = 23.60. Delivery sell 10 @ 2,600 (between):
    #   brokerage 20; exch 0.77; IPFT 0.03 (no GST on it); SEBI 0.03;
    #   GST 18 % * (20 + 0.77 + 0.03) = 3.744 -> 3.74
    plan = replace(flat_plan(D(20)), dp_charge_per_scrip=D(20))
    sold = estimate_order_charges(order(Side.SELL, 10, 2600, product=Product.DELIVERY), plan)
    assert lines(sold) == india("20.00", "26.00", "0.77", "0.03", "0.03", "0.00", "3.74", "23.60")


def test_zero_plan_charges_no_brokerage() -> None:
    sold = estimate_order_charges(order(Side.SELL, 75, 150, segment=Segment.OPTIONS), zero_plan())
    assert sold.brokerage == D("0.00")
    assert sold.stt == D("11.00")


def test_currency_futures() -> None:
    # USDINR, 1 lot of $1,000 @ 83.50: multiplier 1000, turnover 83,500. No STT.
    #   brokerage min(0.03 % = 25.05, 20) = 20; exch 0.00035 % = 0.29225 -> 0.29; IPFT 0.00005 % = 0.04175
    #   -> 0.04; SEBI 0.0835 -> 0.08; stamp 0.0001 % = 0.0835 -> 0.08;
    #   GST 18 % * (20 + 0.29 + 0.08 + 0.04) = 3.6738 -> 3.67; total 24.16
    bought = estimate_order_charges(
        order(Side.BUY, 1, "83.50", segment=Segment.CURRENCY_FUTURES, instrument="USDINR", multiplier=1000),
        ZERODHA,
    )
    assert lines(bought) == india("20.00", "0.00", "0.29", "0.04", "0.08", "0.08", "3.67")
    assert bought.total == D("24.16")


def test_orders_over_several_days_get_one_note_per_day() -> None:
    a = order(Side.BUY, 10, 2500, product=Product.DELIVERY, day=BEFORE, order_id="a")
    b = order(Side.BUY, 10, 2500, product=Product.DELIVERY, day=BETWEEN, order_id="b")
    priced = estimate_orders([b, a], ZERODHA)
    assert [p.order.order_id for p in priced] == ["b", "a"]
    assert [p.charges.total for p in priced] == [D("29.69"), D("29.78")]
    with pytest.raises(ValueError, match="one trading day"):
        estimate_contract_note([a, b], ZERODHA)


def test_ist_trade_date() -> None:
    assert ist_trade_date(datetime(2025, 6, 13, 19, 0, tzinfo=UTC)) == date(2025, 6, 14)
    assert ist_trade_date(datetime(2025, 6, 13, 18, 29, tzinfo=UTC)) == date(2025, 6, 13)
    with pytest.raises(ValueError, match="aware"):
        ist_trade_date(datetime(2025, 6, 13, 10, 0))


def test_orders_are_validated() -> None:
    with pytest.raises(ValueError, match="equity only"):
        order(Side.BUY, 1, 1, segment=Segment.FUTURES, product=Product.INTRADAY)
    with pytest.raises(ValueError, match="exercised"):
        order(Side.SELL, 1, 1, segment=Segment.EQUITY, exercised=True)
    with pytest.raises(ValueError, match="positive"):
        order(Side.BUY, 0, 1)


# --- allocation ----------------------------------------------------------------------------------


def test_allocation_splits_a_fill_exactly() -> None:
    # The between-dates futures sell (426.77) shared 1/3 : 2/3 between two round trips.
    # STT 362 / 3 = 120.666.. -> 120.67 and 241.33; brokerage 6.67 and 13.33; and so on, line by line.
    sold = estimate_order_charges(order(Side.SELL, 75, 24100, segment=Segment.FUTURES), ZERODHA)
    part, rest = allocate(sold, D(1) / D(3))
    assert (part.stt, rest.stt) == (D("120.67"), D("241.33"))
    assert (part.brokerage, rest.brokerage) == (D("6.67"), D("13.33"))
    for name, whole in sold.lines():
        assert part.line(name) + rest.line(name) == whole  # type: ignore[operator]
    assert part.total + rest.total == sold.total == D("426.77")
    assert part.source == "estimated" and part.rates_version == sold.rates_version
    nothing, everything = allocate(sold, D(0))
    assert nothing.total == 0 and everything == sold
    with pytest.raises(ValueError, match="between 0 and 1"):
        allocate(sold, D("1.5"))


def test_allocation_keeps_missing_broker_lines_missing() -> None:
    broker = broker_charges({"brokerage": D("20.00"), "stt": D("13")})
    part, rest = allocate(broker, D("0.5"))
    assert part.gst is None and rest.dp is None
    assert (part.brokerage, part.stt, rest.stt) == (D("10.00"), D("6.50"), D("6.50"))
    assert part.source == "broker"


# --- commission schedules (non-Indian accounts) --------------------------------------------------


def test_ibkr_like_per_share_with_minimum_and_percentage_cap() -> None:
    fixed = CommissionSchedule(per_share=D("0.005"), min_per_order=D(1), max_pct_of_value=D(1))
    # 1,000 * 0.005 = 5.00
    assert estimate_commission(CommissionOrder(D(1000), D(20)), fixed).commission == D("5.00")
    # 100 * 0.005 = 0.50 -> raised to the 1.00 minimum
    assert estimate_commission(CommissionOrder(D(100), D(50)), fixed).commission == D("1.00")
    # 10 shares @ 0.50: value 5, the 1 % cap (0.05) wins over the minimum
    assert estimate_commission(CommissionOrder(D(10), D("0.5")), fixed).commission == D("0.05")


def test_per_contract_per_order_and_percentage_schedules() -> None:
    options = CommissionSchedule(per_contract=D("0.65"), per_share=D("0.005"))
    # 3 contracts * 0.65 = 1.95 (the per-share rate does not apply to contracts)
    b = estimate_commission(CommissionOrder(D(3), D("2.10"), D(100), derivative=True), options)
    assert (b.commission, b.regulatory_fees, b.total) == (D("1.95"), D("0.00"), D("1.95"))
    assert b.brokerage is None and b.stt is None and b.source == "estimated"
    flat = CommissionSchedule(per_order=D("4.95"))
    assert estimate_commission(CommissionOrder(D(7), D(300)), flat).commission == D("4.95")
    # 0.1 % of 12,345.67 = 12.34567 -> 12.35, capped at 10
    pct = CommissionSchedule(pct_of_value=D("0.1"), max_per_order=D(10))
    assert estimate_commission(CommissionOrder(D(1), D("12345.67")), pct).commission == D("10.00")
    uncapped = CommissionSchedule(pct_of_value=D("0.1"))
    assert estimate_commission(CommissionOrder(D(1), D("12345.67")), uncapped).commission == D("12.35")
    # Yen has no minor unit: 0.1 % of 1,234,567 = 1,234.567 -> 1,235
    yen = CommissionSchedule(pct_of_value=D("0.1"), quantum=D(1))
    assert estimate_commission(CommissionOrder(D(1), D(1234567)), yen).commission == D(1235)


def test_commission_schedule_round_trips_through_its_stored_form() -> None:
    s = CommissionSchedule(per_share=D("0.005"), min_per_order=D(1), max_pct_of_value=D(1))
    assert schedule_from_dict(schedule_to_dict(s)) == s
    with pytest.raises(ValueError, match="exact number"):
        schedule_from_dict({"per_share": 0.005})


# --- broker-supplied charges ---------------------------------------------------------------------


def test_broker_lines_override_and_nothing_is_invented() -> None:
    # An Angel One row: brokerage, GST, STT, SEBI, exchange, stamp, IPFT, other; no DP on it.
    given = broker_charges(
        {
            "brokerage": D("20.00"),
            "gst": D("4.18"),
            "stt": D("11"),
            "sebi": D("0.01"),
            "exchange_txn": D("3.15"),
            "stamp_duty": D("0.27"),
            "ipft": D("0.05"),
            "other": D("0.00"),
        }
    )
    assert given.source == "broker" and given.rates_version is None
    assert given.dp is None and given.commission is None
    assert given.total == D("38.66")
    estimate = estimate_order_charges(order(Side.SELL, 75, 150, segment=Segment.OPTIONS), ZERODHA)
    assert choose_charges(given, estimate) is given
    assert choose_charges(None, estimate) is estimate


def test_broker_total_only_and_total_beyond_lines() -> None:
    only = broker_charges(total=D("-1.25"))  # IBKR rebates are negative costs
    assert only.unitemised == D("-1.25") and only.total == D("-1.25") and only.brokerage is None
    partial = broker_charges({"commission": D("1.00")}, total=D("1.35"))
    assert (partial.commission, partial.unitemised, partial.total) == (D("1.00"), D("0.35"), D("1.35"))
    exact = broker_charges({"commission": D("1.00")}, total=D("1.00"))
    assert exact.unitemised is None
    with pytest.raises(ValueError, match="less than"):
        broker_charges({"commission": D("2.00")}, total=D("1.00"))
    with pytest.raises(ValueError, match="at least one"):
        broker_charges()
    with pytest.raises(TypeError, match="Decimal"):
        broker_charges({"stt": 1.5})  # type: ignore[arg-type]


# --- plans ---------------------------------------------------------------------------------------


def test_named_plans_and_per_account_overrides() -> None:
    z = brokerage_plan("zerodha")
    assert z.rule(ChargeClass.EQUITY_DELIVERY) == BrokerageRule()
    assert z.rule(ChargeClass.EQUITY_INTRADAY) == BrokerageRule(pct=D("0.03"), cap=D(20))
    assert z.rule(ChargeClass.OPTIONS) == BrokerageRule(flat=D(20))
    assert plan_from_dict(z.name, plan_to_dict(z)) == z
    # An account whose broker charges ₹15 per options order.
    custom = z.with_rule(ChargeClass.OPTIONS, BrokerageRule(flat=D(15)))
    assert estimate_order_charges(order(Side.BUY, 75, 120, segment=Segment.OPTIONS), custom).brokerage == D("15.00")
    assert flat_plan(D(20), delivery=D(0)).rule(ChargeClass.EQUITY_DELIVERY) == BrokerageRule(flat=D(0))
    with pytest.raises(KeyError, match="known"):
        brokerage_plan("nope")
    with pytest.raises(ValueError, match="no rule"):
        BrokeragePlan(name="bad", rules={})


# --- properties ----------------------------------------------------------------------------------

money = st.decimals(min_value=D("0.05"), max_value=D("100000"), places=2)
quantities = st.integers(min_value=1, max_value=5000).map(D)
days = st.dates(min_value=date(2020, 7, 1), max_value=date(2027, 3, 31))


@st.composite
def executed_orders(draw: st.DrawFn) -> ExecutedOrder:
    segment = draw(st.sampled_from(list(Segment)))
    product = draw(st.sampled_from([None, *Product])) if segment is Segment.EQUITY else None
    return order(
        draw(st.sampled_from(list(Side))),
        draw(quantities),
        draw(money),
        segment=segment,
        product=product,
        exchange=draw(st.sampled_from(list(Exchange))),
        instrument=draw(st.sampled_from(["A", "B", "C"])),
        underlying=draw(st.sampled_from([None, "SENSEX", "NIFTY"])),
        exercised=segment is Segment.OPTIONS and draw(st.booleans()),
        order_id=str(draw(st.integers(0, 10**6))),
        day=BETWEEN,
    )


@st.composite
def contract_notes(draw: st.DrawFn) -> list[ExecutedOrder]:
    day = draw(days)
    items = draw(st.lists(executed_orders(), min_size=1, max_size=8))
    return [replace(o, trade_date=day) for o in items]


PLANS = [zerodha_plan(), flat_plan(D(20)), zero_plan()]


@settings(max_examples=200, deadline=None, database=None)
@given(contract_notes(), st.sampled_from(PLANS))
def test_note_lines_are_non_negative_and_add_up(orders: list[ExecutedOrder], plan: BrokeragePlan) -> None:
    note = estimate_contract_note(orders, plan)
    for p in note.orders:
        present = p.charges.lines()
        assert all(v >= 0 and v == v.quantize(D("0.01")) for _, v in present)
        assert p.charges.total == sum((v for _, v in present), D(0))
    assert note.total.total == sum((p.charges.total for p in note.orders), D(0))
    # STT on the note is whole rupees per scrip, so whole rupees overall.
    assert note.total.stt == note.total.stt.to_integral_value()  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None, database=None)
@given(contract_notes(), st.sampled_from(PLANS))
def test_note_lines_are_the_breakdowns_amounts(orders: list[ExecutedOrder], plan: BrokeragePlan) -> None:
    note = estimate_contract_note(orders, plan)
    priced = note_lines_where_known(orders, plan)
    known = [item for item in priced if item is not None]
    assert len(known) == len(priced)  # the strategy's days are in the rate table
    lines = [amounts for _, amounts in known]
    assert {version for version, _ in known} == {note.rates_version}
    assert lines == [tuple(p.charges.line(name) for name in NOTE_LINES) for p in note.orders]
    assert [sum(amounts, D(0)) for amounts in lines] == [p.charges.total for p in note.orders]


@settings(max_examples=200, deadline=None, database=None)
@given(
    contract_notes(),
    st.lists(st.decimals(min_value=0, max_value=1000, places=3), min_size=1, max_size=5),
    st.fractions(min_value=0, max_value=1),
)
def test_allocations_sum_exactly_to_the_whole(
    orders: list[ExecutedOrder], weights: list[Decimal], fraction: object
) -> None:
    whole = estimate_contract_note(orders, ZERODHA).total
    f = D(fraction.numerator) / D(fraction.denominator)  # type: ignore[attr-defined]
    part, rest = allocate(whole, f)
    parts = allocate_by_weights(whole, weights)
    for split in ((part, rest), parts):
        for name, amount in whole.lines():
            pieces = [s.line(name) for s in split]
            assert all(x is not None and x >= 0 for x in pieces)
            assert sum((x for x in pieces if x is not None), D(0)) == amount
        assert sum((s.total for s in split), D(0)) == whole.total
