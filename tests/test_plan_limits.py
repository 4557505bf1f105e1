"""Plan limits against the real stack (issue 4 §6): a write that would take a user past a limit of
their plan is 402 ``PlanLimitReached`` naming the limit, the plan and the figures, and stores
nothing; a rejected or repeated write is never counted; a paid plan (billing's
``EntitlementsChanged``) lifts the limit and a downgrade applies it again. ``history_days`` is a
window on lists and analytics, not a refusal.

Fills are dated a few days back: the plans here keep 90 days of history."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests import harness
from tests.harness import auth, eventually, signup
from tests.test_apikeys import on_plan, publish_plan
from tests.test_imports import upload, zerodha_file, zerodha_row
from tj_common.contracts.billing import Entitlements

MIB = 1024 * 1024
IST = timedelta(hours=5, minutes=30)


def days_ago(days: int, hour: int = 10) -> str:
    day = (datetime.now(UTC) + IST).date() - timedelta(days=days)
    return f"{day.isoformat()}T{hour:02d}:15:00+05:30"


def execution(days: int = 3, **fields: Any) -> dict[str, Any]:
    return {**harness.execution(**fields), "executed_at": days_ago(days)}


MANUAL_TRADE = {
    "symbol": "INFY",
    "side": "long",
    "quantity": "15",
    "entry_price": "1881.40",
    "entered_at": days_ago(2, 10),
    "exit_price": "1894.10",
    "exited_at": days_ago(2, 14),
}


async def on(client: httpx.AsyncClient, user: dict[str, Any], version: int, plan: str, **limits: Any) -> None:
    """Billing's EntitlementsChanged for the user, and the gateway has it."""
    await publish_plan(user["user"]["id"], version, plan=plan, limits=Entitlements(**limits))
    await on_plan(client, user, plan)


def refused(response: httpx.Response, limit: str, plan: str, used: int, allowed: int, requested: int) -> None:
    assert response.status_code == 402, response.text
    body = response.json()
    assert body["error"] == "PlanLimitReached", body
    assert body["request_id"] == response.headers["x-request-id"]
    assert limit in body["detail"] and "upgrade" in body["detail"]
    figures = body["limit"]
    assert (figures["name"], figures["plan"]) == (limit, plan), figures
    assert (figures["used"], figures["allowed"], figures["requested"]) == (used, allowed, requested), figures


async def created(client: httpx.AsyncClient, response: httpx.Response, headers: dict[str, str]) -> dict[str, Any]:
    """A write's result, once trades has applied it (201 at once, or 202 and then its status)."""
    assert response.status_code in (201, 202), response.text
    if response.status_code == 201:
        body: dict[str, Any] = response.json()
        return body

    async def done() -> dict[str, Any] | None:
        status = (await client.get(response.headers["location"], headers=headers)).json()
        return status if status["status"] == "completed" else None

    result: dict[str, Any] = await eventually(done)
    return result


