"""Executions through the gateway and Kafka, round trips and analytics back through the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from tests.harness import ServiceProcess, auth, signup


def fill(symbol: str, side: str, qty: str, price: str, at: str, fees: str | None = None) -> dict[str, str]:
    body = {"symbol": symbol, "side": side, "quantity": qty, "price": price, "executed_at": at, "product": "MIS"}
    if fees is not None:
        body["fees"] = fees
    return body


async def test_round_trips_and_summary_through_the_api(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    user, other = await signup(client), await signup(client)
    headers = auth(user["access_token"])
    day = "2026-06-05T{}+05:30"
    executions = [
        # A plain intraday long with the broker's charges: net = (2961.25 - 2950.50) x 10 - 41.50 = 66.00
        fill("RELIANCE", "buy", "10", "2950.50", day.format("09:16:02"), fees="20"),
        fill("RELIANCE", "sell", "10", "2961.25", day.format("11:00:00"), fees="21.50"),
        # Scale out: 2 @ -10 then 3 @ +10 -> gross 10, no charges
        fill("INFY", "buy", "5", "1500", day.format("09:30:00"), fees="0"),
        fill("INFY", "sell", "2", "1490", day.format("10:00:00"), fees="0"),
        fill("INFY", "sell", "3", "1510", day.format("10:30:00"), fees="0"),
        # A flip through zero, charges estimated: short 4 closed for +40 gross, long 2 left open
        fill("TCS", "sell", "4", "4000", day.format("09:20:00")),
        fill("TCS", "buy", "6", "3990", day.format("09:40:00")),
    ]
    # Sent newest first: the trades must not depend on arrival order.
    response = await client.post("/api/v1/executions", json={"executions": executions[::-1]}, headers=headers)
    assert response.status_code == 201, response.text

    listed = await client.get("/api/v1/trades", headers=headers)
    assert listed.status_code == 200, listed.text
    trades = {(t["symbol"], t["status"], t["side"]): t for t in listed.json()["items"]}
    assert set(trades) == {
        ("RELIANCE", "closed", "long"),
        ("INFY", "closed", "long"),
        ("TCS", "closed", "short"),
        ("TCS", "open", "long"),
    }
    reliance = trades[("RELIANCE", "closed", "long")]
    assert Decimal(reliance["gross_pnl"]) == Decimal("107.50")
    assert Decimal(reliance["charges"]) == Decimal("41.50")
    assert Decimal(reliance["net_pnl"]) == Decimal("66.00")
    assert reliance["charges_source"] == "broker"
    assert reliance["holding_seconds"] == 6238
    infy = trades[("INFY", "closed", "long")]
    assert Decimal(infy["gross_pnl"]) == Decimal("10")
    assert Decimal(infy["net_pnl"]) == Decimal("10")
    short = trades[("TCS", "closed", "short")]
    assert Decimal(short["gross_pnl"]) == Decimal("40")
    assert short["charges_source"] == "estimated"
    assert Decimal("0") < Decimal(short["charges"]) < Decimal("40")
    assert Decimal(trades[("TCS", "open", "long")]["open_quantity"]) == Decimal("2")

    one = await client.get(f"/api/v1/trades/{short['id']}", headers=headers)
    assert one.status_code == 200
    assert [leg["role"] for leg in one.json()["executions"]] == ["open", "close"]

    summary = (await client.get("/api/v1/analytics/summary", headers=headers)).json()
    assert summary["trade_count"] == 3
    assert summary["win_count"] == 3
    assert summary["profit_factor"] is None
    assert "profit_factor" in summary["reasons"]
    expected_net = Decimal("66.00") + Decimal("10") + Decimal(short["net_pnl"])
    assert Decimal(summary["net_pnl"]) == expected_net

    curve = (await client.get("/api/v1/analytics/equity-curve", headers=headers)).json()["points"]
    assert [p["trade_id"] for p in curve][-1] in {t["id"] for t in trades.values()}
    assert Decimal(curve[-1]["cumulative_net_pnl"]) == expected_net
    calendar = (await client.get("/api/v1/analytics/calendar", headers=headers)).json()["days"]
    assert [d["day"] for d in calendar] == ["2026-06-05"]  # IST trading day
    assert calendar[0]["trade_count"] == 3
    by_symbol = (await client.get("/api/v1/analytics/breakdown", params={"by": "symbol"}, headers=headers)).json()
    assert {b["key"] for b in by_symbol["buckets"]} == {"NSE:RELIANCE", "NSE:INFY", "NSE:TCS"}
    only_infy = (await client.get("/api/v1/analytics/summary", params={"symbol": "INFY"}, headers=headers)).json()
    assert Decimal(only_infy["net_pnl"]) == Decimal("10")
    later = {"from": "2026-06-06T00:00:00+05:30"}
    assert (await client.get("/api/v1/analytics/summary", params=later, headers=headers)).json()["trade_count"] == 0
    unknown = await client.get("/api/v1/analytics/breakdown", params={"by": "moon"}, headers=headers)
    assert unknown.status_code == 422

    # Nothing of this is visible to another user.
    theirs = auth(other["access_token"])
    assert (await client.get("/api/v1/trades", headers=theirs)).json()["items"] == []
    assert (await client.get(f"/api/v1/trades/{short['id']}", headers=theirs)).status_code == 404
    assert (await client.get("/api/v1/analytics/summary", headers=theirs)).json()["trade_count"] == 0


async def test_delete_trade_and_execution(client: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
    headers = auth((await signup(client))["access_token"])
    other = auth((await signup(client))["access_token"])
    day = "2026-06-05T{}+05:30"
    executions = [
        fill("INFY", "buy", "5", "1500", day.format("09:30:00"), fees="0"),
        fill("INFY", "sell", "5", "1510", day.format("10:30:00"), fees="0"),
        fill("TCS", "sell", "4", "4000", day.format("09:20:00"), fees="0"),
        fill("TCS", "buy", "6", "3990", day.format("09:40:00"), fees="0"),  # a flip: closes the short, opens a long
    ]
    response = await client.post("/api/v1/executions", json={"executions": executions}, headers=headers)
    assert response.status_code == 201, response.text
    recorded = {(e["symbol"], e["side"]): e["id"] for e in response.json()["executions"]}

    async def trades() -> dict[tuple[str, str, str], dict[str, Any]]:
        listed = (await client.get("/api/v1/trades", headers=headers)).json()["items"]
        return {(t["symbol"], t["status"], t["side"]): t for t in listed}

    before = await trades()
    infy = before[("INFY", "closed", "long")]
    assert (await client.delete(f"/api/v1/trades/{infy['id']}", headers=other)).status_code == 404
    deleted = await client.delete(f"/api/v1/trades/{infy['id']}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    after = await trades()
    assert ("INFY", "closed", "long") not in after
    listed = (await client.get("/api/v1/executions", params={"symbol": "INFY"}, headers=headers)).json()["items"]
    assert listed == []
    assert (await client.get(f"/api/v1/trades/{infy['id']}", headers=headers)).status_code == 404

    # The short's closing fill also opens the long: deleting the short alone is refused.
    short = after[("TCS", "closed", "short")]
    refused = await client.delete(f"/api/v1/trades/{short['id']}", headers=headers)
    assert refused.status_code == 409 and refused.json()["error"] == "Conflict"

    # Deleting the flip fill leaves the short open: the round trips are recomputed.
    flip = recorded[("TCS", "buy")]
    assert (await client.delete(f"/api/v1/executions/{flip}", headers=other)).status_code == 404
    assert (await client.delete(f"/api/v1/executions/{flip}", headers=headers)).status_code == 204
    assert set(await trades()) == {("TCS", "open", "short")}
    assert (await client.delete(f"/api/v1/executions/{flip}", headers=headers)).status_code == 404
    summary = (await client.get("/api/v1/analytics/summary", headers=headers)).json()
    assert summary["trade_count"] == 0
