"""Trade attachments: a presigned S3 PUT, the check on confirm, listing on the trade, deletion."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.harness import ServiceProcess, auth, signup
from tj_common.contracts.trades import ATTACHMENT_MAX_BYTES
from tj_common.settings import ServiceSettings
from tj_common.storage import make_s3_client

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)


async def manual_trade(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    body = {
        "symbol": "RELIANCE",
        "side": "long",
        "quantity": "10",
        "entry_price": "2950.50",
        "entered_at": "2026-06-05T09:16:02+05:30",
        "exit_price": "2961.25",
        "exited_at": "2026-06-05T11:00:00+05:30",
    }
    created = await client.post("/api/v1/trades", json=body, headers=headers)
    assert created.status_code == 201, created.text
    trade_id: str = created.json()["id"]
    return trade_id


async def attach(
    client: httpx.AsyncClient, headers: dict[str, str], trade_id: str, data: bytes, declared: int | None = None
) -> tuple[dict[str, Any], httpx.Response]:
    created = await client.post(
        f"/api/v1/trades/{trade_id}/attachments",
        json={"filename": "entry.png", "content_type": "image/png", "size": declared or len(data)},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    upload = body["upload"]
    assert upload["method"] == "PUT"
    async with httpx.AsyncClient(timeout=30) as s3:
        put = await s3.put(upload["url"], content=data, headers={"Content-Type": upload["headers"]["Content-Type"]})
    return body, put


async def test_upload_confirm_list_delete(client: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
    user = await signup(client)
    headers = auth(user["access_token"])
    other = auth((await signup(client))["access_token"])
    trade_id = await manual_trade(client, headers)

    body, put = await attach(client, headers, trade_id, PNG)
    assert put.status_code == 200, put.text
    attachment = body["attachment"]
    assert attachment["status"] == "pending" and "object_key" not in attachment
    confirm_url = body["upload"]["confirm_url"]
    assert (await client.post(confirm_url, headers=other)).status_code == 404
    confirmed = await client.post(confirm_url, headers=headers)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "uploaded" and confirmed.json()["size"] == len(PNG)

    trade = (await client.get(f"/api/v1/trades/{trade_id}", headers=headers)).json()
    [listed] = trade["attachments"]
    assert listed["id"] == attachment["id"] and listed["filename"] == "entry.png"
    async with httpx.AsyncClient(timeout=30) as s3:
        downloaded = await s3.get(listed["download_url"])
    assert downloaded.status_code == 200 and downloaded.content == PNG

    # Not an image: refused on confirm, and the object is removed.
    fake, put = await attach(client, headers, trade_id, b"MZ not an image at all" + bytes(40))
    assert put.status_code == 200
    refused = await client.post(fake["upload"]["confirm_url"], headers=headers)
    assert refused.status_code == 422 and refused.json()["error"] == "ValidationError"
    # Nothing uploaded yet: a conflict, not a success.
    early = await client.post(
        f"/api/v1/trades/{trade_id}/attachments",
        json={"filename": "later.png", "content_type": "image/png", "size": 100},
        headers=headers,
    )
    assert (await client.post(early.json()["upload"]["confirm_url"], headers=headers)).status_code == 409

    # Declared types and sizes are limited before anything is signed.
    for changes in ({"content_type": "application/pdf"}, {"size": ATTACHMENT_MAX_BYTES + 1}, {"size": 0}):
        wrong = await client.post(
            f"/api/v1/trades/{trade_id}/attachments",
            json={"filename": "x.png", "content_type": "image/png", "size": 10, **changes},
            headers=headers,
        )
        assert wrong.status_code == 422, changes
    missing = await client.post(
        "/api/v1/trades/00000000-0000-0000-0000-000000000000/attachments",
        json={"filename": "x.png", "content_type": "image/png", "size": 10},
        headers=headers,
    )
    assert missing.status_code == 404

    deleted = await client.delete(f"/api/v1/trades/{trade_id}/attachments/{attachment['id']}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    trade = (await client.get(f"/api/v1/trades/{trade_id}", headers=headers)).json()
    assert attachment["id"] not in {a["id"] for a in trade["attachments"]}
    settings = ServiceSettings()
    s3_client = make_s3_client(settings)
    key = f"attachments/{user['user']['id']}/{trade_id}/{attachment['id']}"
    with pytest.raises(s3_client.exceptions.ClientError):
        await asyncio.to_thread(s3_client.head_object, Bucket=settings.s3_bucket, Key=key)
