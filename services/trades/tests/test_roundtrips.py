"""The round-trip engine: worked examples and properties over random execution sets."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid5

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tj_trades.domain.roundtrips import (
    TRADE_ID_NAMESPACE,
    Fill,
    LegRole,
    RoundTrip,
    Side,
    TradeSide,
    TradeStatus,
    build_round_trips,
    trade_id_for,
)

T0 = datetime(2026, 3, 2, 3, 45, tzinfo=UTC)  # 09:15 IST
D = Decimal


def fill(
    eid: str,
    side: str,
    qty: int | str,
    price: int | str,
    minutes: float = 0,
    *,
    charges: str | None = None,
    account: str = "acc",
    symbol: str = "SBIN",
    tid: str | None = None,
    multiplier: int = 1,
) -> Fill:
    return Fill(
        execution_id=eid,
        account_id=account,
        symbol=symbol,
        side=Side(side),
        quantity=D(qty),
        price=D(price),
        executed_at=T0 + timedelta(minutes=minutes),
        charges=D(charges) if charges is not None else None,
        broker_trade_id=tid,
        multiplier=D(multiplier),
    )


def only(trades: list[RoundTrip]) -> RoundTrip:
    assert len(trades) == 1, trades
    return trades[0]


# --- examples -------------------------------------------------------------------------------------


def test_simple_long() -> None:
    t = only(build_round_trips([fill("e1", "buy", 10, 100, charges="2"), fill("e2", "sell", 10, 110, 5, charges="3")]))
    assert t.side is TradeSide.LONG
    assert t.status is TradeStatus.CLOSED
    assert (t.opened_at, t.closed_at) == (T0, T0 + timedelta(minutes=5))
    assert t.quantity == 10 and t.max_position == 10 and t.open_quantity == 0
    assert (t.average_entry_price, t.average_exit_price) == (D(100), D(110))
    assert t.gross_pnl == D(100)
    assert t.charges == D(5)
    assert t.net_pnl == D(95)
    assert t.holding_time == timedelta(minutes=5)
    assert [(leg.execution_id, leg.quantity, leg.role) for leg in t.legs] == [
        ("e1", D(10), LegRole.OPEN),
        ("e2", D(10), LegRole.CLOSE),
    ]
    assert t.id == uuid5(TRADE_ID_NAMESPACE, "trade:e1")
    assert t.first_execution_id == "e1"


def test_simple_short() -> None:
    t = only(build_round_trips([fill("e1", "sell", 5, 200), fill("e2", "buy", 5, 190, 1)]))
    assert t.side is TradeSide.SHORT
    assert t.gross_pnl == D(50)
    assert (t.average_entry_price, t.average_exit_price) == (D(200), D(190))


def test_partial_exits_stay_in_one_trade() -> None:
    t = only(
        build_round_trips([fill("e1", "buy", 10, 100), fill("e2", "sell", 4, 105, 1), fill("e3", "sell", 6, 98, 2)])
    )
    assert t.status is TradeStatus.CLOSED
    assert t.gross_pnl == D(4 * 5 - 6 * 2)
    assert t.average_exit_price == D("100.8")
    assert t.closed_at == T0 + timedelta(minutes=2)


def test_scale_in() -> None:
    t = only(
        build_round_trips([fill("e1", "buy", 5, 100), fill("e2", "buy", 5, 110, 1), fill("e3", "sell", 10, 120, 2)])
    )
    assert t.quantity == 10 and t.max_position == 10
    assert t.average_entry_price == D(105)
    assert t.gross_pnl == D(150)


def test_scale_in_and_out_quantity_is_total_entered_and_max_position_is_the_peak() -> None:
    t = only(
        build_round_trips(
            [
                fill("e1", "buy", 5, 100),
                fill("e2", "sell", 3, 101, 1),
                fill("e3", "buy", 4, 102, 2),
                fill("e4", "sell", 6, 103, 3),
            ]
        )
    )
    assert t.quantity == D(9)
    assert t.max_position == D(6)
    assert t.gross_pnl == D(3 * 101 + 6 * 103 - 5 * 100 - 4 * 102)


def test_scale_out() -> None:
    t = only(
        build_round_trips(
            [
                fill("e1", "buy", 10, 100),
                fill("e2", "sell", 3, 101, 1),
                fill("e3", "sell", 3, 102, 2),
                fill("e4", "sell", 4, 103, 3),
            ]
        )
    )
    assert t.gross_pnl == D(3 + 6 + 12)
    assert len(t.legs) == 4


def test_open_trade_realises_fifo() -> None:
    t = only(
        build_round_trips([fill("e1", "buy", 5, 100), fill("e2", "buy", 5, 110, 1), fill("e3", "sell", 6, 120, 2)])
    )
    assert t.status is TradeStatus.OPEN
    assert t.closed_at is None and t.holding_time is None
    assert t.open_quantity == D(4)
    # FIFO: all of the first lot (5 @ 100) and one of the second (@ 110).
    assert t.gross_pnl == D(5 * 20 + 1 * 10)
    assert t.average_exit_price == D(120)


def test_open_position_is_an_open_trade() -> None:
    t = only(build_round_trips([fill("e1", "sell", 7, 50, charges="1.5")]))
    assert (t.status, t.side, t.open_quantity, t.quantity) == (TradeStatus.OPEN, TradeSide.SHORT, D(7), D(7))
    assert t.gross_pnl == 0
    assert t.net_pnl == D("-1.5")
    assert t.average_exit_price is None


def test_flip_long_to_short_splits_the_fill_and_its_charges() -> None:
    trades = build_round_trips(
        [
            fill("e1", "buy", 10, 100, charges="1"),
            fill("e2", "sell", 15, 110, 1, charges="3"),
            fill("e3", "buy", 5, 105, 2, charges="0.5"),
        ]
    )
    first, second = trades
    assert (first.side, first.status, first.quantity) == (TradeSide.LONG, TradeStatus.CLOSED, D(10))
    assert first.gross_pnl == D(100)
    assert first.charges == D(1) + D(2)  # 10/15 of e2's 3
    assert first.closed_at == T0 + timedelta(minutes=1)
    assert (second.side, second.status, second.quantity) == (TradeSide.SHORT, TradeStatus.CLOSED, D(5))
    assert second.opened_at == T0 + timedelta(minutes=1)
    assert second.first_execution_id == "e2"
    assert second.gross_pnl == D(25)
    assert second.charges == D(1) + D("0.5")
    assert second.id == uuid5(TRADE_ID_NAMESPACE, "trade:e2")
    last_of_first, first_of_second = first.legs[-1], second.legs[0]
    assert (last_of_first.execution_id, last_of_first.role, last_of_first.quantity) == ("e2", LegRole.CLOSE, D(10))
    assert (first_of_second.execution_id, first_of_second.role, first_of_second.quantity) == ("e2", LegRole.OPEN, D(5))


def test_flip_short_to_long() -> None:
    trades = build_round_trips([fill("e1", "sell", 2, 100), fill("e2", "buy", 5, 90, 1), fill("e3", "sell", 3, 95, 2)])
    first, second = trades
    assert (first.side, first.gross_pnl, first.quantity) == (TradeSide.SHORT, D(20), D(2))
    assert (second.side, second.gross_pnl, second.quantity, second.status) == (
        TradeSide.LONG,
        D(15),
        D(3),
        TradeStatus.CLOSED,
    )


def test_split_charges_add_up_exactly_when_the_ratio_does_not_terminate() -> None:
    first, second = build_round_trips([fill("e1", "buy", 1, 100), fill("e2", "sell", 3, 100, 1, charges="0.01")])
    assert first.charges == D("0.00333333")
    assert second.charges == D("0.00666667")
    assert first.charges + second.charges == D("0.01")


def test_swing_trade_across_days() -> None:
    t = only(build_round_trips([fill("e1", "buy", 100, 500), fill("e2", "sell", 100, 520, 60 * 24 * 2 + 30)]))
    assert t.holding_time == timedelta(days=2, minutes=30)
    assert t.gross_pnl == D(2000)


def test_out_of_order_arrival_gives_the_same_trades() -> None:
    fills = [
        fill("e1", "buy", 10, 100),
        fill("e2", "sell", 15, 110, 1),
        fill("e3", "buy", 5, 105, 2),
        fill("e4", "buy", 3, 101, 3),
    ]
    assert build_round_trips(fills) == build_round_trips(list(reversed(fills)))
    assert build_round_trips(fills) == build_round_trips([fills[2], fills[0], fills[3], fills[1]])


def test_same_time_fills_are_ordered_by_numeric_broker_trade_id() -> None:
    # "9" sorts after "10" as text; the exchange numbered the sell first.
    fills = [fill("a", "buy", 1, 100, tid="10"), fill("b", "sell", 1, 101, tid="9")]
    t = only(build_round_trips(fills))
    assert t.side is TradeSide.SHORT
    assert t.gross_pnl == D(1)


def test_two_identical_fills_with_different_ids_are_two_fills() -> None:
    t = only(
        build_round_trips([fill("e1", "buy", 10, 100), fill("e2", "buy", 10, 100), fill("e3", "sell", 20, 101, 1)])
    )
    assert t.quantity == D(20)
    assert t.gross_pnl == D(20)
    assert {leg.execution_id for leg in t.legs} == {"e1", "e2", "e3"}


def test_long_only_account_flags_a_sell_without_a_buy_as_unmatched() -> None:
    trades = build_round_trips(
        [
            fill("e1", "sell", 10, 100, charges="4"),
            fill("e2", "buy", 5, 100, 1),
            fill("e3", "sell", 8, 110, 2, charges="8"),
        ],
        long_only_accounts={"acc"},
    )
    unmatched_first, closed, unmatched_rest = trades
    assert unmatched_first.status is TradeStatus.UNMATCHED
    assert unmatched_first.gross_pnl is None and unmatched_first.net_pnl is None
    assert unmatched_first.average_entry_price is None
    assert (unmatched_first.quantity, unmatched_first.charges) == (D(10), D(4))
    assert (closed.status, closed.gross_pnl, closed.charges) == (TradeStatus.CLOSED, D(50), D(5))
    assert (unmatched_rest.status, unmatched_rest.quantity, unmatched_rest.charges) == (
        TradeStatus.UNMATCHED,
        D(3),
        D(3),
    )
    # Without the long-only flag the same sell opens a short.
    assert build_round_trips([fill("e1", "sell", 10, 100)])[0].side is TradeSide.SHORT


def test_accounts_and_symbols_are_separate_positions() -> None:
    trades = build_round_trips(
        [
            fill("a1", "buy", 1, 100, account="A"),
            fill("b1", "sell", 1, 100, 1, account="B"),
            fill("a2", "buy", 1, 50, 2, account="A", symbol="INFY"),
        ]
    )
    assert [(t.account_id, t.symbol, t.side, t.status) for t in trades] == [
        ("A", "SBIN", TradeSide.LONG, TradeStatus.OPEN),
        ("B", "SBIN", TradeSide.SHORT, TradeStatus.OPEN),
        ("A", "INFY", TradeSide.LONG, TradeStatus.OPEN),
    ]


def test_multiplier_scales_pnl() -> None:
    t = only(
        build_round_trips([fill("e1", "buy", 2, 100, multiplier=50), fill("e2", "sell", 2, 101, 1, multiplier=50)])
    )
    assert t.gross_pnl == D(100)
    assert t.multiplier == D(50)


@pytest.mark.parametrize(
    ("fills", "message"),
    [
        ([fill("e1", "buy", 1, 1), fill("e1", "sell", 1, 1)], "duplicate"),
        ([fill("e1", "buy", 0, 1)], "positive"),
        ([fill("e1", "buy", 1, 1, multiplier=1), fill("e2", "sell", 1, 1, multiplier=2)], "multiplier"),
    ],
)
def test_invalid_input_is_rejected(fills: list[Fill], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_round_trips(fills)


def test_naive_timestamp_is_rejected() -> None:
    naive = Fill("e1", "acc", "SBIN", Side.BUY, D(1), D(1), datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        build_round_trips([naive])


# --- properties -----------------------------------------------------------------------------------

fill_specs = st.lists(
    st.tuples(
        st.sampled_from(["A", "B"]),
        st.sampled_from(["X", "Y"]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.decimals(min_value=D("0.5"), max_value=D(20), places=1),
        st.decimals(min_value=D(1), max_value=D(500), places=2),
        st.integers(min_value=0, max_value=12),  # few distinct minutes: many same-time ties
        st.one_of(st.none(), st.decimals(min_value=D(0), max_value=D(30), places=2)),
        st.one_of(st.none(), st.integers(min_value=1, max_value=30).map(str)),
    ),
    max_size=40,
)


def make_fills(specs: list[tuple[str, str, Side, Decimal, Decimal, int, Decimal | None, str | None]]) -> list[Fill]:
    multipliers = {"X": D(1), "Y": D(25)}
    return [
        Fill(
            execution_id=f"x{i:03d}",
            account_id=account,
            symbol=symbol,
            side=side,
            quantity=qty,
            price=price,
            executed_at=T0 + timedelta(minutes=minute),
            charges=charges,
            broker_trade_id=tid,
            multiplier=multipliers[symbol],
        )
        for i, (account, symbol, side, qty, price, minute, charges, tid) in enumerate(specs)
    ]


@st.composite
def execution_sets(draw: st.DrawFn) -> tuple[list[Fill], frozenset[str]]:
    fills = make_fills(draw(fill_specs))
    long_only = frozenset(draw(st.sets(st.sampled_from(["A", "B"]))))
    return fills, long_only


@settings(max_examples=300, deadline=None)
@given(execution_sets())
def test_quantity_is_conserved(case: tuple[list[Fill], frozenset[str]]) -> None:
    fills, long_only = case
    trades = build_round_trips(fills, long_only_accounts=long_only)
    used: dict[str, Decimal] = defaultdict(Decimal)
    for trade in trades:
        for leg in trade.legs:
            used[str(leg.execution_id)] += leg.quantity
    assert used == {str(f.execution_id): f.quantity for f in fills}

    net: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in fills:
        net[(str(f.account_id), f.symbol)] += f.quantity if f.side is Side.BUY else -f.quantity
    for trade in trades:
        if trade.status is TradeStatus.UNMATCHED:
            # The unmatched sell never reduced a position: give it back to the expected net.
            net[(str(trade.account_id), trade.symbol)] += trade.quantity
    position: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for trade in trades:
        key = (str(trade.account_id), trade.symbol)
        if trade.status is TradeStatus.OPEN:
            assert key not in position, "at most one open trade per position"
            position[key] = trade.open_quantity if trade.side is TradeSide.LONG else -trade.open_quantity
        else:
            assert trade.open_quantity == 0
    for key, expected in net.items():
        assert position.get(key, D(0)) == expected
        if key[0] in long_only:
            assert expected >= 0


@settings(max_examples=300, deadline=None)
@given(execution_sets())
def test_gross_pnl_is_realised_cash_flow_and_charges_add_up(case: tuple[list[Fill], frozenset[str]]) -> None:
    fills, long_only = case
    trades = build_round_trips(fills, long_only_accounts=long_only)
    total_charges = sum((t.charges for t in trades), D(0))
    assert total_charges == sum((f.charges or D(0) for f in fills), D(0))

    leg_charges: dict[str, Decimal] = defaultdict(Decimal)
    for trade in trades:
        for leg in trade.legs:
            leg_charges[str(leg.execution_id)] += leg.charges
        assert trade.charges == sum((leg.charges for leg in trade.legs), D(0))
        if trade.status is TradeStatus.UNMATCHED:
            continue
        assert trade.gross_pnl is not None
        assert trade.net_pnl == trade.gross_pnl - trade.charges
        if trade.status is TradeStatus.CLOSED:
            sells = sum((leg.quantity * leg.price for leg in trade.legs if leg.side is Side.SELL), D(0))
            buys = sum((leg.quantity * leg.price for leg in trade.legs if leg.side is Side.BUY), D(0))
            assert trade.gross_pnl == (sells - buys) * trade.multiplier
        else:
            assert trade.gross_pnl == naive_fifo_realised(trade)
    assert leg_charges == {str(f.execution_id): f.charges or D(0) for f in fills}

    # Over a whole position that ends flat with nothing unmatched, P&L is simply sells minus buys.
    by_position: dict[tuple[str, str], list[RoundTrip]] = defaultdict(list)
    for trade in trades:
        by_position[(str(trade.account_id), trade.symbol)].append(trade)
    for (account, symbol), position_trades in by_position.items():
        if all(t.status is TradeStatus.CLOSED for t in position_trades):
            mine = [f for f in fills if f.account_id == account and f.symbol == symbol]
            cash = sum((f.quantity * f.price * (1 if f.side is Side.SELL else -1) for f in mine), D(0))
            assert sum((t.gross_pnl or D(0) for t in position_trades), D(0)) == cash * mine[0].multiplier


def naive_fifo_realised(trade: RoundTrip) -> Decimal:
    lots: list[list[Decimal]] = []
    realised = D(0)
    for leg in trade.legs:
        if leg.role is LegRole.OPEN:
            lots.append([leg.quantity, leg.price])
            continue
        need = leg.quantity
        while need > 0:
            take = min(need, lots[0][0])
            move = leg.price - lots[0][1]
            realised += (move if trade.side is TradeSide.LONG else -move) * take
            lots[0][0] -= take
            need -= take
            if lots[0][0] == 0:
                lots.pop(0)
    return realised * trade.multiplier


@settings(max_examples=300, deadline=None)
@given(execution_sets(), st.data())
def test_any_arrival_order_gives_identical_trades(case: tuple[list[Fill], frozenset[str]], data: st.DataObject) -> None:
    fills, long_only = case
    shuffled = data.draw(st.permutations(fills))
    assert build_round_trips(shuffled, long_only_accounts=long_only) == build_round_trips(
        fills, long_only_accounts=long_only
    )


@settings(max_examples=300, deadline=None)
@given(execution_sets())
def test_flips_split_into_a_closing_and_an_opening_part(case: tuple[list[Fill], frozenset[str]]) -> None:
    fills, long_only = case
    trades = build_round_trips(fills, long_only_accounts=long_only)
    assert len({t.id for t in trades}) == len(trades)
    legs_of: dict[str, list[tuple[LegRole, RoundTrip]]] = defaultdict(list)
    for trade in trades:
        for leg in trade.legs:
            legs_of[str(leg.execution_id)].append((leg.role, trade))
        # Inside a trade the position never crosses zero and a closed trade ends flat.
        position = D(0)
        for leg in trade.legs:
            if leg.role is LegRole.OPEN:
                position += leg.quantity
            elif leg.role is LegRole.CLOSE:
                position -= leg.quantity
            assert position >= 0
        assert position == trade.open_quantity
    for execution_id, parts in legs_of.items():
        assert len(parts) <= 2
        if len(parts) == 2:
            (role_a, closed), (role_b, opened) = parts
            assert role_a is LegRole.CLOSE
            assert role_b in (LegRole.OPEN, LegRole.UNMATCHED)
            assert closed.status is TradeStatus.CLOSED
            assert str(closed.legs[-1].execution_id) == execution_id
            assert str(opened.first_execution_id) == execution_id
            if role_b is LegRole.OPEN:
                assert opened.side is not closed.side


def test_trade_ids_are_uuid5_of_the_first_execution() -> None:
    for eid in ("x001", UUID("00000000-0000-4000-8000-00000000000a")):
        assert trade_id_for(eid) == uuid5(TRADE_ID_NAMESPACE, f"trade:{eid}")
        assert trade_id_for(eid, unmatched=True) == uuid5(TRADE_ID_NAMESPACE, f"unmatched:{eid}")


def test_a_duplicate_uuid_execution_id_is_rejected() -> None:
    eid = UUID("00000000-0000-4000-8000-00000000000b")
    twice = [replace(fill("x", "buy", 1, 10), execution_id=eid), replace(fill("y", "sell", 1, 11), execution_id=eid)]
    with pytest.raises(ValueError, match="duplicate execution id"):
        build_round_trips(twice)


@settings(max_examples=200, deadline=None)
@given(execution_sets(), st.data())
def test_uuid_ids_give_the_trades_their_text_gives(
    case: tuple[list[Fill], frozenset[str]], data: st.DataObject
) -> None:
    """UUID execution ids are ordered by their number, other ids by their text: the same order."""
    fills, long_only = case
    ids = data.draw(st.lists(st.uuids(), min_size=len(fills), max_size=len(fills), unique=True))
    as_uuid = [replace(f, execution_id=i) for f, i in zip(fills, ids, strict=True)]
    as_text = [replace(f, execution_id=str(i)) for f, i in zip(fills, ids, strict=True)]
    by_uuid = build_round_trips(as_uuid, long_only_accounts=long_only)
    by_text = build_round_trips(as_text, long_only_accounts=long_only)
    assert [
        replace(
            t,
            first_execution_id=str(t.first_execution_id),
            legs=tuple(leg._replace(execution_id=str(leg.execution_id)) for leg in t.legs),
        )
        for t in by_uuid
    ] == by_text
