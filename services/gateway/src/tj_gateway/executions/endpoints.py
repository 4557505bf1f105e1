"""Executions: ``POST`` publishes ``trades.RecordExecutions``; ``GET`` reads through trades."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from tj_common.contracts import trades as contract
from tj_common.envelope import Envelope
from tj_common.errors import AppError, NotFound
from tj_gateway.commands import COMMAND_RESPONSES, send_trades_command, sent_by
from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.identity.limits import executions_quota, history_since
from tj_gateway.queries import QueryClient

router = APIRouter(prefix="/api/v1", tags=["executions"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Repeat a write safely: the same key from the same user is applied once.",
    ),
]

EXAMPLE: dict[str, Any] = {
    "account_id": None,
    "executions": [
        {
            "symbol": "RELIANCE",
            "exchange": "NSE",
            "side": "buy",
            "quantity": "10",
            "price": "2950.50",
            "executed_at": "2026-06-05T09:16:02+05:30",
            "product": "MIS",
        }
    ],
}


class RecordExecutionsIn(contract.RecordExecutions):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE]}}


EXECUTIONS_LIMIT: dict[int | str, dict[str, Any]] = {
    402: {
        "description": "PlanLimitReached: your plan's executions_per_month (recorded this calendar month, UTC) "
        "would be exceeded; nothing was recorded"
    }
}


def _trades(request: Request) -> QueryClient:
    client: QueryClient = request.app.state.trades_queries
    return client


def command_outcome(command_id: uuid.UUID, event: Envelope) -> JSONResponse:
    if event.type == contract.COMMAND_REJECTED:
        rejected = contract.CommandRejected.model_validate(event.payload)
        error = AppError(rejected.detail, code=rejected.error)
        error.status_code = rejected.status
        raise error
    return JSONResponse(event.payload, status_code=201, headers={"Location": f"/api/v1/commands/{command_id}"})


def accepted(command_id: uuid.UUID) -> JSONResponse:
    url = f"/api/v1/commands/{command_id}"
    return JSONResponse(
        {"id": str(command_id), "status": "pending", "status_url": url},
        status_code=202,
        headers={"Location": url, "Retry-After": "1"},
    )


@router.post(
    "/executions",
    status_code=201,
    summary="Record executions (fills)",
    responses={
        201: {"description": "Stored: the executions as recorded"},
        **EXECUTIONS_LIMIT,
        **COMMAND_RESPONSES,
    },
)
async def record_executions(
    body: RecordExecutionsIn, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    # Unset fields stay out: a fill without a currency is in the account's base currency.
    payload = body.model_dump(mode="json", exclude_unset=True)
    async with executions_quota(request, user.user_id, len(body.executions), idempotency_key) as write:
        command_id, event = await send_trades_command(
            request, user.user_id, contract.RECORD_EXECUTIONS, payload, idempotency_key
        )
        write.sent(command_id, event)
    if event is None:
        return accepted(command_id)
    return command_outcome(command_id, event)


@router.get("/executions", summary="List executions, newest first")
async def list_executions(
    request: Request,
    user: CurrentUser,
    account_id: uuid.UUID | None = None,
    symbol: str | None = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    since = await history_since(request, user.user_id, since)  # the plan's history_days
    return await _trades(request).get(
        "/internal/executions",
        {
            "user_id": str(user.user_id),
            "account_id": account_id,
            "symbol": symbol,
            "from": since.isoformat() if since else None,
            "to": until.isoformat() if until else None,
            "cursor": cursor,
            "limit": limit,
        },
    )


@router.get("/commands/{command_id}", summary="What became of a command accepted with 202")
async def command_status(request: Request, user: CurrentUser, command_id: uuid.UUID) -> dict[str, Any]:
    status: dict[str, Any] = await _trades(request).get(
        f"/internal/commands/{command_id}", {"user_id": str(user.user_id)}
    )
    # Not applied for this user yet: pending only if this user sent it (another user's id, or an
    # id never sent, is 404 like every other id that is not yours).
    bus = request.app.state.commands
    if status.get("status") == "pending" and await sent_by(bus, command_id, user.user_id) is False:
        raise NotFound("no such command")
    return status


@router.delete(
    "/executions/{execution_id}",
    status_code=204,
    summary="Delete an execution (the round trips are recomputed)",
    responses={
        204: {"description": "Deleted"},
        404: {"description": "No such execution of yours"},
        **COMMAND_RESPONSES,
    },
)
async def delete_execution(
    execution_id: uuid.UUID, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> Response:
    payload = {"execution_id": str(execution_id)}
    command_id, event = await send_trades_command(
        request, user.user_id, contract.DELETE_EXECUTION, payload, idempotency_key
    )
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)
    return Response(status_code=204)
