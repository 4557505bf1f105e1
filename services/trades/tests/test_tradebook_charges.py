"""Charges of executions and trades as the trades service derives them (pure: tradebook on rows as
the repository reads them): the broker's lines win, a flip shares a fill's lines to the paisa,
accounts outside India are priced with their commission schedule, a trade says which source it used."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import permutations
from typing import Any

from tj_trades import tradebook

IST = timezone(timedelta(hours=5, minutes=30))
ACCOUNT = uuid.UUID(int=1)
INDIA = {ACCOUNT: {"long_only": False, "brokerage_plan": "zerodha", "commission_schedule": None}}
D = Decimal


def execution(side: str, qty: str, price: str, minute: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": uuid.uuid4(),
        "account_id": ACCOUNT,
        "symbol": "TCS",
        "exchange": "NSE",
        "segment": "equity",
        "side": side,
        "quantity": D(qty),
        "price": D(price),
        "executed_at": datetime(2026, 6, 5, 9, minute, tzinfo=IST),
        "fees": None,
        "charges": None,
        "currency": "INR",
        "broker_trade_id": None,
        "broker_order_id": None,
        "product": "MIS",
    }
    return {**body, **changes}


def test_the_brokers_lines_win_and_a_larger_total_is_unitemised() -> None:
    assert tradebook.broker_charges(D("25"), {"brokerage": "20", "stt": "3"}) == (
        D("25"),
        "broker",
        {"brokerage": D("20"), "stt": D("3"), "unitemised": D("2")},
    )
    assert tradebook.broker_charges(D("12.40"), None) == (D("12.40"), "broker", {"unitemised": D("12.40")})
    assert tradebook.broker_charges(None, {"gst": "1", "brokerage": "5"}).lines == {"brokerage": D("5"), "gst": D("1")}
    assert tradebook.broker_charges(D("0"), {}) == (D("0"), "broker", {})


def test_a_flip_splits_every_line_to_the_paisa_and_the_parts_add_up() -> None:
    rows = [
        execution("sell", "4", "4000", 20, charges={"brokerage": "20", "stt": "3.01"}, fees=D("25")),
        execution("buy", "6", "3990", 40, charges={"brokerage": "20.03", "exchange_txn": "0.89", "gst": "0.01"}),
    ]
    book = tradebook.book(rows, INDIA)
    short, long = book.trades
    assert book.breakdown(short) == {
        "brokerage": D("33.35"),
        "stt": D("3.01"),
        "exchange_txn": D("0.59"),
        "gst": D("0.01"),
        "unitemised": D("1.99"),
    }
    assert book.breakdown(long) == {"brokerage": D("6.68"), "exchange_txn": D("0.30"), "gst": D("0.00")}
    for trade in book.trades:
        assert trade.charges == sum(book.breakdown(trade).values(), D(0))
        assert trade.net_pnl == (trade.gross_pnl or 0) - trade.charges
        assert trade.charges == sum((leg.charges for leg in trade.legs), D(0))
    assert short.charges + long.charges == D("25") + D("20.93")
    assert {book.sources[t.id] for t in book.trades} == {"broker"}


def test_an_estimated_flip_adds_up_to_its_fills_whatever_the_arrival_order() -> None:
    rows = [
        execution("sell", "4", "4000", 20),
        execution("buy", "7", "3990", 40),
        execution("sell", "3", "4005", 50),
    ]
    results = []
    for order in permutations(rows):
        book = tradebook.book(list(order), INDIA)
        fills = sum((c.total or D(0) for c in book.charges.values()), D(0))
        assert sum((t.charges for t in book.trades), D(0)) == fills
        results.append([(t.id, t.charges, book.breakdown(t), book.sources[t.id]) for t in book.trades])
    assert all(r == results[0] for r in results)
    assert {source for *_, source in results[0]} == {"estimated"}


def test_legs_of_different_sources_make_a_mixed_trade_and_none_is_none() -> None:
    rows = [execution("buy", "1", "4000", 20, fees=D("20")), execution("sell", "1", "4010", 30)]
    book = tradebook.book(rows, INDIA)
    (trade,) = book.trades
    assert book.sources[trade.id] == "mixed"
    assert book.breakdown(trade)["unitemised"] == D("20")
    us = [execution("buy", "1", "100", 20, exchange="NASDAQ", currency="USD")]
    book = tradebook.book(us, INDIA)
    assert book.sources[book.trades[0].id] == "none" and book.breakdown(book.trades[0]) == {}


def test_a_commission_schedule_prices_each_order_once_and_shares_it_by_value() -> None:
    schedule = {"per_share": "0.005", "min_per_order": "1", "max_pct_of_value": "1"}
    accounts = {ACCOUNT: {"commission_schedule": schedule}}
    nasdaq = {"exchange": "NASDAQ", "currency": "USD", "symbol": "AAPL", "segment": None, "product": None}
    rows = [
        execution("buy", "300", "190.50", 20, broker_order_id="A", **nasdaq),
        execution("buy", "100", "190.60", 21, broker_order_id="A", **nasdaq),
        execution("sell", "400", "191", 30, **nasdaq),
        execution("buy", "10", "0.50", 40, **{**nasdaq, "symbol": "PENNY"}),  # 1 % of 5.00 caps the minimum
    ]
    charges = tradebook.charges_of(rows, accounts)
    assert [charges[r["id"]].total for r in rows] == [D("1.50"), D("0.50"), D("2.00"), D("0.05")]
    assert charges[rows[0]["id"]].lines == {"commission": D("1.50"), "regulatory_fees": D("0.00")}
    book = tradebook.book(rows, accounts)
    closed = next(t for t in book.trades if t.symbol == "NASDAQ:AAPL")
    assert book.sources[closed.id] == "estimated" and closed.charges == D("4.00")
    # Indian executions of the same account are still priced by the India engine.
    indian = tradebook.charges_of([execution("buy", "1", "4000", 20)], accounts)
    assert next(iter(indian.values())).lines.keys() >= {"brokerage", "stt", "gst"}  # type: ignore[union-attr]


def test_a_day_the_rate_table_does_not_cover_leaves_only_that_days_fills_unestimated() -> None:
    early = execution("buy", "1", "4000", 20, executed_at=datetime(2019, 6, 5, 9, 20, tzinfo=IST))
    later = execution("buy", "1", "4000", 20)
    charges = tradebook.charges_of([early, later], INDIA)
    assert charges[early["id"]] == tradebook.NO_CHARGES
    assert charges[later["id"]].source == "estimated" and (charges[later["id"]].total or 0) > 0


def test_lines_are_stored_as_the_json_of_their_amounts_as_text() -> None:
    rng = random.Random(5)
    amounts = [D("0.00"), D("12.5"), D("1E+2"), D("0E-8"), D("-3.14"), D("123456789.123456789")]
    for _ in range(200):
        names = [n for n in tradebook.ch.LINE_NAMES if rng.random() < 0.5]
        lines = {n: rng.choice(amounts) for n in names}
        assert tradebook.lines_json(lines) == json.dumps({n: str(a) for n, a in lines.items()})
    assert tradebook.lines_json(None) is None


def test_uuid_ids_and_their_text_get_the_same_estimates() -> None:
    """A note's paise left over go to the earlier execution in (time, id) order: UUID ids are
    ordered by number, which must be their text's order."""
    rng = random.Random(11)
    rows = []
    for i in range(60):  # equal fills at the same minutes: the sharing's ties are decided by id
        order = {"broker_order_id": f"o{i % 4}"} if i % 3 == 0 else {}
        rows.append(
            execution(
                rng.choice(["buy", "sell"]), "7", "333.33", i % 3, id=uuid.UUID(int=rng.getrandbits(128)), **order
            )
        )
    by_uuid = tradebook.execution_charges(rows)
    by_text = tradebook.execution_charges([{**r, "id": str(r["id"])} for r in rows])
    assert {str(k): v for k, v in by_uuid.items()} == by_text
    assert len({v.lines["exchange_txn"] for v in by_uuid.values() if v.lines}) > 1  # the ties were real
