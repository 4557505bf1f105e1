"""Rate limits against the real stack (Redis GCRA): login per email and per IP, signup per IP,
password reset, and the API per user; 429 with Retry-After and RateLimit-* headers.

The shared test gateway runs with relaxed per-IP limits (every test comes from 127.0.0.1); this
module starts a gateway of its own with tight ones."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.harness import ServiceProcess, auth, free_port, set_plan, signup
from tj_gateway.ratelimit import RateLimited

TIGHT = {
    "RATE_LIMIT_SIGNUP_PER_IP": "6/1h",
    "RATE_LIMIT_SIGNUP_PER_EMAIL": "5/1h",
    "RATE_LIMIT_LOGIN_PER_IP": "60/1m",
    "RATE_LIMIT_LOGIN_PER_EMAIL": "10/1m",
    "RATE_LIMIT_PASSWORD_RESET": "3/1h",
    "RATE_LIMIT_API": "8/1m",
}


@pytest.fixture(scope="module")
def tight_gateway(services: dict[str, ServiceProcess]) -> Iterator[str]:
    # Buckets are keyed by the limit's terms too, so these tight counters and the relaxed ones
    # of the shared gateway never mix.
    gateway = ServiceProcess("gateway", free_port(), services["gateway"].env)
    gateway.start(TIGHT)
    try:
        gateway.wait_healthy()
        yield gateway.url
    finally:
        gateway.stop()


@pytest.fixture
async def tight(tight_gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=tight_gateway, timeout=30) as http:
        yield http


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "RateLimited" and response.json()["request_id"]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-remaining"] == "0"
    assert int(response.headers["ratelimit-limit"]) > 0


async def test_twenty_wrong_passwords_in_a_minute(client: httpx.AsyncClient) -> None:
    """On the shared gateway, with the default per-email login limit (10 a minute)."""
    user = await signup(client)
    email = user["user"]["email"]
    statuses = []
    started = time.monotonic()
    for _ in range(20):
        response = await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong-password-0"})
        statuses.append(response.status_code)
    elapsed = time.monotonic() - started
    assert statuses[:10] == [401] * 10
    # GCRA: a burst of 10, then one more every 6 s (a slow machine may earn one or two back).
    assert statuses.count(401) <= 10 + int(elapsed / 6), (statuses, elapsed)
    assert statuses[-1] == 429 and set(statuses) == {401, 429}
    assert_limited(response)
    # Even the right password waits now: the limit is on attempts, not failures.
    right = await client.post("/api/v1/auth/login", json={"email": email, "password": "a-long-password-1"})
    assert right.status_code == 429
    # Other accounts are unaffected.
    other = await signup(client)
    ok = await client.post(
        "/api/v1/auth/login", json={"email": other["user"]["email"], "password": "a-long-password-1"}
    )
    assert ok.status_code == 200
    assert int(ok.headers["ratelimit-remaining"]) >= 0 and "ratelimit-limit" in ok.headers


async def test_signup_per_ip(tight: httpx.AsyncClient) -> None:
    statuses = []
    for _ in range(8):
        response = await tight.post(
            "/api/v1/auth/signup",
            json={"email": f"rl-{uuid.uuid4().hex[:10]}@example.com", "password": "a-long-password-1"},
        )
        statuses.append(response.status_code)
    assert statuses.count(201) <= 6 and statuses[-1] == 429, statuses
    assert_limited(response)
    # An hour's budget: the wait is minutes, not seconds.
    assert int(response.headers["retry-after"]) > 60


async def test_password_reset_per_email(tight: httpx.AsyncClient) -> None:
    email = f"reset-{uuid.uuid4().hex[:10]}@example.com"
    statuses = [(await tight.post("/api/v1/auth/password-reset", json={"email": email})).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]


async def test_api_per_user(client: httpx.AsyncClient, tight: httpx.AsyncClient) -> None:
    user = await signup(client)  # signed up on the shared gateway; the tight one limits its API use
    headers = auth(user["access_token"])
    responses = [await tight.get("/api/v1/me", headers=headers) for _ in range(10)]
    assert [r.status_code for r in responses[:8]] == [200] * 8
    assert [int(r.headers["ratelimit-remaining"]) for r in responses[:8]] == list(range(7, -1, -1))
    assert_limited(responses[8])
    # Cached reads count too.
    assert (await tight.get("/api/v1/trades", headers=headers)).status_code == 429
    # Another user has their own budget.
    other = await signup(client)
    assert (await tight.get("/api/v1/me", headers=auth(other["access_token"]))).status_code == 200


@pytest.fixture
async def in_process() -> AsyncIterator[tuple[Any, Any, Any]]:
    """The gateway's Redis client, rate limiter and plan store on the test Redis, in this process."""
    import redis.asyncio as aioredis

    from tj_gateway.identity.entitlements import EntitlementStore
    from tj_gateway.ratelimit import RateLimiter
    from tj_gateway.settings import Settings

    settings = Settings(rate_limit_api="5/1m")
    redis = aioredis.from_url(settings.redis_url)
    async with httpx.AsyncClient() as http:
        try:
            yield redis, RateLimiter(redis, settings), EntitlementStore(redis, settings, http)
        finally:
            await redis.aclose()


async def test_the_plan_is_read_with_the_api_rate_limit_in_one_round_trip(
    in_process: tuple[Any, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """authenticate() counts the API request and reads the caller's plan in one pipeline; the
    request's plan checks then take that entry instead of reading Redis again."""
    from types import SimpleNamespace

    from tj_gateway.identity.entitlements import PLAN_READ, plan_of

    redis, limiter, store = in_process
    user_id = uuid.uuid4()
    await set_plan(user_id, "pro_monthly")
    subject = f"user:{user_id}"

    async def no_round_trip_of_its_own(*args: Any) -> None:
        raise AssertionError("the plan was read on its own")

    monkeypatch.setattr(redis, "hget", no_round_trip_of_its_own)
    decisions = []
    for _ in range(6):
        try:
            decision, raw = await limiter.enforce_and_read(("api", subject), (store.key(user_id), "state"))
        except RateLimited:
            decisions.append(None)
            continue
        decisions.append(decision.remaining)
        assert raw is not None
    assert decisions == [4, 3, 2, 1, 0, None]  # counted as enforce() counts: 5 a minute

    request = SimpleNamespace(
        state=SimpleNamespace(**{PLAN_READ: (user_id, raw)}),
        app=SimpleNamespace(state=SimpleNamespace(entitlements=store)),
    )
    plan = await plan_of(request, user_id)  # type: ignore[arg-type]
    assert plan.plan_id == "pro_monthly"
    # Another user's plan is not the one read: that one is read from Redis.
    with pytest.raises(AssertionError, match="on its own"):
        await plan_of(request, uuid.uuid4())  # type: ignore[arg-type]


async def test_a_script_redis_has_lost_is_loaded_again(in_process: tuple[Any, Any, Any]) -> None:
    """After a Redis restart (or SCRIPT FLUSH) the pipelined EVALSHA answers NOSCRIPT: the
    limiter loads the script and counts the request all the same."""
    redis, limiter, store = in_process
    user_id = uuid.uuid4()
    await set_plan(user_id, "pro_monthly")
    await redis.script_flush()
    read = (store.key(user_id), "state")
    first, raw = await limiter.check_and_read("api", f"user:{user_id}", read=read)
    second, _ = await limiter.check_and_read("api", f"user:{user_id}", read=read)
    assert (first.allowed, first.remaining, second.remaining) == (True, 4, 3)
    assert raw is not None and b"pro_monthly" in raw
