"""Round-trip trades: reads through the trades service's query API; annotating a trade
(``PATCH``, ``trades.AnnotateTrade``) and recording a manual round trip (``POST``,
``trades.RecordManualTrade``) are commands, answered with the trade once trades confirms
(200 / 201), 202 with a status URL otherwise."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from tj_common.contracts import trades as contract
from tj_common.errors import NotFound
from tj_gateway.commands import COMMAND_RESPONSES, send_trades_command
from tj_gateway.executions.endpoints import EXECUTIONS_LIMIT, IdempotencyKey, accepted, command_outcome
from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.identity.limits import executions_quota, history_since, storage_quota
from tj_gateway.journal.endpoints import router as journal_router
from tj_gateway.queries import QueryClient
from tj_gateway.trades import attachments

router = APIRouter(prefix="/api/v1", tags=["trades"])

From = Annotated[datetime | None, Query(alias="from", description="ISO 8601; without an offset, UTC")]
To = Annotated[datetime | None, Query(alias="to", description="ISO 8601, exclusive; without an offset, UTC")]

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMAND_RESPONSES,
    404: {"description": "No such trade (or account) of yours"},
    422: {"description": "Invalid field"},
}


class TradeAnnotationIn(contract.TradeAnnotationChanges):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "initial_stop": "2940",
                    "target": "2980",
                    "setup": "opening range breakout",
                    "notes": "Waited for the **retest**.",
                    "tags": [{"name": "ORB", "kind": "setup"}, {"name": "late entry", "kind": "mistake"}],
                }
            ]
        }
    }


class ManualTradeIn(contract.RecordManualTrade):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "symbol": "RELIANCE",
                    "side": "long",
                    "quantity": "10",
                    "entry_price": "2950.50",
                    "entered_at": "2026-06-05T09:16:02+05:30",
                    "exit_price": "2961.25",
                    "exited_at": "2026-06-05T11:00:00+05:30",
                    "fees": "41.50",
                    "initial_stop": "2940",
                    "tags": [{"name": "ORB", "kind": "setup"}],
                }
            ]
        }
    }


class AttachmentUploadIn(contract.AttachmentIn):
    model_config = {
        "json_schema_extra": {
            "examples": [{"filename": "RELIANCE-ORB-entry.png", "content_type": "image/png", "size": 248_316}]
        }
    }


def _trades(request: Request) -> QueryClient:
    client: QueryClient = request.app.state.trades_queries
    return client


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _trade(request: Request, user: CurrentUser, trade_id: uuid.UUID | str) -> dict[str, Any]:
    trade = await _trades(request).get(f"/internal/trades/{trade_id}", {"user_id": str(user.user_id)})
    trade["attachments"] = [
        attachments.public(request, contract.AttachmentOut.model_validate(a)) for a in trade.get("attachments", [])
    ]
    return trade


@router.get(
    "/trades",
    summary="Round-trip trades with net P&L, charges (by line, and their source), R and holding time",
    response_model=None,
    responses={200: {"model": contract.TradePage, "description": "A page of trades, newest opened first"}},
)
async def list_trades(
    request: Request,
    user: CurrentUser,
    account_id: uuid.UUID | None = None,
    symbol: str | None = None,
    tag: Annotated[str | None, Query(description="only trades carrying a tag of this name")] = None,
    status: Literal["open", "closed", "unmatched"] | None = None,
    side: Literal["long", "short"] | None = None,
    since: From = None,
    until: To = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    since = await history_since(request, user.user_id, since)  # the plan's history_days
    return await _trades(request).get(
        "/internal/trades",
        {
            "user_id": str(user.user_id),
            "account_id": account_id,
            "symbol": symbol,
            "tag": tag,
            "status": status,
            "side": side,
            "from": _iso(since),
            "to": _iso(until),
            "cursor": cursor,
            "limit": limit,
        },
    )


@router.post(
    "/trades",
    status_code=201,
    summary="Record a manual round trip (entry and optional exit become executions)",
    responses={201: {"description": "Recorded: the trade"}, **EXECUTIONS_LIMIT, **WRITE_RESPONSES},
)
async def record_manual_trade(
    body: ManualTradeIn, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    payload = body.model_dump(mode="json", exclude_unset=True)
    # The entry, and the exit if given, are executions of the month.
    async with executions_quota(request, user.user_id, len(body.executions()), idempotency_key) as write:
        command_id, event = await send_trades_command(
            request, user.user_id, contract.RECORD_MANUAL_TRADE, payload, idempotency_key
        )
        write.sent(command_id, event)
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)  # raises the rejection, if it is one
    recorded = contract.ManualTradeRecorded.model_validate(event.payload)
    return JSONResponse(
        await _trade(request, user, recorded.trade_id),
        status_code=201,
        headers={"Location": f"/api/v1/trades/{recorded.trade_id}"},
    )


@router.get(
    "/trades/{trade_id}",
    summary="One trade with its executions (each leg's charges), annotation and attachments",
    response_model=None,
    responses={200: {"model": contract.TradeDetailOut, "description": "The trade"}},
)
async def get_trade(request: Request, user: CurrentUser, trade_id: uuid.UUID) -> dict[str, Any]:
    return await _trade(request, user, trade_id)


@router.patch(
    "/trades/{trade_id}",
    summary="Annotate a trade: initial stop, target, setup, notes, tags (fields left out keep their value)",
    responses={200: {"description": "Updated: the trade"}, **WRITE_RESPONSES},
)
async def annotate_trade(
    trade_id: uuid.UUID,
    body: TradeAnnotationIn,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    payload = {"trade_id": str(trade_id), **body.model_dump(mode="json", exclude_unset=True)}
    command_id, event = await send_trades_command(
        request, user.user_id, contract.ANNOTATE_TRADE, payload, idempotency_key
    )
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)
    return JSONResponse(await _trade(request, user, trade_id), status_code=200)


@router.delete(
    "/trades/{trade_id}",
    status_code=204,
    summary="Delete a trade: its executions, annotation and attachments (the round trips are recomputed)",
    responses={
        204: {"description": "Deleted"},
        409: {"description": "An execution is shared (a flip)"},
        **WRITE_RESPONSES,
    },
)
async def delete_trade(
    trade_id: uuid.UUID, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> Response:
    payload = {"trade_id": str(trade_id)}
    command_id, event = await send_trades_command(
        request, user.user_id, contract.DELETE_TRADE, payload, idempotency_key
    )
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)
    deleted = contract.TradeDeleted.model_validate(event.payload)
    await attachments.delete_objects(request, deleted.object_keys)
    return Response(status_code=204)


@router.post(
    "/trades/{trade_id}/attachments",
    status_code=201,
    summary="Attach a screenshot: returns a presigned S3 PUT for the declared image type and size",
    responses={
        201: {"description": "The attachment (pending) and where to PUT the file"},
        402: {
            "description": "PlanLimitReached: the declared size and what you store would exceed your plan's "
            "attachment_storage_mb (or the plan includes no storage)"
        },
        **WRITE_RESPONSES,
    },
)
async def add_attachment(
    trade_id: uuid.UUID,
    body: AttachmentUploadIn,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    payload = {"trade_id": str(trade_id), **body.model_dump(mode="json")}
    async with storage_quota(request, user.user_id, body.size, idempotency_key) as write:
        command_id, event = await send_trades_command(
            request, user.user_id, contract.ADD_ATTACHMENT, payload, idempotency_key
        )
        write.sent(command_id, event)
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)
    added = contract.AttachmentAdded.model_validate(event.payload).attachment
    return JSONResponse(
        {"attachment": attachments.public(request, added), "upload": attachments.upload(request, added)},
        status_code=201,
        headers={"Location": f"/api/v1/trades/{trade_id}"},
    )


@router.post(
    "/trades/{trade_id}/attachments/{attachment_id}/confirm",
    summary="After the PUT: checks the stored object (an image, within the size limit) and lists it on the trade",
    responses={
        200: {"description": "The attachment, uploaded"},
        409: {"description": "Nothing uploaded yet"},
        413: {"description": "Larger than declared or than the limit (the object is removed)"},
        422: {"description": "Not an image of the declared type (the object is removed)"},
        **WRITE_RESPONSES,
    },
)
async def confirm_attachment(
    trade_id: uuid.UUID,
    attachment_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    found = contract.AttachmentOut.model_validate(
        await _trades(request).get(f"/internal/attachments/{attachment_id}", {"user_id": str(user.user_id)})
    )
    if found.trade_id != trade_id:
        raise NotFound("attachment not found")
    size = await attachments.check_object(request, found)
    payload = {"attachment_id": str(attachment_id), "size": size}
    command_id, event = await send_trades_command(
        request, user.user_id, contract.CONFIRM_ATTACHMENT, payload, idempotency_key
    )
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)
    confirmed = contract.AttachmentConfirmed.model_validate(event.payload).attachment
    return JSONResponse(attachments.public(request, confirmed), status_code=200)


@router.delete(
    "/trades/{trade_id}/attachments/{attachment_id}",
    status_code=204,
    summary="Remove an attachment and its stored object",
    responses={204: {"description": "Deleted"}, **WRITE_RESPONSES},
)
async def delete_attachment(
    trade_id: uuid.UUID,
    attachment_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    found = contract.AttachmentOut.model_validate(
        await _trades(request).get(f"/internal/attachments/{attachment_id}", {"user_id": str(user.user_id)})
    )
    if found.trade_id != trade_id:
        raise NotFound("attachment not found")
    payload = {"attachment_id": str(attachment_id)}
    command_id, event = await send_trades_command(
        request, user.user_id, contract.DELETE_ATTACHMENT, payload, idempotency_key
    )
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)
    deleted = contract.AttachmentDeleted.model_validate(event.payload).attachment
    await attachments.delete_objects(request, [deleted.object_key])
    return Response(status_code=204)


router.include_router(journal_router)
