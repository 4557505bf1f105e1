"""Round-trip trades: reads through the trades service's query API; annotating a trade
(``PATCH``, ``trades.AnnotateTrade``) and recording a manual round trip (``POST``,
``trades.RecordManualTrade``) are commands, answered with the trade once trades confirms
(200 / 201), 202 with a status URL otherwise."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from tj_common.contracts import trades as contract
from tj_gateway.commands import COMMAND_RESPONSES, send_trades_command
from tj_gateway.executions.endpoints import IdempotencyKey, accepted, command_outcome
from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.queries import QueryClient

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


def _trades(request: Request) -> QueryClient:
    client: QueryClient = request.app.state.trades_queries
    return client


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _trade(request: Request, user: CurrentUser, trade_id: uuid.UUID | str) -> dict[str, Any]:
    return await _trades(request).get(f"/internal/trades/{trade_id}", {"user_id": str(user.user_id)})


@router.get("/trades", summary="Round-trip trades with net P&L, charges, R and holding time")
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
    responses={201: {"description": "Recorded: the trade"}, **WRITE_RESPONSES},
)
async def record_manual_trade(
    body: ManualTradeIn, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    payload = body.model_dump(mode="json", exclude_unset=True)
    command_id, event = await send_trades_command(
        request, user.user_id, contract.RECORD_MANUAL_TRADE, payload, idempotency_key
    )
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)  # raises the rejection, if it is one
    recorded = contract.ManualTradeRecorded.model_validate(event.payload)
    return JSONResponse(
        await _trade(request, user, recorded.trade_id),
        status_code=201,
        headers={"Location": f"/api/v1/trades/{recorded.trade_id}"},
    )


@router.get("/trades/{trade_id}", summary="One trade with its executions and annotation")
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
