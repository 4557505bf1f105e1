"""The stored projection (round trips and daily rollups) against the truth: after a mix of writes,
out-of-order fills, deletes, an import and a reverted import, the summary read from the projection
equals the one derived from the executions, and a rebuild from scratch equals the live projection
(the operator command says so, and its checksum does notice a difference)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.harness import ROOT, ServiceProcess, auth, eventually, signup
from tests.test_staged_imports import Bus, batch, row
from tj_common.contracts import trades as contract
from tj_trades import ops, projection, repository, tradebook
from tj_trades.analytics import jsonable
from tj_trades.domain import metrics


@pytest.fixture
async def rollup_bus(services: dict[str, ServiceProcess]) -> AsyncIterator[Bus]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from tj_common.settings import ServiceSettings
    from tj_common.topics import TRADES_EVENTS

    settings = ServiceSettings()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True)
    events = AIOKafkaConsumer(
        TRADES_EVENTS.name, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await producer.start()
    await events.start()
    try:
        yield Bus(producer, events)
    finally:
        await producer.stop()
        await events.stop()


def fill(symbol: str, side: str, qty: str, price: str, at: str, fees: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"symbol": symbol, "side": side, "quantity": qty, "price": price, "executed_at": at}
    if fees is not None:
        body["fees"] = fees
    return body


async def derived_summary(
    db: async_sessionmaker[AsyncSession], user_id: uuid.UUID, account_id: uuid.UUID | None
) -> dict[str, Any]:
    """The summary as the analytics API derived it before the projection: from the executions."""
    async with db() as session:
        rows = await repository.executions_for_trades(session, user_id, account_id=account_id, symbol=None)
        accounts = await repository.account_settings(session, user_id)
        annotations = await repository.annotations_of(session, user_id)
    trades, _ = tradebook.round_trips(rows, accounts)
    closed = [c for t in trades if (c := tradebook.closed_trade(t, annotations.get(t.id))) is not None]
    result: dict[str, Any] = jsonable(metrics.compute_metrics(closed, tradebook.metrics_config(accounts, account_id)))
    return result


async def test_live_projection_equals_rebuilt_and_derived(
    client: httpx.AsyncClient, rollup_bus: Bus, db: async_sessionmaker[AsyncSession]
) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    user_id = uuid.UUID(user["user"]["id"])
    created = await client.post(
        "/api/v1/accounts", json={"name": "Main", "starting_balance": "500000"}, headers=headers
    )
    assert created.status_code == 201, created.text
    account_id = created.json()["id"]
    day = "2026-06-{:02d}T{}+05:30"
    first = [
        fill("INFY", "buy", "10", "1500", day.format(1, "09:30:00"), fees="5"),
        fill("INFY", "sell", "10", "1520", day.format(1, "10:30:00"), fees="5"),
        fill("TCS", "sell", "4", "4000", day.format(1, "09:20:00")),  # a short, flipped long
        fill("TCS", "buy", "6", "3990", day.format(1, "09:40:00")),
        fill("TCS", "sell", "2", "3980", day.format(2, "10:00:00")),
        fill("SBIN", "buy", "100", "800", day.format(2, "09:15:00"), fees="0"),
        fill("SBIN", "sell", "100", "800", day.format(2, "09:45:00"), fees="0"),  # a breakeven
        fill("RELIANCE", "buy", "5", "2950", day.format(3, "09:20:00"), fees="3"),
        fill("RELIANCE", "sell", "5", "2900", day.format(3, "14:20:00"), fees="3"),
    ]
    for body in ({"account_id": account_id, "executions": first[::-1]}, {"executions": first[:2]}):
        response = await client.post("/api/v1/executions", json=body, headers=headers)
        assert response.status_code == 201, response.text
    # An older fill arrives later: the INFY round trip of day 1 becomes a scale-in.
    late = await client.post(
        "/api/v1/executions",
        json={"account_id": account_id, "executions": [fill("INFY", "buy", "5", "1490", day.format(1, "09:10:00"))]},
        headers=headers,
    )
    assert late.status_code == 201, late.text
    late_sell = await client.post(
        "/api/v1/executions",
        json={"account_id": account_id, "executions": [fill("INFY", "sell", "5", "1480", day.format(1, "11:00:00"))]},
        headers=headers,
    )
    assert late_sell.status_code == 201

    trades = (await client.get("/api/v1/trades", params={"account_id": account_id}, headers=headers)).json()["items"]
    reliance = next(t for t in trades if t["symbol"] == "RELIANCE")
    stop = await client.patch(f"/api/v1/trades/{reliance['id']}", json={"initial_stop": "2925"}, headers=headers)
    assert stop.status_code == 200, stop.text
    sbin = next(t for t in trades if t["symbol"] == "SBIN")
    assert (await client.delete(f"/api/v1/trades/{sbin['id']}", headers=headers)).status_code == 204
    tcs_last = next(e for e in late.json()["executions"])  # any execution id works for a delete
    assert (await client.delete(f"/api/v1/executions/{tcs_last['id']}", headers=headers)).status_code == 204

    # An import committed, and another one committed then reverted.
    kept, reverted = uuid.uuid4(), uuid.uuid4()
    for import_id, rows in (
        (kept, [row(1, "h:k1:0", price="100"), row(2, "h:k2:0", side="sell", price="104", symbol="INFY")]),
        (
            reverted,
            [row(1, "h:r1:0", price="50", symbol="ITC"), row(2, "h:r2:0", side="sell", price="40", symbol="ITC")],
        ),
    ):
        rows = [{**r, "symbol": "ITC" if import_id == reverted else "LT"} for r in rows]
        staged = await rollup_bus.send(user_id, contract.STAGE_IMPORT_BATCH, batch(import_id, account_id, 0, *rows))
        assert staged.type == contract.IMPORT_BATCH_STAGED, staged.payload
        committed = await rollup_bus.send(
            user_id, contract.COMMIT_IMPORT, {"import_id": str(import_id), "account_id": account_id, "batches": 1}
        )
        assert committed.type == contract.IMPORT_COMMITTED, committed.payload
    undone = await rollup_bus.send(user_id, contract.REVERT_IMPORT, {"import_id": str(reverted)})
    assert undone.type == contract.IMPORT_REVERTED

    for account in (None, uuid.UUID(account_id)):
        params = {} if account is None else {"account_id": str(account)}
        stored = (await client.get("/api/v1/analytics/summary", params=params, headers=headers)).json()
        assert stored == await derived_summary(db, user_id, account)
    assert stored["trade_count"] >= 4 and stored["r_trade_count"] == 1 and stored["sharpe"] is not None

    async with db() as session, session.begin():
        result = await ops.rebuild_user(session, user_id, from_executions=True)
    assert result["equal"], result
    assert result["trades"] >= 5 and result["days"] >= 3
    async with db() as session, session.begin():
        rollups_only = await ops.rebuild_user(session, user_id)
    assert rollups_only["equal"] and rollups_only["rebuilt"] == result["rebuilt"], rollups_only

    # A damaged rollup row is noticed and put right by the rollups-only rebuild.
    async with db() as session, session.begin():
        await session.execute(
            text("UPDATE trades.daily_rollups SET net_pnl = net_pnl + 1, win_count = win_count + 1 WHERE user_id = :u"),
            {"u": user_id},
        )
    async with db() as session, session.begin():
        repaired = await ops.rebuild_user(session, user_id)
    assert not repaired["equal"] and repaired["rebuilt"] == result["rebuilt"], repaired

    # The checksum notices a changed row (so "equal" above means something).
    async with db() as session, session.begin():
        before = await projection.checksum(session, user_id)
        await session.execute(
            text("UPDATE trades.trade_rows SET net_pnl = net_pnl + 1 WHERE user_id = :u AND status = 'closed'"),
            {"u": user_id},
        )
        assert (await projection.checksum(session, user_id))["checksum"] != before["checksum"]
        await session.rollback()

    # The operator command, as a process.
    async def rebuilt() -> dict[str, Any] | None:
        done = subprocess.run(
            [sys.executable, "-m", "tj_trades.ops", "rebuild-rollups", "--user", str(user_id)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        line: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return line

    line = await eventually(rebuilt)
    assert line["equal"] and line["user_id"] == str(user_id) and line["live"] == result["rebuilt"]


def counter(metrics_text: str, name: str, label: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(f'{name}{{cache_key="{label}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_analytics_cache_hits_and_is_invalidated_by_writes(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    trades_url = services["trades"].url
    day = "2026-06-05T{}+05:30"

    async def record(*fills: dict[str, Any]) -> None:
        response = await client.post("/api/v1/executions", json={"executions": list(fills)}, headers=headers)
        assert response.status_code == 201, response.text

    async def counts() -> tuple[float, float]:
        text_ = (await client.get(f"{trades_url}/metrics")).text
        return (
            counter(text_, "cache_hits_total", "analytics_summary"),
            counter(text_, "cache_misses_total", "analytics_summary"),
        )

    async def summary() -> dict[str, Any]:
        response = await client.get(f"{trades_url}/internal/analytics/summary", params={"user_id": user["user"]["id"]})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    await record(fill("INFY", "buy", "5", "1500", day.format("09:30:00"), fees="0"))
    await record(fill("INFY", "sell", "5", "1510", day.format("10:30:00"), fees="0"))
    hits, misses = await counts()
    first = await summary()
    assert first["trade_count"] == 1
    assert await counts() == (hits, misses + 1)
    assert await summary() == first
    assert await counts() == (hits + 1, misses + 1)

    # A write's answer comes after the user's version moved: the next read is fresh.
    await record(
        fill("TCS", "buy", "1", "4000", day.format("11:00:00"), fees="0"),
        fill("TCS", "sell", "1", "3990", day.format("11:30:00"), fees="0"),
    )
    fresh = await summary()
    assert fresh["trade_count"] == 2 and fresh["loss_count"] == 1
    assert await counts() == (hits + 1, misses + 2)
