"""The engine dataclasses whose ``__init__`` is written out (so that mypyc compiles it: see
tj_trades.domain.roundtrips) take the dataclass's fields, in order, with its defaults, set every
one of them as given, validate as ``__post_init__`` says, and stay frozen."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tj_trades.domain import charges as ch
from tj_trades.domain import roundtrips
from tj_trades.domain.charges import india

WRITTEN_OUT = (india.Fill, india.ExecutedOrder, roundtrips.Fill, roundtrips.RoundTrip)


def _fields(cls: type) -> list[tuple[str, Any]]:
    return [
        (f.name, f.default if f.default is not dataclasses.MISSING else inspect.Parameter.empty)
        for f in dataclasses.fields(cls)
    ]


@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_the_written_out_init_takes_the_fields_in_order_with_their_defaults(cls: type) -> None:
    assert "__init__" in vars(cls)  # not one dataclasses generated (init=False)
    parameters = list(inspect.signature(vars(cls)["__init__"]).parameters.values())[1:]
    if [p.kind for p in parameters] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
        pytest.skip("a compiled __init__ does not tell its signature: checked by the pure-Python run")
    assert [(p.name, p.default) for p in parameters] == _fields(cls)
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)


def _samples() -> list[Any]:
    at = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)
    fill = india.Fill("f1", Decimal(10), Decimal("101.5"))
    order = india.ExecutedOrder(
        "o1",
        "TCS",
        ch.Exchange.NSE,
        ch.Segment.EQUITY,
        roundtrips.Side.BUY,
        date(2025, 3, 3),
        (fill,),
        ch.Product.INTRADAY,
        Decimal(1),
        None,
        False,
    )
    engine_fill = roundtrips.Fill(
        "e1", "a1", "NSE:TCS", roundtrips.Side.BUY, Decimal(10), Decimal("101.5"), at, Decimal("1.2"), "T1", Decimal(1)
    )
    (trade,) = roundtrips.build_round_trips(
        [
            engine_fill,
            roundtrips.Fill("e2", "a1", "NSE:TCS", roundtrips.Side.SELL, Decimal(10), Decimal("103"), at),
        ]
    )
    return [fill, order, engine_fill, trade]


@pytest.mark.parametrize("index", range(4), ids=["india.Fill", "ExecutedOrder", "roundtrips.Fill", "RoundTrip"])
def test_every_field_is_set_as_given_and_stays_frozen(index: int) -> None:
    sample = _samples()[index]
    values = {f.name: getattr(sample, f.name) for f in dataclasses.fields(sample)}
    again = type(sample)(**values)
    assert again == sample and hash(again) == hash(sample)
    assert {f.name: getattr(again, f.name) for f in dataclasses.fields(again)} == values
    assert dataclasses.replace(sample) == sample
    name = dataclasses.fields(sample)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(again, name, values[name])


def test_the_written_out_inits_still_validate() -> None:
    with pytest.raises(ValueError, match="quantity must be positive"):
        india.Fill("f1", Decimal(0), Decimal(1))
    with pytest.raises(ValueError, match="no fills"):
        india.ExecutedOrder("o1", "TCS", ch.Exchange.NSE, ch.Segment.EQUITY, roundtrips.Side.BUY, date(2025, 3, 3), ())
