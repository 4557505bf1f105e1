"""``/api/v1/imports``: upload a broker file, follow its import, read its row errors, revert or
cancel it, and save column mappings for files of unknown layout.

Writes are commands on ``imports.commands`` (the imports service owns the jobs); reads go to the
imports service's internal query API, always with the caller's user id, so another user's import
is a 404. Progress streams as Server-Sent Events from that same API, polled, so any gateway
replica can serve any stream.

Gates: ``ENABLE_CSV_IMPORT`` off → 403 ``FeatureDisabled``; a plan without ``imports_allowed`` →
402 ``PlanRequired`` (both from :mod:`tj_gateway.identity.entitlements`); an upload while the month's
``executions_per_month`` are used up → 402 ``PlanLimitReached`` (:mod:`tj_gateway.identity.limits`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tj_common.contracts import imports as contract
from tj_common.envelope import Envelope, command_id_for
from tj_common.errors import AppError, BadRequest, Conflict, Forbidden, NotFound
from tj_common.runtime import Runtime
from tj_common.topics import IMPORTS_COMMANDS
from tj_gateway.commands import COMMAND_RESPONSES, CommandBus
from tj_gateway.executions.endpoints import IdempotencyKey
from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.identity.limits import check_import_quota
from tj_gateway.imports.upload import read_upload, store
from tj_gateway.queries import QueryClient

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])

FINAL = frozenset(contract.FINAL_STATUSES)
SSE_POLL_SECONDS = 0.5
SSE_KEEPALIVE_SECONDS = 15.0
SSE_MAX_SECONDS = 3600.0
# Leading characters a spreadsheet would run as a formula (OWASP: CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

GATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    402: {
        "description": "PlanRequired: your plan does not include imports; or, at upload, PlanLimitReached: "
        "this month's executions_per_month are used up"
    },
    403: {"description": "FeatureDisabled: imports are turned off on this deployment (ENABLE_CSV_IMPORT)"},
}

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "account_id"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the broker's trade file"},
                        "account_id": {"type": "string", "format": "uuid"},
                        "format": {"type": "string", "description": "a format name (GET /api/v1/imports/formats)"},
                        "timezone": {
                            "type": "string",
                            "description": "IANA zone of the file's times, if not the broker's",
                        },
                    },
                    "examples": [
                        {
                            "file": "tradebook-NSE-2026-11.csv",
                            "account_id": "3f1c2a9e-5b7d-4c21-9a0e-6d2b8f4e1c07",
                            "format": "zerodha",
                            "timezone": "Asia/Kolkata",
                        }
                    ],
                }
            }
        },
    }
}


class ColumnMappingIn(contract.SaveColumnMapping):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "headers": ["Trade Date", "Scrip", "Exch", "Buy/Sell", "Qty", "Rate", "Brokerage", "Trade No"],
                    "mapping": {
                        "date": "Trade Date",
                        "symbol": "Scrip",
                        "exchange": "Exch",
                        "side": "Buy/Sell",
                        "quantity": "Qty",
                        "price": "Rate",
                        "fees": "Brokerage",
                        "broker_trade_id": "Trade No",
                        "date_format": "%d-%m-%Y",
                    },
                    "timezone": "Asia/Kolkata",
                    "name": "Sharekhan contract notes",
                }
            ]
        }
    }


def _imports(request: Request) -> QueryClient:
    client: QueryClient = request.app.state.imports_queries
    return client


def _trades(request: Request) -> QueryClient:
    client: QueryClient = request.app.state.trades_queries
    return client


async def require_imports(request: Request, user_id: uuid.UUID) -> None:
    """403 when the deployment turned imports off, 402 when the plan does not include them."""
    state = request.app.state
    if hasattr(state, "entitlements") and hasattr(state, "flags"):
        from tj_gateway.identity.entitlements import csv_import_allowed

        await csv_import_allowed(request, user_id)
        return
    runtime: Runtime = state.runtime
    if not runtime.settings.enable_csv_import:
        raise Forbidden("imports are turned off on this deployment (ENABLE_CSV_IMPORT)", code="FeatureDisabled")


async def _send(request: Request, command: Envelope, wait: float | None = None) -> Envelope | None:
    bus: CommandBus = request.app.state.commands
    return await bus.send(IMPORTS_COMMANDS.name, command, wait=wait)


def _raise_rejection(event: Envelope) -> None:
    if event.type == contract.COMMAND_REJECTED:
        rejected = contract.CommandRejected.model_validate(event.payload)
        error = AppError(rejected.detail, code=rejected.error)
        error.status_code = rejected.status
        raise error


async def _import_of(request: Request, user_id: uuid.UUID, import_id: uuid.UUID) -> dict[str, Any]:
    try:
        return await _imports(request).get(f"/internal/imports/{import_id}", {"user_id": str(user_id)})
    except NotFound:
        raise NotFound("import not found") from None


@router.post(
    "",
    status_code=202,
    summary="Import a broker trade file",
    description=(
        "Multipart upload (`file`, `account_id`, optional `format` and `timezone`). The file goes to "
        "storage and the import runs in the background: 202 with the import's id and status; follow "
        "it at `GET /api/v1/imports/{id}` or `/events`. The same file imported again into the same "
        "account adds nothing: that import completes at once with `duplicate_of` naming the first and "
        "the first's rows counted as duplicates (zero while the first is still running). The file's "
        "format and row errors are found by the import itself: see its status."
    ),
    openapi_extra=UPLOAD_BODY,
    responses={
        202: {"description": "Accepted: `{id, status, status_url, events_url}`"},
        400: {"description": "Not a multipart upload, no file, or an empty file"},
        404: {"description": "No such account of yours"},
        413: {"description": "The file is over IMPORT_MAX_BYTES"},
        422: {"description": "Unknown format name"},
        **GATE_RESPONSES,
        503: COMMAND_RESPONSES[503],
    },
)
async def start_import(request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    await require_imports(request, user.user_id)
    # The month's executions used up: refused before the file is read (its rows are not counted
    # here, so one import may take the month past the limit; see tj_gateway.identity.limits).
    repeat_of = command_id_for(user.user_id, idempotency_key) if idempotency_key else None
    await check_import_quota(request, user.user_id, repeat_of)
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    upload = await read_upload(request, settings.import_max_bytes)
    try:
        try:
            account_id = uuid.UUID(upload.fields.get("account_id", ""))
        except ValueError:
            raise BadRequest("account_id is required: the id of one of your accounts") from None
        accounts = await _trades(request).get("/internal/accounts", {"user_id": str(user.user_id)})
        if str(account_id) not in {a["id"] for a in accounts.get("items", [])}:
            raise NotFound("account not found")
        format_name = upload.fields.get("format") or None
        if format_name is not None:
            formats = await _imports(request).get("/internal/formats", {})
            names = [f["name"] for f in formats["items"]]
            if format_name not in names:
                error = AppError(f"unknown format {format_name!r}; one of: {', '.join(names)}", code="UnknownFormat")
                error.status_code = 422
                raise error
        timezone = upload.fields.get("timezone") or None
        import_id = command_id_for(user.user_id, idempotency_key)
        # Its own object per upload: a retry under the same Idempotency-Key (the same import id)
        # never overwrites the file an import may be reading.
        key = f"imports/{user.user_id}/{import_id}/{uuid.uuid4().hex}"
        sha256 = await asyncio.to_thread(
            store, runtime.s3, settings.s3_bucket, key, upload.file.file, upload.file.content_type
        )
        size = upload.file.size or 0
    finally:
        await upload.file.close()
    payload = contract.StartImport(
        import_id=import_id,
        account_id=account_id,
        object_key=key,
        file_name=(upload.file.filename or None) and str(upload.file.filename)[:255],
        size=size,
        sha256=sha256,
        format=format_name,
        timezone=timezone,
    )
    command = Envelope(
        id=import_id,
        type=contract.START_IMPORT,
        user_id=user.user_id,
        correlation_id=import_id,
        payload=payload.model_dump(mode="json"),
    )
    event = await _send(request, command)
    body: dict[str, Any] = {
        "id": str(import_id),
        "status": "queued",
        "duplicate_of": None,
        "status_url": f"/api/v1/imports/{import_id}",
        "events_url": f"/api/v1/imports/{import_id}/events",
    }
    if event is not None:
        _raise_rejection(event)
        if event.type == contract.IMPORT_ACCEPTED:
            accepted = contract.ImportAccepted.model_validate(event.payload)
            body["status"] = accepted.status
            body["duplicate_of"] = str(accepted.duplicate_of) if accepted.duplicate_of else None
    return JSONResponse(body, status_code=202, headers={"Location": body["status_url"]})


@router.get("", summary="Your imports, newest first")
async def list_imports(
    request: Request,
    user: CurrentUser,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    return await _imports(request).get(
        "/internal/imports", {"user_id": str(user.user_id), "cursor": cursor, "limit": limit}
    )


@router.get("/formats", summary="The file formats imports read (detected by content)")
async def list_formats(request: Request, user: CurrentUser) -> dict[str, Any]:
    return await _imports(request).get("/internal/formats", {})


@router.get("/mappings", summary="Your saved column mappings")
async def list_mappings(request: Request, user: CurrentUser) -> dict[str, Any]:
    return await _imports(request).get("/internal/mappings", {"user_id": str(user.user_id)})


@router.post(
    "/mappings",
    status_code=201,
    summary="Save a column mapping for a file layout we do not recognise",
    description=(
        "`headers` is the file's header row as written; `mapping` maps our fields (`date` and `time`, "
        "or `datetime`; `symbol`, `side`, `quantity`, `price`, and the optional fields of "
        "docs/import-template.md; `date_format` for unusual dates) to those headers. Later uploads "
        "whose header matches (case, spaces and punctuation ignored) are read with it."
    ),
    responses={
        201: {"description": "Saved: the mapping"},
        422: {"description": "InvalidMapping: a field is unknown or a required one is missing"},
        **GATE_RESPONSES,
        **COMMAND_RESPONSES,
    },
)
async def save_mapping(
    body: ColumnMappingIn, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    await require_imports(request, user.user_id)
    command_id = command_id_for(user.user_id, idempotency_key)
    command = Envelope(
        id=command_id,
        type=contract.SAVE_COLUMN_MAPPING,
        user_id=user.user_id,
        correlation_id=command_id,
        payload=body.model_dump(mode="json"),
    )
    event = await _send(request, command)
    if event is None:
        return JSONResponse({"id": str(command_id), "status": "pending"}, status_code=202)
    _raise_rejection(event)
    saved = contract.ColumnMappingSaved.model_validate(event.payload)
    return JSONResponse(saved.mapping.model_dump(mode="json"), status_code=201)


@router.get("/{import_id}", summary="One import: status, detected format, counts")
async def get_import(request: Request, user: CurrentUser, import_id: uuid.UUID) -> dict[str, Any]:
    return await _import_of(request, user.user_id, import_id)


def _escape(cell: object) -> str:
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


@router.get(
    "/{import_id}/errors",
    summary="Row-level errors of an import (JSON, or CSV with Accept: text/csv)",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def import_errors(
    request: Request,
    user: CurrentUser,
    import_id: uuid.UUID,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    wants_csv = accept is not None and "text/csv" in accept.lower()
    params: dict[str, Any] = {"user_id": str(user.user_id), "cursor": cursor, "limit": 10_000 if wants_csv else limit}
    try:
        found = await _imports(request).get(f"/internal/imports/{import_id}/errors", params)
    except NotFound:
        raise NotFound("import not found") from None
    if not wants_csv:
        return JSONResponse(found)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "column", "reason", "raw"])
    for item in found["items"]:
        writer.writerow([item["line"], _escape(item["column"]), _escape(item["reason"]), _escape(item["raw"])])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'},
    )


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@router.get(
    "/{import_id}/events",
    summary="Progress of an import as Server-Sent Events, until it ends",
    description=(
        "`event: progress` with the import (as `GET /api/v1/imports/{id}`) whenever it changes, then "
        "one final event named after the end state (`completed`, `failed`, `cancelled` or "
        "`reverted`), and the stream closes."
    ),
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def import_events(request: Request, user: CurrentUser, import_id: uuid.UUID) -> StreamingResponse:
    first = await _import_of(request, user.user_id, import_id)

    async def stream() -> AsyncIterator[bytes]:
        current = first
        last_sent: str | None = None
        last_write = time.monotonic()
        started = last_write
        yield b"retry: 1000\n\n"
        while True:
            snapshot = json.dumps(current, sort_keys=True)
            if current["status"] in FINAL:
                yield _sse(current["status"], current)
                return
            if snapshot != last_sent:
                yield _sse("progress", current)
                last_sent = snapshot
                last_write = time.monotonic()
            elif time.monotonic() - last_write > SSE_KEEPALIVE_SECONDS:
                yield b": keep-alive\n\n"
                last_write = time.monotonic()
            if time.monotonic() - started > SSE_MAX_SECONDS or await request.is_disconnected():
                return
            await asyncio.sleep(SSE_POLL_SECONDS)
            try:
                current = await _import_of(request, user.user_id, import_id)
            except AppError:
                await asyncio.sleep(SSE_POLL_SECONDS)  # a blip of the imports service: keep waiting

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _state_command(
    request: Request, user_id: uuid.UUID, import_id: uuid.UUID, type_: str, allowed: tuple[str, ...], verb: str
) -> JSONResponse:
    found = await _import_of(request, user_id, import_id)
    if found["status"] not in allowed:
        raise Conflict(f"the import is {found['status']}; only an import that is {' or '.join(allowed)} can be {verb}")
    command_id = uuid.uuid4()
    payload = {"import_id": str(import_id)}
    command = Envelope(id=command_id, type=type_, user_id=user_id, correlation_id=import_id, payload=payload)
    event = await _send(request, command, wait=0.5)
    if event is not None:
        _raise_rejection(event)
    url = f"/api/v1/imports/{import_id}"
    return JSONResponse(
        {"id": str(import_id), "status": "reverting" if verb == "reverted" else "cancelling", "status_url": url},
        status_code=202,
        headers={"Location": url},
    )


@router.post(
    "/{import_id}/revert",
    status_code=202,
    summary="Remove everything a completed import added (its round trips are recomputed)",
    responses={
        404: {"description": "No such import of yours"},
        409: {"description": "Not completed"},
        **GATE_RESPONSES,
    },
)
async def revert_import(request: Request, user: CurrentUser, import_id: uuid.UUID) -> JSONResponse:
    await require_imports(request, user.user_id)
    return await _state_command(request, user.user_id, import_id, contract.REVERT_IMPORT, ("completed",), "reverted")


@router.post(
    "/{import_id}/cancel",
    status_code=202,
    summary="Cancel a queued or running import: nothing of it is kept",
    responses={404: {"description": "No such import of yours"}, 409: {"description": "Already ended"}},
)
async def cancel_import(request: Request, user: CurrentUser, import_id: uuid.UUID) -> JSONResponse:
    return await _state_command(
        request, user.user_id, import_id, contract.CANCEL_IMPORT, ("queued", "parsing", "staging"), "cancelled"
    )
