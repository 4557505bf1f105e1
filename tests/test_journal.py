"""The daily journal through the gateway and Kafka: one markdown entry per user and day."""

from __future__ import annotations

import httpx

from tests.harness import ServiceProcess, auth, signup
from tj_common.contracts.trades import JOURNAL_MAX_CHARS


async def test_write_read_replace_and_isolation(client: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
    headers = auth((await signup(client))["access_token"])
    other = auth((await signup(client))["access_token"])
    url = "/api/v1/journal/2026-06-05"

    missing = await client.get(url, headers=headers)
    assert missing.status_code == 404 and missing.json()["error"] == "NotFound"

    saved = await client.put(url, json={"body": "Followed the plan.\n\n- **No** revenge trades"}, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["day"] == "2026-06-05"
    assert saved.json()["body"].startswith("Followed the plan.")
    read = await client.get(url, headers=headers)
    assert read.status_code == 200 and read.json()["body"] == saved.json()["body"]

    replaced = await client.put(url, json={"body": "Revised."}, headers=headers)
    assert replaced.status_code == 200 and replaced.json()["body"] == "Revised."
    assert (await client.get(url, headers=headers)).json()["body"] == "Revised."
    assert (await client.get("/api/v1/journal/2026-06-06", headers=headers)).status_code == 404

    # Another user sees nothing of it, and writes their own entry for the same day.
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.put(url, json={"body": "Mine."}, headers=other)).status_code == 200
    assert (await client.get(url, headers=headers)).json()["body"] == "Revised."

    bad_day = await client.put("/api/v1/journal/2026-13-40", json={"body": "x"}, headers=headers)
    assert bad_day.status_code == 422
    too_long = await client.put(url, json={"body": "x" * (JOURNAL_MAX_CHARS + 1)}, headers=headers)
    assert too_long.status_code == 422 and too_long.json()["error"] == "ValidationError"
    assert (await client.get(url)).status_code == 401
