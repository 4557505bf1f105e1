"""Broker-file imports end to end: upload through the gateway, S3, the imports service and the
staged commit in trades, then the trades and executions it made visible through the API."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis

from tests.harness import ServiceProcess, auth, eventually, signup

ZERODHA_HEADER = (
    "symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price,trade_id,order_id,"
    "order_execution_time"
)
TEMPLATE_HEADER = "date,time,timezone,symbol,exchange,segment,side,quantity,price,fees,currency,broker_trade_id"
FINAL = {"completed", "failed", "cancelled", "reverted"}


def zerodha_row(n: int, symbol: str = "RELIANCE", side: str = "buy", price: str = "2950.50", qty: str = "10") -> str:
    minute = n % 50
    return (
        f"{symbol},INE002A01018,2026-06-05,NSE,EQ,EQ,{side},false,{qty},{price},{10_000_000 + n},"
        f"{1_200_000_000_000_000 + n},2026-06-05T09:{minute:02d}:00"
    )


def zerodha_file(rows: list[str]) -> bytes:
    return ("\n".join([ZERODHA_HEADER, *rows]) + "\n").encode()


def round_trips(start: int, count: int) -> list[str]:
    """``count`` buy/sell pairs of TCS (trade ids start..start+2*count-1)."""
    rows = []
    for i in range(count):
        n = start + 2 * i
        rows.append(zerodha_row(n, "TCS", "buy", "4000.00", "5"))
        rows.append(zerodha_row(n + 1, "TCS", "sell", "4010.00", "5"))
    return rows


async def new_trader(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    user = await signup(client)
    headers = auth(user["access_token"])
    created = await client.post("/api/v1/accounts", json={"name": "Zerodha"}, headers=headers)
    assert created.status_code in (201, 202), created.text
    account_id = created.json()["id"] if created.status_code == 201 else None
    if account_id is None:

        async def listed() -> str | None:
            listing = await client.get("/api/v1/accounts", headers=headers)
            if listing.status_code != 200:  # e.g. 429 while polling on a busy machine: ask again
                return None
            return next((a["id"] for a in listing.json()["items"] if a["name"] == "Zerodha"), None)

        account_id = await eventually(listed)
    return headers, account_id


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    account_id: str,
    content: bytes,
    name: str = "tradebook.csv",
    **fields: str,
) -> httpx.Response:
    return await client.post(
        "/api/v1/imports",
        files={"file": (name, content, "text/csv")},
        data={"account_id": account_id, **fields},
        headers=headers,
    )


async def finished(client: httpx.AsyncClient, headers: dict[str, str], import_id: str, timeout: float = 180) -> Any:
    async def check() -> Any:
        body = (await client.get(f"/api/v1/imports/{import_id}", headers=headers)).json()
        return body if body.get("status") in FINAL else None

    return await eventually(check, timeout=timeout)


async def imported(
    client: httpx.AsyncClient, headers: dict[str, str], account_id: str, content: bytes, **fields: str
) -> Any:
    response = await upload(client, headers, account_id, content, **fields)
    assert response.status_code == 202, response.text
    return await finished(client, headers, response.json()["id"])


async def executions_of(client: httpx.AsyncClient, headers: dict[str, str], account_id: str) -> list[Any]:
    response = await client.get("/api/v1/executions", params={"account_id": account_id, "limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def test_upload_commits_trades_and_the_same_file_adds_nothing(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    content = zerodha_file(
        [
            zerodha_row(1, "RELIANCE", "buy", "2950.50"),
            zerodha_row(2, "RELIANCE", "sell", "2961.25"),
            *round_trips(10, 2),
        ]
    )
    response = await upload(client, headers, account_id, content)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] in ("queued", "parsing", "staging", "committing", "completed")
    first = await finished(client, headers, started["id"])
    assert first["status"] == "completed", first
    assert first["format"] == "zerodha_tradebook_csv"
    assert first["counts"] | {"staged": 0} == {"rows": 6, "staged": 0, "accepted": 6, "duplicates": 0, "rejected": 0}

    fills = await executions_of(client, headers, account_id)
    assert len(fills) == 6
    assert {f["broker_trade_id"] for f in fills} == {str(10_000_000 + n) for n in (1, 2, 10, 11, 12, 13)}
    trades = (await client.get("/api/v1/trades", params={"account_id": account_id}, headers=headers)).json()["items"]
    assert sorted((t["symbol"], t["status"]) for t in trades) == [
        ("RELIANCE", "closed"),
        ("TCS", "closed"),
        ("TCS", "closed"),
    ]

    again = await imported(client, headers, account_id, content)
    assert again["status"] == "completed"
    assert again["duplicate_of"] == started["id"]
    assert again["counts"]["accepted"] == 0
    assert again["counts"]["duplicates"] == 6
    assert len(await executions_of(client, headers, account_id)) == 6

    listed = (await client.get("/api/v1/imports", headers=headers)).json()["items"]
    assert [i["id"] for i in listed] == [again["id"], started["id"]]


async def test_an_overlapping_file_adds_only_new_fills(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    first = await imported(client, headers, account_id, zerodha_file(round_trips(100, 3)))
    assert first["counts"]["accepted"] == 6
    # Two pairs already imported, three new ones.
    overlap = await imported(client, headers, account_id, zerodha_file(round_trips(102, 5)))
    assert overlap["status"] == "completed", overlap
    assert overlap["duplicate_of"] is None
    assert overlap["counts"]["accepted"] == 6
    assert overlap["counts"]["duplicates"] == 4
    assert len(await executions_of(client, headers, account_id)) == 12


async def test_two_identical_fills_in_one_file_both_count(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    fill = "2026-06-05,09:20:00,Asia/Kolkata,INFY,NSE,equity,buy,5,1500,0,INR,"
    content = "\n".join([TEMPLATE_HEADER, fill, fill, fill.replace(",buy,", ",sell,").replace(",5,", ",10,")]) + "\n"
    done = await imported(client, headers, account_id, content.encode())
    assert done["status"] == "completed", done
    assert done["counts"]["accepted"] == 3
    fills = await executions_of(client, headers, account_id)
    assert sorted(f["side"] for f in fills) == ["buy", "buy", "sell"]
    # The same rows again in a new file (one more line) are duplicates, not new fills.
    more = content + "2026-06-05,10:00:00,Asia/Kolkata,INFY,NSE,equity,buy,1,1490,0,INR,\n"
    second = await imported(client, headers, account_id, more.encode())
    assert second["counts"]["accepted"] == 1
    assert second["counts"]["duplicates"] == 3


async def test_bad_rows_are_reported_as_json_and_escaped_csv(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    content = zerodha_file(
        [
            zerodha_row(1),
            zerodha_row(2, qty="=1+2"),
            zerodha_row(3, qty="-5"),
            zerodha_row(4, side="hold"),
            zerodha_row(5, side="sell"),
        ]
    )
    done = await imported(client, headers, account_id, content)
    assert done["status"] == "completed", done
    assert done["counts"]["rows"] == 5
    assert done["counts"]["accepted"] == 2
    assert done["counts"]["rejected"] == 3

    errors = await client.get(f"/api/v1/imports/{done['id']}/errors", headers=headers)
    assert errors.status_code == 200
    body = errors.json()
    assert body["total"] == 3
    assert [(e["line"], e["column"]) for e in body["items"]] == [(3, "quantity"), (4, "quantity"), (5, "trade_type")]
    assert body["items"][0]["raw"] == "=1+2"

    as_csv = await client.get(f"/api/v1/imports/{done['id']}/errors", headers={**headers, "Accept": "text/csv"})
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["line", "column", "reason", "raw"]
    assert rows[1][0] == "3" and rows[1][3] == "'=1+2"
    assert rows[2][3] == "'-5"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


async def test_revert_removes_exactly_that_import(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    kept = await imported(client, headers, account_id, zerodha_file(round_trips(200, 2)))
    removed = await imported(client, headers, account_id, zerodha_file(round_trips(300, 3)))
    assert kept["counts"]["accepted"] == 4 and removed["counts"]["accepted"] == 6
    assert len(await executions_of(client, headers, account_id)) == 10

    response = await client.post(f"/api/v1/imports/{removed['id']}/revert", headers=headers)
    assert response.status_code == 202, response.text
    reverted = await finished(client, headers, removed["id"])
    assert reverted["status"] == "reverted"
    fills = await executions_of(client, headers, account_id)
    assert {f["broker_trade_id"] for f in fills} == {str(10_000_000 + n) for n in range(200, 204)}
    trades = (await client.get("/api/v1/trades", params={"account_id": account_id}, headers=headers)).json()["items"]
    assert len(trades) == 2

    twice = await client.post(f"/api/v1/imports/{removed['id']}/revert", headers=headers)
    assert twice.status_code == 409
    assert twice.json()["error"] == "Conflict"
    # Reverted, the same file may be imported again.
    again = await imported(client, headers, account_id, zerodha_file(round_trips(300, 3)))
    assert again["duplicate_of"] is None and again["counts"]["accepted"] == 6


async def test_a_fatal_error_and_a_cancel_leave_nothing(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    # 6,000 good rows (three batches), then a line too long to be a row: the file fails after
    # batches were staged.
    good = round_trips(1000, 3_000)
    broken = zerodha_file(good) + b"x" * 1_100_000 + b"\n"
    failed = await imported(client, headers, account_id, broken)
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "LineTooLong"
    assert await executions_of(client, headers, account_id) == []

    response = await upload(client, headers, account_id, zerodha_file(round_trips(100_000, 60_000)))
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]

    async def running() -> bool:
        body = (await client.get(f"/api/v1/imports/{import_id}", headers=headers)).json()
        return bool(body["status"] == "staging" and body["counts"]["rows"] > 0)

    await eventually(running, timeout=120, interval=0.05)
    cancel = await client.post(f"/api/v1/imports/{import_id}/cancel", headers=headers)
    assert cancel.status_code == 202, cancel.text
    cancelled = await finished(client, headers, import_id)
    assert cancelled["status"] == "cancelled"
    await asyncio.sleep(3)  # trades applies the discard after the last batch
    assert await executions_of(client, headers, account_id) == []
    late = await client.post(f"/api/v1/imports/{import_id}/cancel", headers=headers)
    assert late.status_code == 409


async def test_progress_streams_as_server_sent_events_until_the_end(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    response = await upload(client, headers, account_id, zerodha_file(round_trips(0, 10_000)))
    assert response.status_code == 202
    import_id = response.json()["id"]
    events: list[tuple[str, Any]] = []
    async with client.stream("GET", f"/api/v1/imports/{import_id}/events", headers=headers, timeout=90) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = None
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name is not None:
                events.append((name, json.loads(line.removeprefix("data: "))))
    names = [n for n, _ in events]
    assert names[-1] == "completed", names
    assert names.count("completed") == 1
    assert events[-1][1]["counts"]["accepted"] == 20_000
    assert all(n == "progress" for n in names[:-1])


async def test_over_size_unknown_format_and_bad_requests(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    limit = 50 * 1024 * 1024
    too_big = await upload(client, headers, account_id, b"a" * (limit + 1))
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "PayloadTooLarge"

    unknown = await imported(client, headers, account_id, b"Foo,Bar,Baz\n1,2,3\n")
    assert unknown["status"] == "failed"
    assert unknown["error"]["code"] == "UnknownFormat"
    assert "Foo, Bar, Baz" in unknown["error"]["detail"]

    empty = await upload(client, headers, account_id, b"")
    assert empty.status_code == 400
    bad_format = await upload(client, headers, account_id, b"a,b\n", format="no_such_format")
    assert bad_format.status_code == 422
    assert bad_format.json()["error"] == "UnknownFormat"
    no_account = await upload(client, headers, str(uuid.uuid4()), zerodha_file([zerodha_row(1)]))
    assert no_account.status_code == 404


async def test_a_saved_column_mapping_reads_later_files_with_that_header(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    header = ["Traded On", "Instrument", "B/S", "Units", "Rate"]
    content = ",".join(header) + "\n2026-06-05 09:20:00,WIPRO,BUY,10,250.5\n2026-06-05 10:20:00,WIPRO,SELL,10,251\n"
    unknown = await imported(client, headers, account_id, content.encode())
    assert unknown["error"]["code"] == "UnknownFormat"

    mapping = {"datetime": "Traded On", "symbol": "Instrument", "side": "B/S", "quantity": "Units", "price": "Rate"}
    saved = await client.post(
        "/api/v1/imports/mappings",
        json={"headers": header, "mapping": mapping, "timezone": "Asia/Kolkata"},
        headers=headers,
    )
    assert saved.status_code == 201, saved.text
    listed = (await client.get("/api/v1/imports/mappings", headers=headers)).json()["items"]
    assert [m["mapping"] for m in listed] == [mapping]

    later = content.replace("WIPRO", "ITC")
    done = await imported(client, headers, account_id, later.encode())
    assert done["status"] == "completed", done
    assert done["format"] == "mapped"
    assert done["counts"]["accepted"] == 2

    bad = await client.post(
        "/api/v1/imports/mappings", json={"headers": header, "mapping": {"colour": "Rate"}}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["error"] == "InvalidMapping"


async def test_another_users_import_is_not_found(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    headers, account_id = await new_trader(client)
    other, _ = await new_trader(client)
    done = await imported(client, headers, account_id, zerodha_file([zerodha_row(1, qty="=2")]))
    path = f"/api/v1/imports/{done['id']}"
    for method, url in (
        ("GET", path),
        ("GET", f"{path}/errors"),
        ("GET", f"{path}/events"),
        ("POST", f"{path}/revert"),
        ("POST", f"{path}/cancel"),
    ):
        response = await client.request(method, url, headers=other)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"] == "NotFound"
    assert (await client.get("/api/v1/imports", headers=other)).json()["items"] == []
    # Nor can a file be imported into someone else's account.
    foreign = await upload(client, other, account_id, zerodha_file([zerodha_row(1)]))
    assert foreign.status_code == 404


async def test_gates_flag_off_and_a_plan_without_imports(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    from tests.test_apikeys import publish_plan
    from tj_common.contracts.billing import Entitlements
    from tj_gateway.flags import set_flag
    from tj_gateway.settings import Settings

    headers, account_id = await new_trader(client)
    content = zerodha_file([zerodha_row(1)])
    settings = Settings()
    redis = aioredis.from_url(settings.redis_url)
    await set_flag(redis, settings, "ENABLE_CSV_IMPORT", False)
    try:

        async def refused() -> httpx.Response | None:
            response = await upload(client, headers, account_id, content)
            return response if response.status_code == 403 else None

        off = await eventually(refused, timeout=30)
        assert off.json()["error"] == "FeatureDisabled"
        assert "ENABLE_CSV_IMPORT" in off.json()["detail"]
    finally:
        await set_flag(redis, settings, "ENABLE_CSV_IMPORT", None)
        await redis.aclose()

    me = (await client.get("/api/v1/me", headers=headers)).json()
    no_imports = Entitlements(imports_allowed=False)
    await publish_plan(me["user"]["id"], 10, plan="basic_monthly", limits=no_imports)

    async def payment_required() -> httpx.Response | None:
        response = await upload(client, headers, account_id, content)
        return response if response.status_code == 402 else None

    refused_by_plan = await eventually(payment_required, timeout=30)
    assert refused_by_plan.json()["error"] == "PlanRequired"
    assert "imports_allowed" in refused_by_plan.json()["detail"]
    # (Uploads made while a gateway still had the old flag or plan cached went through.) A refused
    # upload starts nothing.
    before = len((await client.get("/api/v1/imports", headers=headers)).json()["items"])
    assert (await upload(client, headers, account_id, content)).status_code == 402
    await asyncio.sleep(1)
    assert len((await client.get("/api/v1/imports", headers=headers)).json()["items"]) == before
