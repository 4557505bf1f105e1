"""Tenancy (DESIGN §6): every endpoint of the OpenAPI document, called by user B with user A's ids,
answers 404 (or refuses) and changes nothing of A's; no answer to B carries any of A's ids.

The routes come from ``/api/openapi.json`` at run time, so an endpoint added later is covered
without touching this file. Path parameters named like A's resources get A's ids; an unknown
``*_id`` gets a random UUID (still must be 404). Bodies come from the schema's example, else a
minimal body built from the schema, with every id-like field set to A's.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.harness import auth, eventually, execution, signup
from tj_common.envelope import command_id_for
from tj_gateway.apikeys.keys import hash_api_key, new_api_key
from tj_gateway.settings import Settings

DAY = "2026-06-05"
MARKER = "tenancy-marker-" + uuid.uuid4().hex[:8]
# Not user-scoped: they take no ids of A's (credentials, the public plan list, Razorpay's calls).
SKIPPED_PREFIXES = ("/api/v1/auth/", "/api/webhooks/", "/api/health")
# Streams: B must get 404 at once, but A's stream is not snapshotted.
STREAM_SUFFIXES = ("/events",)
# Fields that may differ between two reads with nothing changed.
VOLATILE = {"request_id", "generated_at", "as_of", "now", "server_time"}


class Owner:
    def __init__(self, user: dict[str, Any]) -> None:
        self.user = user
        self.headers = auth(user["access_token"])
        self.ids: dict[str, str] = {}


async def create_resources(client: httpx.AsyncClient, owner: Owner) -> None:
    """A's account, executions, trades, a command, an attachment, a journal day, an API key."""
    headers = owner.headers
    account = await client.post("/api/v1/accounts", json={"name": f"A {MARKER}", "broker": "zerodha"}, headers=headers)
    assert account.status_code == 201, account.text
    owner.ids["account_id"] = account.json()["id"]
    key = f"tenancy-{uuid.uuid4().hex}"
    recorded = await client.post(
        "/api/v1/executions",
        json={
            "account_id": owner.ids["account_id"],
            "executions": [
                execution(side="buy"),
                {**execution(side="sell", price="2961.25"), "executed_at": "2026-06-05T11:00:00+05:30"},
            ],
        },
        headers={**headers, "Idempotency-Key": key},
    )
    assert recorded.status_code == 201, recorded.text
    owner.ids["command_id"] = str(command_id_for(uuid.UUID(owner.user["user"]["id"]), key))
    executions = (await client.get("/api/v1/executions", headers=headers)).json()["items"]
    owner.ids["execution_id"] = executions[0]["id"]
    manual = await client.post(
        "/api/v1/trades",
        json={
            "account_id": owner.ids["account_id"],
            "symbol": "TCS",
            "side": "long",
            "quantity": "5",
            "entry_price": "4100",
            "entered_at": "2026-06-05T09:20:00+05:30",
            "exit_price": "4120",
            "exited_at": "2026-06-05T10:20:00+05:30",
            "notes": MARKER,
        },
        headers=headers,
    )
    assert manual.status_code == 201, manual.text
    owner.ids["trade_id"] = manual.json()["id"]
    # Optional resources of other modules: best effort, a random id stands in when unavailable.
    attachment = await client.post(
        f"/api/v1/trades/{owner.ids['trade_id']}/attachments",
        json={"filename": "chart.png", "content_type": "image/png", "size_bytes": 1024},
        headers=headers,
    )
    if attachment.status_code in (200, 201) and "id" in attachment.json():
        owner.ids["attachment_id"] = attachment.json()["id"]
    await client.put(f"/api/v1/journal/{DAY}", json={"content": MARKER, "markdown": MARKER}, headers=headers)
    owner.ids["day"] = DAY
    # An API key straight into the table: creating one needs a paid plan (tested elsewhere).
    engine = create_async_engine(Settings().database_url)
    key_id = uuid.uuid4()
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO identity.api_keys (id, user_id, name, prefix, key_hash, scopes)"
                    " VALUES (:id, :user_id, :name, :prefix, :hash, ARRAY['read'])"
                ),
                {
                    "id": key_id,
                    "user_id": owner.user["user"]["id"],
                    "name": MARKER,
                    "prefix": "tj_tenancy",
                    "hash": hash_api_key(new_api_key()),
                },
            )
    finally:
        await engine.dispose()
    owner.ids["key_id"] = str(key_id)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in spec["paths"].items():
        if path.startswith(SKIPPED_PREFIXES):
            continue
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path, op))
    return found


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def minimal(spec: dict[str, Any], schema: dict[str, Any], ids: dict[str, str], name: str = "") -> Any:
    """The smallest value the schema accepts, as far as a test can tell without knowing it."""
    schema = resolve(spec, schema)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return minimal(spec, options[0], ids, name) if options else None
    if "allOf" in schema:
        return minimal(spec, schema["allOf"][0], ids, name)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: minimal(spec, props[k], ids, k) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [minimal(spec, schema.get("items", {}), ids, name)] * max(1, schema.get("minItems", 1))
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "uuid" or name.endswith("_id"):
        return ids.get(name, str(uuid.uuid4()))
    if fmt == "date-time":
        return "2026-06-05T09:16:02+05:30"
    if fmt == "date":
        return DAY
    return "x" * max(1, schema.get("minLength", 1))


