"""Staged imports against the real stack: the imports service's commands published to Kafka, the
trades service's answers read from trades.events, visibility checked through the gateway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.harness import ServiceProcess, auth, eventually, signup
from tj_common.contracts import trades as contract
from tj_common.envelope import Envelope
from tj_common.settings import ServiceSettings
from tj_common.topics import TRADES_COMMANDS, TRADES_EVENTS


class Bus:
    """Publishes commands as the imports service does and collects the answers by command id."""

    def __init__(self, producer: AIOKafkaProducer, events: AIOKafkaConsumer) -> None:
        self.producer = producer
        self.events = events
        self.answers: dict[uuid.UUID, Envelope] = {}

    async def send(self, user_id: uuid.UUID, type_: str, payload: dict[str, Any]) -> Envelope:
        command = Envelope(type=type_, user_id=user_id, payload=payload)
        await self.producer.send_and_wait(TRADES_COMMANDS.name, command.encode(), key=command.key())
        return await self.answer(command.id)

    async def answer(self, command_id: uuid.UUID) -> Envelope:
        async def arrived() -> Envelope | None:
            batch = await self.events.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    event = Envelope.decode(record.value)
                    if event.causation_id is not None:
                        self.answers[event.causation_id] = event
            return self.answers.get(command_id)

        found: Envelope = await eventually(arrived)
        return found


@pytest.fixture
async def bus(services: dict[str, ServiceProcess]) -> AsyncIterator[Bus]:
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


def row(line: int, fingerprint: str, side: str = "buy", price: str = "100", **changes: Any) -> dict[str, Any]:
    body = {
        "symbol": "INFY",
        "side": side,
        "quantity": "10",
        "price": price,
        "executed_at": f"2026-06-05T09:{15 + line:02d}:00+05:30",
        "fingerprint": fingerprint,
        "line": line,
        "source_timezone": "Asia/Kolkata",
    }
    return {**body, **changes}


def batch(import_id: uuid.UUID, account_id: str, batch_no: int, *rows: dict[str, Any]) -> dict[str, Any]:
    return {"import_id": str(import_id), "account_id": account_id, "batch_no": batch_no, "executions": list(rows)}


async def visible(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/executions", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def import_groups(db: async_sessionmaker[AsyncSession], import_id: uuid.UUID) -> list[tuple[str, date]]:
    """The projection groups the trades service holds for an import until its commit marks them."""
    async with db() as session:
        rows = await session.execute(
            text("SELECT instrument, day FROM trades.import_groups WHERE import_id = :i ORDER BY 1, 2"),
            {"i": import_id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_stage_commit_discard_revert(
    client: httpx.AsyncClient, bus: Bus, db: async_sessionmaker[AsyncSession]
) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    user_id = uuid.UUID(user["user"]["id"])
    created = await client.post("/api/v1/accounts", json={"name": "Zerodha"}, headers=headers)
    assert created.status_code == 201, created.text
    account_id = created.json()["id"]
    first = uuid.uuid4()

    staged = await bus.send(
        user_id,
        contract.STAGE_IMPORT_BATCH,
        batch(
            first,
            account_id,
            0,
            row(1, "t:A1", broker_trade_id="A1"),
            row(2, "h:x:0", currency="USD"),  # not the account's currency
            row(3, "h:y:0", quantity="-1"),  # refused by the contract
            row(4, "h:z:0", side="sell", price="110"),
            row(5, "h:z:0", side="sell", price="110"),  # the same fingerprint again
        ),
    )
    assert staged.type == contract.IMPORT_BATCH_STAGED, staged.payload
    result = contract.ImportBatchStaged.model_validate(staged.payload)
    assert (result.staged, result.duplicates) == (2, 1)
    assert sorted(r.line for r in result.rejected) == [2, 3]
    assert "currency USD" in next(r.reason for r in result.rejected if r.line == 2)
    assert "quantity" in next(r.reason for r in result.rejected if r.line == 3)

    again = await bus.send(user_id, contract.STAGE_IMPORT_BATCH, batch(first, account_id, 0, row(9, "h:new:0")))
    assert contract.ImportBatchStaged.model_validate(again.payload).staged == 2  # batch 0 is already staged

    # Staged rows are invisible to every query and to analytics.
    assert await visible(client, headers) == []
    assert (await client.get("/api/v1/trades", headers=headers)).json()["items"] == []
    assert (await client.get("/api/v1/analytics/summary", headers=headers)).json()["trade_count"] == 0

    early = await bus.send(
        user_id, contract.COMMIT_IMPORT, {"import_id": str(first), "account_id": account_id, "batches": 2}
    )
    assert early.type == contract.COMMAND_REJECTED
    assert early.payload["error"] == "Conflict" and early.payload["status"] == 409

    second_batch = await bus.send(
        user_id,
        contract.STAGE_IMPORT_BATCH,
        batch(first, account_id, 1, row(6, "t:A1", broker_trade_id="A1"), row(7, "h:w:0", broker_trade_id="A2")),
    )
    assert (second_batch.payload["staged"], second_batch.payload["duplicates"]) == (1, 1)
    assert await import_groups(db, first) == [("NSE:INFY", date(2026, 6, 5))]

    committed = await bus.send(
        user_id, contract.COMMIT_IMPORT, {"import_id": str(first), "account_id": account_id, "batches": 2}
    )
    assert committed.type == contract.IMPORT_COMMITTED, committed.payload
    assert (committed.payload["accepted"], committed.payload["duplicates"]) == (3, 2)
    assert await import_groups(db, first) == []  # marked, then forgotten
    assert len(await visible(client, headers)) == 3
    trades = (await client.get("/api/v1/trades", headers=headers)).json()["items"]
    assert [(t["status"], t["net_pnl"] is not None) for t in trades if t["status"] == "closed"] == [("closed", True)]

    # A second, overlapping file: only its new row is staged; discarding it leaves the first.
    second = uuid.uuid4()
    overlap = await bus.send(
        user_id,
        contract.STAGE_IMPORT_BATCH,
        batch(second, account_id, 0, row(1, "t:A1", broker_trade_id="A1"), row(2, "h:z:0"), row(3, "h:v:0")),
    )
    assert (overlap.payload["staged"], overlap.payload["duplicates"]) == (1, 2)
    assert await import_groups(db, second) == [("NSE:INFY", date(2026, 6, 5))]
    discarded = await bus.send(user_id, contract.DISCARD_IMPORT, {"import_id": str(second)})
    assert discarded.type == contract.IMPORT_DISCARDED and discarded.payload["removed"] == 1
    assert await import_groups(db, second) == []
    assert len(await visible(client, headers)) == 3
    late = await bus.send(
        user_id, contract.COMMIT_IMPORT, {"import_id": str(second), "account_id": account_id, "batches": 1}
    )
    assert late.type == contract.COMMAND_REJECTED and late.payload["error"] == "Conflict"

    # Another user can neither stage into this account nor revert this import.
    other = await signup(client)
    other_id = uuid.UUID(other["user"]["id"])
    foreign = await bus.send(other_id, contract.STAGE_IMPORT_BATCH, batch(uuid.uuid4(), account_id, 0, row(1, "h:q:0")))
    assert foreign.type == contract.COMMAND_REJECTED and foreign.payload["error"] == "NotFound"
    foreign_revert = await bus.send(other_id, contract.REVERT_IMPORT, {"import_id": str(first)})
    assert foreign_revert.type == contract.COMMAND_REJECTED and foreign_revert.payload["error"] == "NotFound"

    # A direct recording of a broker trade id that an import holds is refused as a duplicate.
    fill = {k: v for k, v in row(1, "x").items() if k not in ("fingerprint", "line", "source_timezone")}
    direct = await client.post(
        "/api/v1/executions",
        json={"account_id": account_id, "executions": [{**fill, "broker_trade_id": "A2"}]},
        headers=headers,
    )
    assert direct.status_code == 409, direct.text
    assert direct.json()["error"] == "DuplicateBrokerTradeId"

    reverted = await bus.send(user_id, contract.REVERT_IMPORT, {"import_id": str(first)})
    assert reverted.type == contract.IMPORT_REVERTED and reverted.payload["removed"] == 3
    assert await visible(client, headers) == []
    repeat = await bus.send(user_id, contract.REVERT_IMPORT, {"import_id": str(first)})
    assert repeat.type == contract.IMPORT_REVERTED and repeat.payload["removed"] == 3

    # With every import reverted or discarded the account is empty: it can be deleted.
    deleted = await client.delete(f"/api/v1/accounts/{account_id}", headers=headers)
    assert deleted.status_code == 204, deleted.text
