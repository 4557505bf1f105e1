"""Round-trip trades and analytics, read through the trades service's query API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.queries import QueryClient

router = APIRouter(prefix="/api/v1", tags=["trades"])

From = Annotated[datetime | None, Query(alias="from", description="ISO 8601; without an offset, UTC")]
To = Annotated[datetime | None, Query(alias="to", description="ISO 8601, exclusive; without an offset, UTC")]


def _trades(request: Request) -> QueryClient:
    client: QueryClient = request.app.state.trades_queries
    return client


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@router.get("/trades", summary="Round-trip trades with net P&L, charges and holding time")
async def list_trades(
    request: Request,
    user: CurrentUser,
    account_id: uuid.UUID | None = None,
    symbol: str | None = None,
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
            "status": status,
            "side": side,
            "from": _iso(since),
            "to": _iso(until),
            "cursor": cursor,
            "limit": limit,
        },
    )


@router.get("/trades/{trade_id}", summary="One trade with its executions")
async def get_trade(request: Request, user: CurrentUser, trade_id: uuid.UUID) -> dict[str, Any]:
    return await _trades(request).get(f"/internal/trades/{trade_id}", {"user_id": str(user.user_id)})
