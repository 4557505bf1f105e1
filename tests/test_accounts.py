"""Accounts through commands, and the typed rejections of RecordExecutions, against the real stack
through the gateway."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from tests.harness import ServiceProcess, auth, execution, signup


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/api/v1/accounts", json=body, headers=headers)


async def record(
    client: httpx.AsyncClient, headers: dict[str, str], account_id: str | None, *fills: dict[str, Any]
) -> httpx.Response:
    body: dict[str, Any] = {"executions": list(fills)}
    if account_id is not None:
        body["account_id"] = account_id
    return await client.post("/api/v1/executions", json=body, headers=headers)


async def stored(client: httpx.AsyncClient, headers: dict[str, str], account_id: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/executions", params={"account_id": account_id}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def fill(broker_trade_id: str | None = None, **changes: Any) -> dict[str, Any]:
    body = execution()
    if broker_trade_id is not None:
        body["broker_trade_id"] = broker_trade_id
    return {**body, **changes}


async def test_create_list_update_delete(client: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
    headers = auth((await signup(client))["access_token"])
    created = await create(client, headers, name="Zerodha", broker="zerodha", starting_balance="100000")
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["name"] == "Zerodha"
    assert account["base_currency"] == "INR"
    assert account["timezone"] == "Asia/Kolkata"
    assert account["long_only"] is False
    assert account["brokerage_plan"] == "zerodha"
    assert account["starting_balance"] == "100000.00000000"

    us = await create(
        client, headers, name="IBKR", base_currency="usd", timezone="America/New_York", brokerage_plan="zero"
    )
    assert us.status_code == 201, us.text
    assert us.json()["base_currency"] == "USD"

    listed = (await client.get("/api/v1/accounts", headers=headers)).json()["items"]
    assert [a["name"] for a in listed] == ["Zerodha", "IBKR"]

    patched = await client.patch(
        f"/api/v1/accounts/{account['id']}",
        json={"name": "Zerodha main", "long_only": True, "broker": None},
        headers={**headers, "Idempotency-Key": "rename-1"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Zerodha main"
    assert patched.json()["long_only"] is True
    assert patched.json()["broker"] is None
    assert patched.json()["starting_balance"] == "100000.00000000"  # left out: unchanged

    deleted = await client.delete(f"/api/v1/accounts/{us.json()['id']}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    listed = (await client.get("/api/v1/accounts", headers=headers)).json()["items"]
    assert [a["name"] for a in listed] == ["Zerodha main"]
    again = await client.delete(f"/api/v1/accounts/{us.json()['id']}", headers=headers)
    assert again.status_code == 404


async def test_account_conflicts_and_bad_fields(client: httpx.AsyncClient) -> None:
    headers = auth((await signup(client))["access_token"])
    first = (await create(client, headers, name="Main")).json()
    duplicate = await create(client, headers, name="Main")
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["error"] == "Conflict"
    other = (await create(client, headers, name="Other")).json()
    renamed = await client.patch(f"/api/v1/accounts/{other['id']}", json={"name": "Main"}, headers=headers)
    assert renamed.status_code == 409

    for body in ({"name": "X", "timezone": "Mars/Olympus"}, {"name": "X", "base_currency": "RUPEES"}):
        response = await create(client, headers, **body)
        assert response.status_code == 422, response.text
    plan = await create(client, headers, name="X", brokerage_plan="no-such-plan")
    assert plan.status_code == 422, plan.text
    assert plan.json()["error"] == "ValidationError"
    assert "zerodha" in plan.json()["detail"]

    # An account with executions cannot be deleted.
    assert (await record(client, headers, first["id"], fill())).status_code == 201
    refused = await client.delete(f"/api/v1/accounts/{first['id']}", headers=headers)
    assert refused.status_code == 409
    assert "executions" in refused.json()["detail"]

    # The default account (executions without account_id) keeps its name and cannot be deleted.
    assert (await record(client, headers, None, fill())).status_code == 201
    default = next(
        a for a in (await client.get("/api/v1/accounts", headers=headers)).json()["items"] if a["name"] == "Default"
    )
    assert (
        await client.patch(f"/api/v1/accounts/{default['id']}", json={"name": "Z"}, headers=headers)
    ).status_code == 409
    assert (await client.delete(f"/api/v1/accounts/{default['id']}", headers=headers)).status_code == 409
    assert (await record(client, headers, None, fill())).status_code == 201


async def test_accounts_are_private(client: httpx.AsyncClient) -> None:
    alice, bob = auth((await signup(client))["access_token"]), auth((await signup(client))["access_token"])
    account = (await create(client, alice, name="Alice's")).json()
    assert (await client.get("/api/v1/accounts", headers=bob)).json()["items"] == []
    patched = await client.patch(f"/api/v1/accounts/{account['id']}", json={"name": "Mine"}, headers=bob)
    assert patched.status_code == 404
    assert (await client.delete(f"/api/v1/accounts/{account['id']}", headers=bob)).status_code == 404
    written = await record(client, bob, account["id"], fill())
    assert written.status_code == 404
    assert written.json()["error"] == "NotFound"
    assert await stored(client, alice, account["id"]) == []
    assert [a["name"] for a in (await client.get("/api/v1/accounts", headers=alice)).json()["items"]] == ["Alice's"]
    # Bob may use the same name in his own accounts.
    assert (await create(client, bob, name="Alice's")).status_code == 201


async def test_rejected_executions_store_nothing(client: httpx.AsyncClient) -> None:
    headers = auth((await signup(client))["access_token"])
    inr = (await create(client, headers, name="INR")).json()["id"]
    usd = (await create(client, headers, name="USD", base_currency="USD")).json()["id"]
    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    cases = [
        (inr, [fill(), fill(executed_at=later)], 422, "FutureExecution"),
        (usd, [fill(currency="INR")], 422, "CurrencyMismatch"),
        (inr, [fill(currency="USD")], 422, "CurrencyMismatch"),
        (inr, [fill("T-1"), fill("T-1")], 409, "DuplicateBrokerTradeId"),
    ]
    for account_id, fills, status, error in cases:
        response = await record(client, headers, account_id, *fills)
        assert response.status_code == status, response.text
        assert response.json()["error"] == error
    assert await stored(client, headers, inr) == []
    assert await stored(client, headers, usd) == []

    # Within the clock tolerance; a fill without a currency takes the account's.
    ok = await record(client, headers, usd, fill("T-1", executed_at=soon))
    assert ok.status_code == 201, ok.text
    assert ok.json()["executions"][0]["currency"] == "USD"
    # The same broker trade id again in that account: refused whole, even next to a new one.
    repeat = await record(client, headers, usd, fill("T-2", currency="USD"), fill("T-1", currency="USD"))
    assert repeat.status_code == 409
    assert repeat.json()["error"] == "DuplicateBrokerTradeId"
    assert len(await stored(client, headers, usd)) == 1
    # Another account may hold the same broker trade id.
    assert (await record(client, headers, inr, fill("T-1"))).status_code == 201


async def test_a_rejected_command_does_not_affect_its_batch(client: httpx.AsyncClient) -> None:
    headers = auth((await signup(client))["access_token"])
    account = (await create(client, headers, name="Batch")).json()["id"]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    bodies = [[fill(f"B-{i}")] for i in range(8)] + [[fill("B-0")], [fill(executed_at=later)]]
    responses = await asyncio.gather(*(record(client, headers, account, *fills) for fills in bodies))
    statuses = sorted(r.status_code for r in responses)
    # B-0 twice: exactly one of the two wins, whichever was applied first.
    assert statuses == [201] * 8 + [409, 422], [r.text for r in responses]
    assert len(await stored(client, headers, account)) == 8


async def test_long_only_account_naked_sell_is_unmatched(client: httpx.AsyncClient) -> None:
    headers = auth((await signup(client))["access_token"])
    long_only = (await create(client, headers, name="Cash", long_only=True)).json()["id"]
    margin = (await create(client, headers, name="Margin")).json()["id"]
    for account_id in (long_only, margin):
        response = await record(
            client, headers, account_id, fill(side="sell", symbol="INFY", broker_trade_id=str(uuid.uuid4()))
        )
        assert response.status_code == 201, response.text
    trades = (await client.get("/api/v1/trades", headers=headers)).json()["items"]
    by_account = {t["account_id"]: t for t in trades}
    assert by_account[long_only]["status"] == "unmatched"
    assert by_account[margin]["status"] == "open"
    assert by_account[margin]["side"] == "short"


async def test_account_plan_and_balance_drive_charges_and_analytics(client: httpx.AsyncClient) -> None:
    """The same fills cost less on a zero-brokerage plan (statutory charges remain), and a
    starting balance gives drawdown in % and Sharpe/Sortino their equity."""
    user = await signup(client)
    headers = auth(user["access_token"])
    zero = (await create(client, headers, name="Discount", brokerage_plan="zero", starting_balance="100000")).json()
    day = "2026-06-05T{}+05:30"
    fills = [
        {"symbol": "TCS", "side": "buy", "quantity": "10", "price": "4000", "executed_at": day.format("09:20:00")},
        {"symbol": "TCS", "side": "sell", "quantity": "10", "price": "3990", "executed_at": day.format("10:20:00")},
        {"symbol": "INFY", "side": "buy", "quantity": "10", "price": "1500", "executed_at": day.format("11:00:00")},
        {"symbol": "INFY", "side": "sell", "quantity": "10", "price": "1520", "executed_at": day.format("12:00:00")},
    ]
    for account_id in (None, zero["id"]):
        body = {"executions": fills, **({"account_id": account_id} if account_id else {})}
        assert (await client.post("/api/v1/executions", json=body, headers=headers)).status_code == 201
    trades = (await client.get("/api/v1/trades", params={"symbol": "TCS"}, headers=headers)).json()["items"]
    by_account = {t["account_id"]: Decimal(t["charges"]) for t in trades}
    assert len(by_account) == 2
    zerodha_charges = next(c for a, c in by_account.items() if a != zero["id"])
    assert Decimal(0) < by_account[zero["id"]] < zerodha_charges

    with_balance = (
        await client.get("/api/v1/analytics/summary", params={"account_id": zero["id"]}, headers=headers)
    ).json()
    assert with_balance["max_drawdown_ratio"] is not None
    assert Decimal(with_balance["max_drawdown_ratio"]) < 0
    everything = (await client.get("/api/v1/analytics/summary", headers=headers)).json()
    assert everything["max_drawdown_ratio"] is None  # the Default account has no starting balance
    assert "max_drawdown_ratio" in everything["reasons"]