def with_ids(value: Any, ids: dict[str, str]) -> Any:
    """Every id-like field of a body example set to A's id."""
    if isinstance(value, dict):
        return {k: ids[k] if k in ids and k.endswith("_id") else with_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [with_ids(v, ids) for v in value]
    return value


def body_for(spec: dict[str, Any], op: dict[str, Any], ids: dict[str, str]) -> tuple[Any, bool]:
    """(JSON body or None, whether it came from a documented example)."""
    content = op.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    if media is None:
        return None, False
    example = media.get("example")
    if example is None and media.get("examples"):
        first = next(iter(media["examples"].values()))
        example = first.get("value") if isinstance(first, dict) else None
    schema = resolve(spec, media.get("schema", {}))
    if example is None and schema.get("examples"):
        example = schema["examples"][0]
    if example is not None:
        return with_ids(example, ids), True
    return minimal(spec, schema, ids), False


def fill_path(path: str, ids: dict[str, str]) -> tuple[str, bool]:
    """The path with A's ids (random UUIDs for unknown ``*_id``); whether all params are ids."""
    all_ids = True

    def one(match: re.Match[str]) -> str:
        nonlocal all_ids
        name = match.group(1)
        if name in ids:
            if not name.endswith("_id"):
                all_ids = False
            return ids[name]
        if name.endswith("_id") or name == "id":
            return str(uuid.uuid4())
        all_ids = False
        return "x"

    return re.sub(r"\{([^}]+)\}", one, path), all_ids


def query_for(spec: dict[str, Any], op: dict[str, Any], ids: dict[str, str]) -> dict[str, str]:
    """A's ids for id-like query parameters; a minimal value for other required ones."""
    query = {}
    for p in op.get("parameters", []):
        if p.get("in") != "query":
            continue
        if p["name"] in ids and p["name"].endswith("_id"):
            query[p["name"]] = ids[p["name"]]
        elif p.get("required"):
            query[p["name"]] = str(minimal(spec, p.get("schema", {}), ids, p["name"]))
    return query


def strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


async def snapshot(client: httpx.AsyncClient, spec: dict[str, Any], owner: Owner) -> dict[str, Any]:
    """Every GET A can make, with A's ids."""
    views: dict[str, Any] = {}
    for method, path, op in operations(spec):
        if method != "GET" or path.endswith(STREAM_SUFFIXES):
            continue
        url, _ = fill_path(path, owner.ids)
        try:
            response = await client.get(url, params=query_for(spec, op, owner.ids), headers=owner.headers, timeout=10)
        except httpx.TimeoutException:
            continue
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
            views[url] = strip_volatile(response.json())
    return views


async def test_user_b_cannot_see_or_touch_user_a(client: httpx.AsyncClient) -> None:
    owner = Owner(await signup(client))
    intruder = await signup(client)
    b_headers = auth(intruder["access_token"])
    await create_resources(client, owner)
    spec = (await client.get("/api/openapi.json")).json()

    async def settled() -> dict[str, Any] | None:
        first = await snapshot(client, spec, owner)
        await asyncio.sleep(1.0)
        second = await snapshot(client, spec, owner)
        return first if first == second else None

    before = await eventually(settled, timeout=30, interval=0.5)
    assert any(owner.ids["trade_id"] in json.dumps(v) for v in before.values()), "A's views must show A's data"
    a_values = {v for k, v in owner.ids.items() if k.endswith("_id")} | {MARKER}

    problems: list[str] = []
    checked = id_routes = 0
    for method, path, op in operations(spec):
        url, all_ids = fill_path(path, owner.ids)
        body, documented = body_for(spec, op, owner.ids) if method in ("POST", "PUT", "PATCH") else (None, True)
        try:
            response = await client.request(
                method,
                url,
                params=query_for(spec, op, owner.ids),
                json=body,
                headers={**b_headers, "Idempotency-Key": uuid.uuid4().hex},
                timeout=10,
            )
        except httpx.TimeoutException:
            problems.append(f"{method} {path}: no answer within 10 s")
            continue
        checked += 1
        text_body = response.text
        # An id B sent in the URL may be echoed (e.g. in a 404's detail); anything else of A's may not.
        leaked = sorted(v for v in a_values if v in text_body and v not in url)
        if leaked:
            problems.append(f"{method} {path}: answer to B carries A's {leaked}")
        if response.status_code >= 500:
            problems.append(f"{method} {path}: {response.status_code} {text_body[:200]}")
        if "{" in path and all_ids:
            id_routes += 1
            allowed = {404} if documented else {404, 422}
            if response.status_code not in allowed:
                problems.append(f"{method} {path}: {response.status_code} for B (want 404) {text_body[:200]}")
        elif "{" not in path and method == "GET" and response.status_code not in (200, 404, 402, 403):
            problems.append(f"{method} {path}: {response.status_code} {text_body[:200]}")
    assert checked >= 20, f"only {checked} operations checked; is the OpenAPI document complete?"
    assert id_routes >= 8, f"only {id_routes} operations took A's ids in their path"

    await asyncio.sleep(1.0)  # anything B's commands might have done has reached the read side
    after = await snapshot(client, spec, owner)
    for url, view in before.items():
        if after.get(url) != view:
            problems.append(f"A's {url} changed after B's calls")
    assert not problems, "\n".join(problems)