async def account_names(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    return sorted(a["name"] for a in (await client.get("/api/v1/accounts", headers=headers)).json()["items"])


async def execution_count(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return len((await client.get("/api/v1/executions", headers=headers, params={"limit": 500})).json()["items"])


async def add_account(client: httpx.AsyncClient, headers: dict[str, str], name: str, key: str | None = None) -> Any:
    extra = {"Idempotency-Key": key} if key else {}
    return await client.post("/api/v1/accounts", json={"name": name}, headers={**headers, **extra})


async def test_max_accounts(client: httpx.AsyncClient) -> None:
    user = await signup(client, plan=None)  # free: one account
    headers = auth(user["access_token"])
    first = await add_account(client, headers, "Zerodha", key="first-account")
    await created(client, first, headers)
    await eventually(lambda: _has(client, headers, "Zerodha"))

    refused(await add_account(client, headers, "Upstox"), "max_accounts", "free", 1, 1, 1)
    assert await account_names(client, headers) == ["Zerodha"]
    # A repeat of the first creation is answered as the first was, not refused.
    again = await add_account(client, headers, "Zerodha", key="first-account")
    assert again.status_code in (201, 202), again.text
    # Executions sent without an account go to the implicit Default account: not counted.
    recorded = await client.post("/api/v1/executions", json={"executions": [execution()]}, headers=headers)
    await created(client, recorded, headers)
    assert await account_names(client, headers) == ["Default", "Zerodha"]
    refused(await add_account(client, headers, "Upstox"), "max_accounts", "free", 1, 1, 1)

    await on(client, user, 1, "pro_monthly", max_accounts=5)
    await created(client, await add_account(client, headers, "Upstox"), headers)
    await eventually(lambda: _has(client, headers, "Upstox"))

    await on(client, user, 2, "free")  # the subscription ended
    refused(await add_account(client, headers, "Angel One"), "max_accounts", "free", 2, 1, 1)
    assert await account_names(client, headers) == ["Default", "Upstox", "Zerodha"]


async def _has(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> bool:
    return name in await account_names(client, headers)


async def test_executions_per_month(client: httpx.AsyncClient) -> None:
    user = await signup(client, plan=None)
    headers = auth(user["access_token"])
    await on(client, user, 1, "basic_monthly", executions_per_month=6)

    def batch(count: int, **extra: Any) -> dict[str, Any]:
        return {"executions": [execution(quantity=str(i + 1)) for i in range(count)], **extra}

    first = await client.post("/api/v1/executions", json=batch(3), headers={**headers, "Idempotency-Key": "first"})
    await created(client, first, headers)
    # A command trades rejects stores nothing, so it counts for nothing.
    unknown = await client.post("/api/v1/executions", json=batch(2, account_id=str(uuid.uuid4())), headers=headers)
    assert unknown.status_code == 404, unknown.text
    await created(client, await client.post("/api/v1/executions", json=batch(2), headers=headers), headers)
    assert await execution_count(client, headers) == 5

    # The last one left: of two concurrent writes, exactly one gets it (the other waits for the
    # user's lock, then counts what the first recorded).
    racing = await asyncio.gather(
        *(client.post("/api/v1/executions", json=batch(1), headers=headers) for _ in range(2))
    )
    assert sorted(r.status_code for r in racing) in ([201, 402], [202, 402]), [r.text for r in racing]
    refused(next(r for r in racing if r.status_code == 402), "executions_per_month", "basic_monthly", 6, 6, 1)
    assert await eventually(lambda: _count_is(client, headers, 6))

    refused(
        await client.post("/api/v1/executions", json=batch(1), headers=headers),
        "executions_per_month",
        "basic_monthly",
        6,
        6,
        1,
    )
    # A manual round trip is two executions (entry and exit).
    manual = await client.post("/api/v1/trades", json=MANUAL_TRADE, headers=headers)
    refused(manual, "executions_per_month", "basic_monthly", 6, 6, 2)
    # A repeat under the first request's Idempotency-Key is answered, and adds nothing.
    again = await client.post("/api/v1/executions", json=batch(3), headers={**headers, "Idempotency-Key": "first"})
    assert again.status_code in (201, 202), again.text
    assert await execution_count(client, headers) == 6

    await on(client, user, 2, "pro_monthly", executions_per_month=None)
    trade = await client.post("/api/v1/trades", json=MANUAL_TRADE, headers=headers)
    assert trade.status_code in (201, 202), trade.text
    assert await eventually(lambda: _count_is(client, headers, 8))

    await on(client, user, 3, "basic_monthly", executions_per_month=6)  # downgraded
    refused(
        await client.post("/api/v1/executions", json=batch(1), headers=headers),
        "executions_per_month",
        "basic_monthly",
        6,  # counted up to the limit
        6,
        1,
    )
    assert await execution_count(client, headers) == 8


async def _count_is(client: httpx.AsyncClient, headers: dict[str, str], count: int) -> bool:
    return await execution_count(client, headers) == count


async def test_an_import_is_refused_once_the_month_is_used_up(client: httpx.AsyncClient) -> None:
    user = await signup(client, plan=None)
    headers = auth(user["access_token"])
    await on(client, user, 1, "basic_monthly", executions_per_month=2)
    account = await created(client, await add_account(client, headers, "Zerodha"), headers)
    account_id = account.get("id") or (await client.get("/api/v1/accounts", headers=headers)).json()["items"][0]["id"]
    body = {"account_id": account_id, "executions": [execution(), execution(side="sell")]}
    await created(client, await client.post("/api/v1/executions", json=body, headers=headers), headers)

    content = zerodha_file([zerodha_row(1), zerodha_row(2, side="sell")])
    refused(await upload(client, headers, account_id, content), "executions_per_month", "basic_monthly", 2, 2, 1)
    assert (await client.get("/api/v1/imports", headers=headers)).json()["items"] == []

    await on(client, user, 2, "pro_monthly", executions_per_month=10000)
    accepted = await upload(client, headers, account_id, content)
    assert accepted.status_code == 202, accepted.text


async def test_attachment_storage(client: httpx.AsyncClient) -> None:
    user = await signup(client, plan=None)  # free: no attachment storage
    headers = auth(user["access_token"])
    trade = await client.post("/api/v1/trades", json=MANUAL_TRADE, headers=headers)
    assert trade.status_code == 201, trade.text
    trade_id = trade.json()["id"]
    url = f"/api/v1/trades/{trade_id}/attachments"

    def screenshot(size: int) -> dict[str, Any]:
        return {"filename": "INFY-entry.png", "content_type": "image/png", "size": size}

    free = await client.post(url, json=screenshot(1000), headers=headers)
    refused(free, "attachment_storage_mb", "free", 0, 0, 1000)
    assert "no attachment storage" in free.json()["detail"]

    await on(client, user, 1, "pro_monthly", attachment_storage_mb=1)
    first = await client.post(url, json=screenshot(600_000), headers=headers)
    assert first.status_code == 201, first.text
    # Pending (not uploaded yet) counts at its declared size.
    refused(
        await client.post(url, json=screenshot(600_000), headers=headers),
        "attachment_storage_mb",
        "pro_monthly",
        600_000,
        MIB,
        600_000,
    )
    stored = (await client.get(f"/api/v1/trades/{trade_id}", headers=headers)).json()["attachments"]
    assert [a["size"] for a in stored] == [600_000]
    # Removing one frees its share.
    removed = await client.delete(f"{url}/{first.json()['attachment']['id']}", headers=headers)
    assert removed.status_code in (202, 204), removed.text  # 202: trades slower than the deadline

    async def gone() -> bool:
        return (await client.get(f"/api/v1/trades/{trade_id}", headers=headers)).json()["attachments"] == []

    await eventually(gone)
    assert (await client.post(url, json=screenshot(600_000), headers=headers)).status_code == 201

    await on(client, user, 2, "free")
    downgraded = await client.post(url, json=screenshot(1), headers=headers)
    refused(downgraded, "attachment_storage_mb", "free", 600_000, 0, 1)


async def test_history_days_is_a_window_on_lists_and_analytics(client: httpx.AsyncClient) -> None:
    user = await signup(client, plan=None)  # free: 90 days
    headers = auth(user["access_token"])
    old = [execution(200, symbol="TCS"), execution(200, symbol="TCS", side="sell", price="2990.00")]
    recent = [execution(5), execution(5, side="sell", price="2990.00")]
    await created(
        client, await client.post("/api/v1/executions", json={"executions": old + recent}, headers=headers), headers
    )

    async def seen() -> tuple[list[str], list[str], int]:
        executions = (await client.get("/api/v1/executions", headers=headers)).json()["items"]
        trades = (await client.get("/api/v1/trades", headers=headers)).json()["items"]
        summary = (await client.get("/api/v1/analytics/summary", headers=headers)).json()
        return (
            sorted({e["symbol"] for e in executions}),
            sorted(t["symbol"] for t in trades),
            summary["trade_count"],
        )

    assert await seen() == (["RELIANCE"], ["RELIANCE"], 1)
    # An explicit older "from" is moved up to the window too.
    since = {"from": "2020-01-01T00:00:00Z"}
    assert len((await client.get("/api/v1/trades", params=since, headers=headers)).json()["items"]) == 1

    await on(client, user, 1, "elite_monthly", history_days=None)
    assert await seen() == (["RELIANCE", "TCS"], ["RELIANCE", "TCS"], 2)  # the cached answers went with the plan
    await on(client, user, 2, "free")
    assert await seen() == (["RELIANCE"], ["RELIANCE"], 1)
