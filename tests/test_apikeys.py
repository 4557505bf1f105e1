"""API keys and entitlements against the real stack: the plan comes from ``billing.events``
(published here as billing would), ``ENABLE_API_ACCESS`` is flipped at runtime through the flags,
and a key works wherever an access token does until it is revoked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from tests.harness import auth, eventually, signup
from tj_common.contracts.billing import ENTITLEMENTS_CHANGED, Entitlements, EntitlementsChanged
from tj_common.envelope import Envelope
from tj_common.topics import BILLING_EVENTS
from tj_gateway.flags import set_flag
from tj_gateway.settings import Settings

PRO = Entitlements(max_accounts=5, executions_per_month=None, imports_allowed=True, api_access=True)


async def publish_plan(user_id: str, version: int, plan: str = "pro_monthly", limits: Entitlements = PRO) -> None:
    """Publishes billing's EntitlementsChanged for the user, as the billing service does."""
    event = EntitlementsChanged(
        user_id=uuid.UUID(user_id),
        plan_id=plan,
        plan_name=plan.split("_")[0].title(),
        status="active",
        entitlements=limits,
        version=version,
    )
    envelope = Envelope(type=ENTITLEMENTS_CHANGED, user_id=event.user_id, payload=event.model_dump(mode="json"))
    producer = AIOKafkaProducer(bootstrap_servers=Settings().kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(BILLING_EVENTS.name, envelope.encode(), key=envelope.key())
    finally:
        await producer.stop()


async def plan_of(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get("/api/v1/me", headers=auth(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def on_plan(client: httpx.AsyncClient, user: dict[str, Any], plan: str) -> None:
    async def arrived() -> bool:
        return (await plan_of(client, user["access_token"]))["plan"] == plan

    await eventually(arrived, timeout=30)


@pytest.fixture
async def api_access() -> AsyncIterator[None]:
    """ENABLE_API_ACCESS on for this run's gateways (set through Redis, as an operator would)."""
    settings = Settings()
    redis = aioredis.from_url(settings.redis_url)
    await set_flag(redis, settings, "ENABLE_API_ACCESS", True)
    try:
        yield
    finally:
        await set_flag(redis, settings, "ENABLE_API_ACCESS", None)
        await redis.aclose()


async def create_key(client: httpx.AsyncClient, token: str, scopes: list[str], name: str = "sync") -> httpx.Response:
    # The flag is cached for FLAGS_CACHE_SECONDS: retry while the gateway still says "off".
    async def attempt() -> httpx.Response | None:
        response = await client.post("/api/v1/api-keys", json={"name": name, "scopes": scopes}, headers=auth(token))
        return None if response.status_code == 403 else response

    result: httpx.Response = await eventually(attempt, timeout=10)
    return result


async def test_entitlements_follow_billing_events_and_ignore_older_versions(client: httpx.AsyncClient) -> None:
    user = await signup(client, plan=None)
    me = await plan_of(client, user["access_token"])
    assert me["plan"] == "free" and me["entitlements"]["max_accounts"] == 1
    await publish_plan(user["user"]["id"], version=3)
    await on_plan(client, user, "pro_monthly")
    assert (await plan_of(client, user["access_token"]))["entitlements"]["max_accounts"] == 5
    # An older version arriving late is ignored; a newer one applies (same key: same partition,
    # so once the newer one shows, the older one has been read and skipped).
    await publish_plan(user["user"]["id"], version=2, plan="free", limits=Entitlements())
    await publish_plan(user["user"]["id"], version=4, plan="elite_yearly", limits=PRO)
    await on_plan(client, user, "elite_yearly")


async def test_api_keys_need_the_flag_and_the_plan(client: httpx.AsyncClient, api_access: None) -> None:
    free = await signup(client, plan=None)
    refused = await create_key(client, free["access_token"], ["read"])
    assert refused.status_code == 402, refused.text
    assert refused.json()["error"] == "PlanRequired" and "api_access" in refused.json()["detail"]


async def test_api_access_off_is_403(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    await publish_plan(user["user"]["id"], version=1)
    await on_plan(client, user, "pro_monthly")

    async def refused() -> httpx.Response | None:
        # Another test may have had the flag on a moment ago (cached FLAGS_CACHE_SECONDS).
        response = await client.post("/api/v1/api-keys", json={"name": "x"}, headers=auth(user["access_token"]))
        return response if response.status_code == 403 else None

    response = await eventually(refused, timeout=10)
    assert response.json()["error"] == "FeatureDisabled"


async def test_api_key_lifecycle(client: httpx.AsyncClient, api_access: None) -> None:
    user, other = await signup(client), await signup(client)
    await publish_plan(user["user"]["id"], version=1)
    await on_plan(client, user, "pro_monthly")

    created = await create_key(client, user["access_token"], ["read"], name="<b>sheet</b>")
    assert created.status_code == 201, created.text
    read_key = created.json()
    assert read_key["key"].startswith("tj_") and len(read_key["key"]) > 40
    assert read_key["key"].startswith(read_key["prefix"]) and read_key["scopes"] == ["read"]
    write_key = (await create_key(client, user["access_token"], ["read", "write"])).json()

    listed = await client.get("/api/v1/api-keys", headers=auth(user["access_token"]))
    items = listed.json()["items"]
    assert {i["id"] for i in items} == {read_key["id"], write_key["id"]}
    assert all(
        "key" not in i and set(i) == {"id", "name", "prefix", "scopes", "created_at", "last_used_at"} for i in items
    )
    assert (await client.get("/api/v1/api-keys", headers=auth(other["access_token"]))).json()["items"] == []

    # Usable wherever a JWT is: /me, the read path; the read scope cannot write.
    me = await client.get("/api/v1/me", headers=auth(read_key["key"]))
    assert me.status_code == 200 and me.json()["user"]["id"] == user["user"]["id"]
    assert (await client.get("/api/v1/trades", headers=auth(read_key["key"]))).status_code == 200
    write = await client.post("/api/v1/accounts", json={"name": "Zerodha"}, headers=auth(read_key["key"]))
    assert write.status_code == 403 and write.json()["error"] == "InsufficientScope"
    written = await client.post("/api/v1/accounts", json={"name": "Zerodha"}, headers=auth(write_key["key"]))
    assert written.status_code < 500 and written.status_code != 403, written.text
    used = {
        i["id"]: i for i in (await client.get("/api/v1/api-keys", headers=auth(user["access_token"]))).json()["items"]
    }
    assert used[read_key["id"]]["last_used_at"] is not None

    # Someone else cannot revoke it; the owner can, and it stops working at once.
    assert (
        await client.delete(f"/api/v1/api-keys/{read_key['id']}", headers=auth(other["access_token"]))
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/api-keys/{read_key['id']}", headers=auth(user["access_token"]))
    ).status_code == 204
    revoked = await client.get("/api/v1/me", headers=auth(read_key["key"]))
    assert revoked.status_code == 401 and revoked.json()["error"] == "InvalidApiKey"
    assert (
        await client.delete(f"/api/v1/api-keys/{read_key['id']}", headers=auth(user["access_token"]))
    ).status_code == 404
    listed_after = (await client.get("/api/v1/api-keys", headers=auth(user["access_token"]))).json()["items"]
    assert [i["id"] for i in listed_after] == [write_key["id"]]
    # An unknown key of the right shape is refused the same way.
    assert (await client.get("/api/v1/me", headers=auth("tj_" + "A" * 40))).status_code == 401

    # A key stops working when the plan loses API access.
    await publish_plan(user["user"]["id"], version=2, plan="free", limits=Entitlements())
    await on_plan(client, user, "free")
    lapsed = await client.get("/api/v1/me", headers=auth(write_key["key"]))
    assert lapsed.status_code == 402 and lapsed.json()["error"] == "PlanRequired"


async def test_a_cache_miss_is_rebuilt_from_billing(client: httpx.AsyncClient, services: dict[str, Any]) -> None:
    """With nothing in Redis, /me asks billing's internal API and keeps its answer (version and
    all), not the free-plan fallback used while billing cannot answer (version -1)."""
    user = await signup(client)
    settings = Settings()
    key = f"{settings.kafka_topic_prefix}entitlements:{user['user']['id']}"
    redis = aioredis.from_url(settings.redis_url)
    try:
        await redis.delete(key)
        me = await plan_of(client, user["access_token"])
        async with httpx.AsyncClient(base_url=services["billing"].url, timeout=10) as billing:
            answer = await billing.get(f"/internal/entitlements/{user['user']['id']}")
        assert answer.status_code == 200, answer.text
        assert me["plan"] == answer.json()["plan_id"]
        stored = await redis.hget(key, "version")
        assert stored is not None and int(stored) == answer.json()["version"] >= 0
    finally:
        await redis.aclose()
