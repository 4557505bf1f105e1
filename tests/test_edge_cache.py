"""The read cache against the real stack: trades lists and analytics are served from Redis on a
repeat, ``If-None-Match`` answers 304, and a write's 201 is never followed by the stale answer
(the version is bumped before the 201)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.harness import auth, signup

MANUAL = {
    "symbol": "RELIANCE",
    "side": "long",
    "quantity": "10",
    "entry_price": "2950.50",
    "entered_at": "2026-06-05T09:16:02+05:30",
    "exit_price": "2961.25",
    "exited_at": "2026-06-05T11:00:00+05:30",
}


def metric(text: str, name: str, label: str) -> float:
    match = re.search(rf'^{name}\{{cache_key="{label}"\}} ([0-9.e+]+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_repeat_reads_hit_and_etag_gives_304(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    before = (await client.get("/metrics")).text

    first = await client.get("/api/v1/trades", params={"limit": 50}, headers=headers)
    second = await client.get("/api/v1/trades", params={"limit": 50}, headers=headers)
    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["x-cache"] == "miss" and second.headers["x-cache"] == "hit"
    assert first.json() == second.json()
    etag = second.headers["etag"]
    assert etag == first.headers["etag"] and etag.startswith('"')
    assert second.headers["cache-control"] == "private, no-cache"
    # Another query is another entry.
    assert (await client.get("/api/v1/trades", params={"limit": 5}, headers=headers)).headers["x-cache"] == "miss"

    not_modified = await client.get("/api/v1/trades", params={"limit": 50}, headers={**headers, "If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    other_tag = await client.get("/api/v1/trades", params={"limit": 50}, headers={**headers, "If-None-Match": '"x"'})
    assert other_tag.status_code == 200

    summary = [await client.get("/api/v1/analytics/summary", headers=headers) for _ in range(2)]
    assert [r.headers["x-cache"] for r in summary] == ["miss", "hit"]

    after = (await client.get("/metrics")).text
    assert metric(after, "cache_hits_total", "trades") >= metric(before, "cache_hits_total", "trades") + 3
    assert (
        metric(after, "cache_misses_total", "analytics_summary")
        >= metric(before, "cache_misses_total", "analytics_summary") + 1
    )


async def test_a_write_invalidates_before_its_201(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    empty = await client.get("/api/v1/trades", params={"limit": 50}, headers=headers)
    summary = await client.get("/api/v1/analytics/summary", headers=headers)
    assert (await client.get("/api/v1/trades", params={"limit": 50}, headers=headers)).headers["x-cache"] == "hit"
    for _ in range(3):
        created = await client.post(
            "/api/v1/trades", json=MANUAL, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
        )
        assert created.status_code == 201, created.text
        trade_id = created.json()["id"]
        # Immediately after the 201: never the cached answer from before the write.
        listed = await client.get(
            "/api/v1/trades", params={"limit": 50}, headers={**headers, "If-None-Match": empty.headers["etag"]}
        )
        assert listed.status_code == 200 and listed.headers["x-cache"] == "miss"
        assert trade_id in {t["id"] for t in listed.json()["items"]}
        empty = listed
    fresh = await client.get("/api/v1/analytics/summary", headers=headers)
    assert fresh.headers["etag"] != summary.headers["etag"]
    body: dict[str, Any] = fresh.json()
    assert body != summary.json()


async def test_one_users_cache_is_not_anothers(client: httpx.AsyncClient) -> None:
    owner, other = await signup(client), await signup(client)
    created = await client.post("/api/v1/trades", json=MANUAL, headers=auth(owner["access_token"]))
    assert created.status_code == 201
    owners = await client.get("/api/v1/trades", params={"limit": 50}, headers=auth(owner["access_token"]))
    assert owners.json()["items"]
    others = await client.get("/api/v1/trades", params={"limit": 50}, headers=auth(other["access_token"]))
    assert others.headers["x-cache"] == "miss" and others.json()["items"] == []
    # Without credentials the cache is not consulted: the endpoint answers 401.
    anonymous = await client.get("/api/v1/trades", params={"limit": 50})
    assert anonymous.status_code == 401 and "x-cache" not in anonymous.headers
