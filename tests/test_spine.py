"""The command → event spine against the real stack: HTTP → Kafka → trades → PostgreSQL →
outbox → event → the gateway's 201, with every service a separate process."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.harness import ROOT, ServiceProcess, auth, eventually, execution, free_port, signup
from tj_common.deadletters import list_dead_letters, redrive
from tj_common.envelope import Envelope
from tj_common.settings import ServiceSettings
from tj_common.topics import TRADES_COMMANDS
from tj_gateway.commands import command_owner_key


async def test_health_of_every_service(services: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient() as http:
        for proc in services.values():
            response = await http.get(proc.health_url)
            body = response.json()
            assert response.status_code == 200, body
            assert body["status"] == "healthy"
            assert body["checks"] == {"database": True, "redis": True, "storage": True, "kafka": True}
            assert body["timestamp"].endswith("Z")


async def test_metrics_expose_the_seed_names(client: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
    user = await signup(client)
    await client.post("/api/v1/executions", json={"executions": [execution()]}, headers=auth(user["access_token"]))
    async with httpx.AsyncClient() as http:
        gateway = (await http.get(f"{services['gateway'].url}/metrics")).text
        trades = (await http.get(f"{services['trades'].url}/metrics")).text
    assert (
        'http_request_duration_seconds_bucket{le="0.05",method="POST",route="/api/v1/executions",status="201"}'
        in gateway
    )
    assert "db_query_duration_seconds_bucket" in gateway
    assert 'db_query_duration_seconds_count{operation="insert",table="executions"}' in trades
    assert "tj_consumer_lag" in trades
    assert "tj_outbox_backlog" in trades


async def test_record_then_list_executions(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    body = {
        "executions": [execution("reliance", "buy", "10", "2950.50"), execution("RELIANCE", "sell", "10", "2961.25")]
    }
    response = await client.post("/api/v1/executions", json=body, headers=auth(user["access_token"]))
    assert response.status_code == 201, response.text
    stored = response.json()["executions"]
    assert [e["symbol"] for e in stored] == ["RELIANCE", "RELIANCE"]
    assert stored[0]["quantity"] == "10.00000000" and stored[1]["price"] == "2961.25000000"
    assert stored[0]["executed_at"] == "2026-06-05T03:46:02Z"  # 09:16:02 IST in UTC

    listed = await client.get("/api/v1/executions", headers=auth(user["access_token"]))
    assert listed.status_code == 200
    assert {e["id"] for e in listed.json()["items"]} == {e["id"] for e in stored}


async def test_every_write_needs_authentication(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/executions", json={"executions": [execution()]})
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    forged = await client.post(
        "/api/v1/executions", json={"executions": [execution()]}, headers=auth("eyJhbGciOiJub25lIn0.e30.")
    )
    assert forged.status_code == 401
    assert (await client.get("/api/v1/executions")).status_code == 401


async def test_users_never_see_each_other(client: httpx.AsyncClient) -> None:
    alice, bob = await signup(client), await signup(client)
    created = await client.post(
        "/api/v1/executions", json={"executions": [execution()]}, headers=auth(alice["access_token"])
    )
    assert created.status_code == 201
    command_id = created.json()["command_id"]
    bobs = await client.get("/api/v1/executions", headers=auth(bob["access_token"]))
    assert bobs.json()["items"] == []
    status = await client.get(f"/api/v1/commands/{command_id}", headers=auth(bob["access_token"]))
    assert status.status_code == 404, status.text  # not bob's: like any other id that is not his
    assert status.json()["error"] == "NotFound"
    never_sent = await client.get(f"/api/v1/commands/{uuid.uuid4()}", headers=auth(alice["access_token"]))
    assert never_sent.status_code == 404
    mine = await client.get(f"/api/v1/commands/{command_id}", headers=auth(alice["access_token"]))
    assert mine.status_code == 200 and mine.json()["status"] == "completed"
    # Bob cannot write into Alice's account either.
    account_id = created.json()["account_id"]
    stolen = await client.post(
        "/api/v1/executions",
        json={"account_id": account_id, "executions": [execution()]},
        headers=auth(bob["access_token"]),
    )
    assert stolen.status_code == 404
    assert stolen.json()["error"] == "NotFound"


async def test_same_idempotency_key_is_stored_once(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    headers = auth(user["access_token"], **{"Idempotency-Key": f"key-{uuid.uuid4()}"})
    body = {"executions": [execution()]}
    first = await client.post("/api/v1/executions", json=body, headers=headers)
    second = await client.post("/api/v1/executions", json=body, headers=headers)
    concurrent = await asyncio.gather(
        *(client.post("/api/v1/executions", json=body, headers=headers) for _ in range(5))
    )
    assert first.status_code == 201 and second.status_code == 201
    assert first.json() == second.json()
    assert all(r.status_code in (201, 202) for r in concurrent)
    listed = await client.get("/api/v1/executions", headers=auth(user["access_token"]))
    assert len(listed.json()["items"]) == 1


async def test_validation_errors_use_the_error_model(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    bad = {"executions": [{**execution(), "quantity": "-3", "executed_at": "2026-06-05T09:16:02"}]}
    response = await client.post("/api/v1/executions", json=bad, headers=auth(user["access_token"]))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError" and body["request_id"]
    assert response.headers["X-Request-ID"] == body["request_id"]


async def test_signup_conflict_and_login(client: httpx.AsyncClient) -> None:
    email = f"Mixed.Case-{uuid.uuid4().hex[:6]}@Example.COM"
    await signup(client, email)
    again = await client.post("/api/v1/auth/signup", json={"email": email.lower(), "password": "a-long-password-1"})
    assert again.status_code == 409
    wrong = await client.post("/api/v1/auth/login", json={"email": email, "password": "not-the-password"})
    assert wrong.status_code == 401
    ok = await client.post("/api/v1/auth/login", json={"email": email.upper(), "password": "a-long-password-1"})
    assert ok.status_code == 200 and ok.json()["access_token"]


async def test_poison_message_goes_to_dlq_and_does_not_block(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    settings = ServiceSettings()
    user = await signup(client)
    user_id = uuid.UUID(user["user"]["id"])
    poison = Envelope(type="trades.RecordExecutions", user_id=user_id, payload={"executions": [{"side": "sideways"}]})
    good = Envelope(type="trades.RecordExecutions", user_id=user_id, payload={"executions": [execution()]})
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True)
    dlq = AIOKafkaConsumer(
        TRADES_COMMANDS.dlq,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await producer.start()
    await dlq.start()
    try:
        # Same key: same partition, the good command queued right behind the poison one.
        await producer.send_and_wait(TRADES_COMMANDS.name, poison.encode(), key=poison.key())
        await producer.send_and_wait(TRADES_COMMANDS.name, b"{not json", key=poison.key())
        await producer.send_and_wait(TRADES_COMMANDS.name, good.encode(), key=good.key())

        async def good_applied() -> bool:
            listed = await client.get("/api/v1/executions", headers=auth(user["access_token"]))
            return len(listed.json()["items"]) == 1

        await eventually(good_applied)
        dead = []

        async def dead_lettered() -> bool:
            batch = await dlq.getmany(timeout_ms=500)
            dead.extend(r for records in batch.values() for r in records)
            return len([r for r in dead if r.key == poison.key()]) >= 2

        await eventually(dead_lettered)
        mine = [r for r in dead if r.key == poison.key()]
        headers = dict(mine[0].headers)
        assert mine[0].value == poison.encode()
        assert b"ValidationError" in headers["dlq-error"]
        assert headers["dlq-original-topic"].decode() == TRADES_COMMANDS.name
        assert mine[1].value == b"{not json"

        # Operators see them and can redrive them: a redriven message is tried again (it was
        # never applied), so these come back to the dead-letter topic once more.
        listed = await list_dead_letters(settings.kafka_bootstrap_servers, TRADES_COMMANDS.dlq)
        assert len([d for d in listed if d.key == poison.key()]) >= 2
        assert (
            await redrive(settings.kafka_bootstrap_servers, TRADES_COMMANDS.dlq, group_id=f"redrive-{uuid.uuid4()}")
            >= 2
        )

        async def dead_again() -> bool:
            batch = await dlq.getmany(timeout_ms=500)
            dead.extend(r for records in batch.values() for r in records)
            return len([r for r in dead if r.key == poison.key()]) >= 4

        await eventually(dead_again)
    finally:
        await producer.stop()
        await dlq.stop()
    status = await client.get(f"/api/v1/commands/{poison.id}", headers=auth(user["access_token"]))
    assert status.json()["status"] == "failed"


def _kafka_pid() -> int:
    return int(Path(ROOT / ".local/run/kafka.pid").read_text().strip())


async def test_kafka_unreachable_means_503_never_201(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or not (ROOT / ".local/run/kafka.pid").exists():
        import pytest

        pytest.skip("needs the native Kafka started by deploy/local/infra.sh (its pid is frozen)")
    user = await signup(client)
    key = f"outage-{uuid.uuid4()}"
    headers = auth(user["access_token"], **{"Idempotency-Key": key})
    body = {"executions": [execution()]}
    pid = _kafka_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        response = await client.post("/api/v1/executions", json=body, headers=headers)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    assert response.json()["error"] == "ServiceUnavailable"

    # The client retries with the same key once Kafka is back: stored exactly once.
    async def retried() -> bool:
        again = await client.post("/api/v1/executions", json=body, headers=headers)
        return again.status_code == 201

    await eventually(retried, timeout=60, interval=1.0)
    listed = await client.get("/api/v1/executions", headers=auth(user["access_token"]))
    assert len(listed.json()["items"]) == 1

    # And the write path is whole again: a new command is answered with its result (201), not
    # only accepted (202), once the consumers have caught up with the outage.
    async def answered() -> bool:
        fresh = await client.post("/api/v1/executions", json=body, headers=auth(user["access_token"]))
        return fresh.status_code == 201

    await eventually(answered, timeout=90, interval=1.0)


async def test_two_gateway_replicas_both_answer_201(
    services: dict[str, ServiceProcess], ports: dict[str, int], infra_env: dict[str, str]
) -> None:
    """The replica that holds the request sees the answer, whichever replica published before."""
    second = ServiceProcess("gateway", free_port(), services["gateway"].env)
    second.start()
    try:
        second.wait_healthy()
        async with (
            httpx.AsyncClient(base_url=services["gateway"].url, timeout=30) as one,
            httpx.AsyncClient(base_url=second.url, timeout=30) as two,
        ):
            # The new replica reads answers once its listener is placed; each replica answering
            # one write first keeps a slow start from being mistaken for a lost answer.
            warm_up = auth((await signup(one))["access_token"])
            for replica in (one, two):

                async def answered(replica: httpx.AsyncClient = replica) -> bool:
                    body = {"executions": [execution()]}
                    return (await replica.post("/api/v1/executions", json=body, headers=warm_up)).status_code == 201

                await eventually(answered, timeout=60, interval=0.5)
            user = await signup(one)
            headers = auth(user["access_token"])
            responses = await asyncio.gather(
                *(
                    (one if i % 2 else two).post(
                        "/api/v1/executions", json={"executions": [execution()]}, headers=headers
                    )
                    for i in range(20)
                )
            )
            assert [r.status_code for r in responses] == [201] * 20
            listed = await two.get("/api/v1/executions", headers=headers, params={"limit": 100})
            assert len(listed.json()["items"]) == 20
    finally:
        second.stop()


async def test_the_sender_of_a_command_answered_202_is_remembered_and_of_one_answered_201_not(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    """A command answered 201 is applied, and trades tells whose it is. One answered 202 may be
    asked after before trades has applied it: the gateway remembers who sent it (Redis), so its
    sender sees it pending and everyone else a 404."""
    redis = aioredis.from_url(ServiceSettings().redis_url)
    hurried = ServiceProcess("gateway", free_port(), services["gateway"].env)
    hurried.start({"COMMAND_REPLY_TIMEOUT": "0"})  # never waits for an answer: every write is a 202
    try:
        alice, bob = await signup(client), await signup(client)
        created = await client.post(
            "/api/v1/executions", json={"executions": [execution()]}, headers=auth(alice["access_token"])
        )
        assert created.status_code == 201
        assert await redis.get(command_owner_key(uuid.UUID(created.json()["command_id"]))) is None

        hurried.wait_healthy()
        async with httpx.AsyncClient(base_url=hurried.url, timeout=30) as second:
            accepted = await second.post(
                "/api/v1/executions", json={"executions": [execution()]}, headers=auth(alice["access_token"])
            )
            assert accepted.status_code == 202, accepted.text
            command_id = accepted.json()["id"]
            assert await redis.get(command_owner_key(uuid.UUID(command_id))) == alice["user"]["id"].encode()
            # Whether trades has applied it by now or not: Alice's, and nobody else's.
            theirs = await second.get(f"/api/v1/commands/{command_id}", headers=auth(bob["access_token"]))
            assert theirs.status_code == 404, theirs.text
            mine = await second.get(f"/api/v1/commands/{command_id}", headers=auth(alice["access_token"]))
            assert mine.status_code == 200 and mine.json()["status"] in ("pending", "completed"), mine.text
    finally:
        hurried.stop()
        await redis.aclose()


async def test_executions_are_cursor_paginated(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    fills = [{**execution(), "executed_at": f"2026-06-05T09:1{i}:00+05:30"} for i in range(5)]
    assert (await client.post("/api/v1/executions", json={"executions": fills}, headers=headers)).status_code == 201
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/executions", headers=headers, params=params)).json()
        seen += [e["executed_at"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 5
    bad = await client.get("/api/v1/executions", headers=headers, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "BadRequest"
