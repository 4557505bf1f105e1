"""projection_rows.day_rollups: each scope's days (each account in its zone, all accounts in the
summary's zone) summed up as the rollup sums them, against a plain grouping written here."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tj_trades.projection_rows import close_order, day_composite, day_rollups

EVERYONE = uuid.UUID(int=0)
START = datetime(2025, 3, 3, 3, 0, tzinfo=UTC)


def trades(rng: random.Random, accounts: list[uuid.UUID], count: int) -> list[dict[str, Any]]:
    """Trade rows as trade_records makes them (the fields day_rollups reads), closing around the
    clock over a few days, some open, with each account's one id object."""
    rows = []
    for _ in range(count):
        opened = START + timedelta(minutes=rng.randrange(0, 6 * 24 * 60))
        closed = opened + timedelta(minutes=rng.randrange(1, 600))
        net = Decimal(rng.randrange(-500, 500)) / 4
        rows.append(
            {
                "trade_id": uuid.uuid4(),
                "account_id": rng.choice(accounts),
                "instrument": rng.choice(["NSE:TCS", "NSE:INFY"]),
                "status": "open" if rng.random() < 0.1 else "closed",
                "opened_at": opened,
                "closed_at": closed,
                "gross_pnl": net + 20,
                "charges": Decimal(20),
                "net_pnl": net,
            }
        )
    for r in rows:
        if r["status"] == "open":
            r["closed_at"] = None
    return rows


def expected(rows: list[dict[str, Any]], zones: dict[uuid.UUID, str], zone: str) -> dict[Any, Any]:
    days: dict[tuple[uuid.UUID, date], list[dict[str, Any]]] = {}
    for r in sorted((r for r in rows if r["status"] == "closed"), key=close_order):
        account_day = r["closed_at"].astimezone(ZoneInfo(zones[r["account_id"]])).date()
        days.setdefault((r["account_id"], account_day), []).append(r)
        days.setdefault((EVERYONE, r["closed_at"].astimezone(ZoneInfo(zone)).date()), []).append(r)
    return {key: (len(found), day_composite(found)) for key, found in days.items()}


@pytest.mark.parametrize(
    ("zones", "zone"),
    [
        (["Asia/Kolkata"], "Asia/Kolkata"),  # one account in the summary's zone: summed up once
        (["America/New_York"], "Asia/Kolkata"),  # one account, its days not the summary's
        (["Asia/Kolkata", "Asia/Kolkata"], "Asia/Kolkata"),
        (["Asia/Kolkata", "Europe/London"], "Asia/Kolkata"),
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_day_rollups_are_each_scopes_days_summed_up(zones: list[str], zone: str, seed: int) -> None:
    rng = random.Random(seed)
    ids = [uuid.uuid4() for _ in zones]
    rows = trades(rng, ids, 300)
    settings = {a: {"timezone": z} for a, z in zip(ids, zones, strict=True)}
    rolled = day_rollups(rows, settings, EVERYONE, zone)
    assert rolled == expected(rows, dict(zip(ids, zones, strict=True)), zone)
    assert {a for a, _ in rolled} == {*ids, EVERYONE}


def test_an_account_id_equal_but_not_the_same_object_is_the_same_account() -> None:
    account = uuid.uuid4()
    rows = trades(random.Random(5), [account], 50)
    for r in rows[::2]:
        r["account_id"] = uuid.UUID(str(account))
    rolled = day_rollups(rows, {account: {"timezone": "Asia/Kolkata"}}, EVERYONE, "Asia/Kolkata")
    assert rolled == expected(rows, {account: "Asia/Kolkata"}, "Asia/Kolkata")


def test_no_closed_trade_no_day() -> None:
    account = uuid.uuid4()
    rows = [r for r in trades(random.Random(1), [account], 30) if r["status"] == "open"]
    assert day_rollups(rows, {account: {"timezone": "Asia/Kolkata"}}, EVERYONE, "Asia/Kolkata") == {}
