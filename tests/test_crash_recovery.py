"""`kill -9` of the trades service while 1,000 commands are in flight, then a restart: every
command the gateway accepted is stored exactly once."""

from __future__ import annotations

import asyncio
import signal

import httpx
from sqlalchemy import text

from tests.harness import ServiceProcess, auth, eventually, execution, signup
from tj_common.db import make_engine
from tj_trades.settings import Settings as TradesSettings

COMMANDS = 1000
KILL_AFTER = 300


async def test_kill_9_while_commands_are_in_flight(services: dict[str, ServiceProcess]) -> None:
    trades = services["trades"]
    async with httpx.AsyncClient(
        base_url=services["gateway"].url, timeout=60.0, limits=httpx.Limits(max_connections=100)
    ) as client:
        users = [await signup(client) for _ in range(8)]
        user_ids = [u["user"]["id"] for u in users]
        gate = asyncio.Semaphore(100)
        done = 0
        killed = asyncio.Event()

        async def send(i: int) -> httpx.Response:
            nonlocal done
            user = users[i % len(users)]
            async with gate:
                response = await client.post(
                    "/api/v1/executions",
                    json={"executions": [execution(quantity=str(i + 1))]},
                    headers=auth(user["access_token"], **{"Idempotency-Key": f"crash-{i}"}),
                )
            done += 1
            return response

        async def killer() -> None:
            while done < KILL_AFTER:
                await asyncio.sleep(0.01)
            trades.kill(signal.SIGKILL)
            killed.set()
            await asyncio.sleep(0.5)
            trades.start()

        kill_task = asyncio.create_task(killer())
        responses = await asyncio.gather(*(send(i) for i in range(COMMANDS)))
        await kill_task
        assert killed.is_set()
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {201, 202}, {s: statuses.count(s) for s in set(statuses)}
        assert statuses.count(202) > 0, "the kill should have left some commands unconfirmed"
        trades.wait_healthy()

    engine = make_engine(TradesSettings())
    try:

        async def all_stored() -> tuple[int, int] | None:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT count(*), count(DISTINCT command_id) FROM trades.executions "
                            "WHERE user_id = ANY(CAST(:users AS uuid[]))"
                        ),
                        {"users": user_ids},
                    )
                ).one()
            return (row[0], row[1]) if row[0] >= COMMANDS else None

        total, distinct_commands = await eventually(all_stored, timeout=120, interval=0.5)
        assert total == COMMANDS, f"{total} executions for {COMMANDS} commands"
        assert distinct_commands == COMMANDS
        async with engine.connect() as conn:
            quantities = (
                await conn.execute(
                    text(
                        "SELECT count(DISTINCT quantity) FROM trades.executions "
                        "WHERE user_id = ANY(CAST(:users AS uuid[]))"
                    ),
                    {"users": user_ids},
                )
            ).scalar_one()
        assert quantities == COMMANDS  # each command's own fill, none lost, none twice
    finally:
        await engine.dispose()
    # Every accepted command now reports completed through its status URL.
    async with httpx.AsyncClient(base_url=services["gateway"].url, timeout=30.0) as client:
        accepted = [(i, r) for i, r in enumerate(responses) if r.status_code == 202]
        for i, response in accepted[:50]:
            user = users[i % len(users)]
            status = await client.get(response.json()["status_url"], headers=auth(user["access_token"]))
            assert status.json()["status"] == "completed", status.text


async def test_the_same_command_twice_in_one_batch_is_applied_once(services: dict[str, ServiceProcess]) -> None:
    """A send that timed out for the producer but landed, and its retry: the same command id twice
    on the topic. Published while trades is down, both come back in one fetch and one batch; the
    execution is stored once (the batch's processed-ids insert returns the id once)."""
    from aiokafka import AIOKafkaProducer

    from tj_common.contracts import trades as contract
    from tj_common.envelope import Envelope
    from tj_common.settings import ServiceSettings
    from tj_common.topics import TRADES_COMMANDS

    trades = services["trades"]
    async with httpx.AsyncClient(base_url=services["gateway"].url, timeout=30.0) as client:
        user = await signup(client)
    user_id = user["user"]["id"]
    command = Envelope(
        type=contract.RECORD_EXECUTIONS, user_id=user_id, payload={"executions": [execution(quantity="7")]}
    )
    trades.kill(signal.SIGKILL)
    producer = AIOKafkaProducer(bootstrap_servers=ServiceSettings().kafka_bootstrap_servers)
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(TRADES_COMMANDS.name, command.encode(), key=command.key())
    finally:
        await producer.stop()
        trades.start()
    trades.wait_healthy()

    engine = make_engine(TradesSettings())
    try:

        async def applied() -> int | None:
            async with engine.connect() as conn:
                seen = (
                    await conn.execute(
                        text("SELECT count(*) FROM trades.processed_messages WHERE message_id = :m"),
                        {"m": command.id},
                    )
                ).scalar_one()
                if not seen:
                    return None
                stored: int = (
                    await conn.execute(
                        text("SELECT count(*) FROM trades.executions WHERE command_id = :m"), {"m": command.id}
                    )
                ).scalar_one()
                return stored

        assert await eventually(applied, timeout=60, interval=0.3) == 1
    finally:
        await engine.dispose()
