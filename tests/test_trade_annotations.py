"""Trade annotations (stop, target, setup, notes, tags), R-multiples, tag and setup analytics, and
manual round trips: through the gateway, Kafka and the trades service."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx

from tests.harness import ServiceProcess, auth, signup

DAY = "2026-06-05T{}+05:30"


def fill(symbol: str, side: str, qty: str, price: str, at: str, fees: str = "0") -> dict[str, str]:
    return {"symbol": symbol, "side": side, "quantity": qty, "price": price, "executed_at": at, "fees": fees}


async def _trades(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/v1/trades", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return {t["symbol"]: t for t in response.json()["items"]}


def _buckets(body: dict[str, Any]) -> dict[str, tuple[int, Decimal]]:
    return {b["key"]: (b["trade_count"], Decimal(b["net_pnl"])) for b in body["buckets"]}


async def test_annotations_r_multiples_and_tag_analytics(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    user, other = await signup(client), await signup(client)
    headers, other_headers = auth(user["access_token"]), auth(other["access_token"])
    executions = [
        # net = (2961.25 - 2950.50) x 10 - 41.50 = 66.00; stop 2940 -> 1R = 10.50 x 10 = 105
        fill("RELIANCE", "buy", "10", "2950.50", DAY.format("09:16:02"), fees="20"),
        fill("RELIANCE", "sell", "10", "2961.25", DAY.format("11:00:00"), fees="21.50"),
        # net = (1480 - 1500) x 5 = -100; stop 1490 -> 1R = 50 -> R = -2
        fill("INFY", "buy", "5", "1500", DAY.format("09:30:00")),
        fill("INFY", "sell", "5", "1480", DAY.format("10:30:00")),
        # a short, net (4000 - 3990) x 4 = 40; no stop -> no R
        fill("TCS", "sell", "4", "4000", DAY.format("09:20:00")),
        fill("TCS", "buy", "4", "3990", DAY.format("09:40:00")),
    ]
    recorded = await client.post("/api/v1/executions", json={"executions": executions}, headers=headers)
    assert recorded.status_code == 201, recorded.text
    trades = await _trades(client, headers)
    assert set(trades) == {"RELIANCE", "INFY", "TCS"}
    fresh = trades["RELIANCE"]
    assert fresh["initial_stop"] is None and fresh["tags"] == [] and fresh["r_multiple"] is None

    reliance_id, infy_id, tcs_id = trades["RELIANCE"]["id"], trades["INFY"]["id"], trades["TCS"]["id"]
    annotation = {
        "initial_stop": "2940",
        "target": "2980",
        "setup": "breakout",
        "notes": "# Plan\nWaited for the **retest**.",
        "tags": [{"name": "ORB", "kind": "setup"}, {"name": "late entry", "kind": "mistake"}],
    }
    patched = await client.patch(
        f"/api/v1/trades/{reliance_id}",
        json=annotation,
        headers=auth(user["access_token"], **{"Idempotency-Key": "a1"}),
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["id"] == reliance_id
    assert Decimal(body["initial_stop"]) == Decimal("2940")
    assert Decimal(body["target"]) == Decimal("2980")
    assert body["setup"] == "breakout"
    assert body["notes"] == annotation["notes"]
    assert {(t["name"], t["kind"]) for t in body["tags"]} == {("ORB", "setup"), ("late entry", "mistake")}
    assert Decimal(body["r_multiple"]) == Decimal(66) / Decimal(105)  # 0.628571...
    assert [leg["role"] for leg in body["executions"]] == ["open", "close"]

    # The same Idempotency-Key again: the same answer, applied once.
    again = await client.patch(
        f"/api/v1/trades/{reliance_id}",
        json=annotation,
        headers=auth(user["access_token"], **{"Idempotency-Key": "a1"}),
    )
    assert again.status_code == 200, again.text
    assert again.json()["setup"] == "breakout"

    for trade_id, changes in (
        (
            infy_id,
            {"initial_stop": "1490", "setup": "breakout", "tags": [{"name": "ORB", "kind": "setup"}, {"name": "fomo"}]},
        ),
        (tcs_id, {"setup": "reversal", "tags": [{"name": "earnings", "kind": "custom"}]}),
    ):
        response = await client.patch(f"/api/v1/trades/{trade_id}", json=changes, headers=headers)
        assert response.status_code == 200, response.text
    infy = (await client.get(f"/api/v1/trades/{infy_id}", headers=headers)).json()
    assert Decimal(infy["r_multiple"]) == Decimal(-2)
    assert {(t["name"], t["kind"]) for t in infy["tags"]} == {("ORB", "setup"), ("fomo", "custom")}
    tcs = (await client.get(f"/api/v1/trades/{tcs_id}", headers=headers)).json()
    assert tcs["r_multiple"] is None and tcs["setup"] == "reversal"

    # Partial change: null clears a field, the others keep their value.
    cleared = await client.patch(f"/api/v1/trades/{reliance_id}", json={"notes": None, "target": None}, headers=headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["notes"] is None and cleared.json()["target"] is None
    assert cleared.json()["setup"] == "breakout" and len(cleared.json()["tags"]) == 2

    # The list carries the annotations and filters by tag.
    listed = await _trades(client, headers)
    assert Decimal(listed["RELIANCE"]["r_multiple"]) == Decimal(66) / Decimal(105)
    assert listed["TCS"]["tags"] == [{"name": "earnings", "kind": "custom"}]
    assert set(await _trades(client, headers, tag="ORB")) == {"RELIANCE", "INFY"}
    assert set(await _trades(client, headers, tag="earnings")) == {"TCS"}
    assert await _trades(client, headers, tag="nothing") == {}

    # Analytics: expectancy in R over the trades with a stop, breakdowns by tag and setup.
    summary = (await client.get("/api/v1/analytics/summary", headers=headers)).json()
    assert summary["trade_count"] == 3
    assert summary["r_trade_count"] == 2
    expected_r = (Decimal(66) / Decimal(105) + Decimal(-2)) / 2  # -0.6857...
    assert abs(Decimal(summary["expectancy_r"]) - expected_r) < Decimal("1e-20")
    by_tag = (await client.get("/api/v1/analytics/breakdown", params={"by": "tag"}, headers=headers)).json()
    assert _buckets(by_tag) == {
        "ORB": (2, Decimal("-34")),
        "late entry": (1, Decimal("66")),
        "fomo": (1, Decimal("-100")),
        "earnings": (1, Decimal("40")),
    }
    by_setup = (await client.get("/api/v1/analytics/breakdown", params={"by": "setup"}, headers=headers)).json()
    assert by_setup["by"] == "setup"
    assert _buckets(by_setup) == {"breakout": (2, Decimal("-34")), "reversal": (1, Decimal("40"))}
    orb = (await client.get("/api/v1/analytics/summary", params={"tag": "ORB"}, headers=headers)).json()
    assert orb["trade_count"] == 2 and Decimal(orb["net_pnl"]) == Decimal("-34")
    curve = (await client.get("/api/v1/analytics/equity-curve", params={"tag": "earnings"}, headers=headers)).json()
    assert [p["trade_id"] for p in curve["points"]] == [tcs_id]

    # Somebody else's trade, or no trade at all: 404 for reading and annotating.
    assert (await client.get(f"/api/v1/trades/{reliance_id}", headers=other_headers)).status_code == 404
    foreign = await client.patch(f"/api/v1/trades/{reliance_id}", json={"setup": "x"}, headers=other_headers)
    assert foreign.status_code == 404, foreign.text
    assert foreign.json()["error"] == "NotFound"
    missing = await client.patch(f"/api/v1/trades/{uuid.uuid4()}", json={"setup": "x"}, headers=headers)
    assert missing.status_code == 404
    assert (await client.get(f"/api/v1/trades/{reliance_id}", headers=headers)).json()["setup"] == "breakout"

    # Validation at the edge.
    too_long = await client.patch(f"/api/v1/trades/{tcs_id}", json={"notes": "x" * 20_001}, headers=headers)
    assert too_long.status_code == 422
    bad_kind = await client.patch(
        f"/api/v1/trades/{tcs_id}", json={"tags": [{"name": "a", "kind": "x"}]}, headers=headers
    )
    assert bad_kind.status_code == 422


async def test_manual_round_trip(client: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
    user = await signup(client)
    headers = auth(user["access_token"], **{"Idempotency-Key": "manual-1"})
    body = {
        "symbol": "hdfcbank",
        "side": "short",
        "quantity": "20",
        "entry_price": "1600",
        "entered_at": "2026-06-08T09:20:00+05:30",
        "exit_price": "1590",
        "exited_at": "2026-06-08T10:05:00+05:30",
        "fees": "12.40",
        "initial_stop": "1605",
        "setup": "fade",
        "notes": "typed in from my notebook",
        "tags": [{"name": "manual", "kind": "custom"}],
    }
    created = await client.post("/api/v1/trades", json=body, headers=headers)
    assert created.status_code == 201, created.text
    trade = created.json()
    assert created.headers["location"] == f"/api/v1/trades/{trade['id']}"
    assert (trade["symbol"], trade["exchange"], trade["side"], trade["status"]) == (
        "HDFCBANK",
        "NSE",
        "short",
        "closed",
    )
    # (1600 - 1590) x 20 - 12.40 = 187.60; 1R = (1605 - 1600) x 20 = 100
    assert Decimal(trade["gross_pnl"]) == Decimal("200")
    assert Decimal(trade["charges"]) == Decimal("12.40")
    assert Decimal(trade["net_pnl"]) == Decimal("187.60")
    assert trade["charges_source"] == "broker"
    assert Decimal(trade["r_multiple"]) == Decimal("1.876")
    assert trade["setup"] == "fade" and trade["tags"] == [{"name": "manual", "kind": "custom"}]
    assert trade["holding_seconds"] == 45 * 60

    # A retry with the same key answers the same trade and records nothing more.
    repeat = await client.post("/api/v1/trades", json=body, headers=headers)
    assert repeat.status_code == 201, repeat.text
    assert repeat.json()["id"] == trade["id"]
    listed = await client.get("/api/v1/executions", params={"symbol": "HDFCBANK"}, headers=headers)
    items = listed.json()["items"]
    assert sorted((e["side"], Decimal(e["price"]), Decimal(e["quantity"])) for e in items) == [
        ("buy", Decimal("1590"), Decimal("20")),
        ("sell", Decimal("1600"), Decimal("20")),
    ]
    assert {e["id"] for e in items} == {leg["execution_id"] for leg in trade["executions"]}

    # Entry only: an open trade.
    plain = auth(user["access_token"])
    opened = await client.post(
        "/api/v1/trades",
        json={
            "symbol": "SBIN",
            "side": "long",
            "quantity": "50",
            "entry_price": "800",
            "entered_at": DAY.format("09:15:00"),
        },
        headers=plain,
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["status"] == "open" and opened.json()["r_multiple"] is None

    # Validation: exit after entry, positive quantity and prices, an exit needs both fields.
    base = {
        "symbol": "SBIN",
        "side": "long",
        "quantity": "1",
        "entry_price": "800",
        "entered_at": DAY.format("10:00:00"),
    }
    for bad in (
        {"exit_price": "801", "exited_at": DAY.format("09:59:00")},
        {"quantity": "0"},
        {"entry_price": "-1"},
        {"exit_price": "0", "exited_at": DAY.format("11:00:00")},
        {"exit_price": "801"},
    ):
        refused = await client.post("/api/v1/trades", json={**base, **bad}, headers=plain)
        assert refused.status_code == 422, (bad, refused.text)
    elsewhere = await client.post("/api/v1/trades", json={**base, "account_id": str(uuid.uuid4())}, headers=plain)
    assert elsewhere.status_code == 404, elsewhere.text
