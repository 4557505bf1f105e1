"""Analytics (definitions in docs/metrics.md), read through the trades service's query API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.queries import QueryClient

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

From = Annotated[datetime | None, Query(alias="from", description="ISO 8601; without an offset, UTC")]
To = Annotated[datetime | None, Query(alias="to", description="ISO 8601, exclusive; without an offset, UTC")]


async def _read(request: Request, path: str, user: CurrentUser, filters: dict[str, Any]) -> dict[str, Any]:
    client: QueryClient = request.app.state.trades_queries
    params = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items()}
    return await client.get(f"/internal/analytics/{path}", {"user_id": str(user.user_id), **params})


@router.get("/summary", summary="Win rate, profit factor, expectancy, drawdown, Sharpe, Sortino, R …")
async def summary(
    request: Request,
    user: CurrentUser,
    account_id: uuid.UUID | None = None,
    symbol: str | None = None,
    tag: str | None = None,
    since: From = None,
    until: To = None,
) -> dict[str, Any]:
    return await _read(
        request, "summary", user, {"account_id": account_id, "symbol": symbol, "tag": tag, "from": since, "to": until}
    )


@router.get("/equity-curve", summary="Cumulative net P&L after each closed trade, with drawdown")
async def equity_curve(
    request: Request,
    user: CurrentUser,
    account_id: uuid.UUID | None = None,
    symbol: str | None = None,
    tag: str | None = None,
    since: From = None,
    until: To = None,
) -> dict[str, Any]:
    filters = {"account_id": account_id, "symbol": symbol, "tag": tag, "from": since, "to": until}
    return await _read(request, "equity-curve", user, filters)


@router.get("/calendar", summary="Net P&L per trading day (the account's time zone)")
async def calendar(
    request: Request,
    user: CurrentUser,
    account_id: uuid.UUID | None = None,
    symbol: str | None = None,
    tag: str | None = None,
    since: From = None,
    until: To = None,
) -> dict[str, Any]:
    return await _read(
        request, "calendar", user, {"account_id": account_id, "symbol": symbol, "tag": tag, "from": since, "to": until}
    )


@router.get("/breakdown", summary="Figures per symbol, tag, setup, weekday or hour of entry, or holding time")
async def breakdown(
    request: Request,
    user: CurrentUser,
    by: Literal["symbol", "tag", "setup", "weekday", "hour", "holding_time"],
    account_id: uuid.UUID | None = None,
    symbol: str | None = None,
    tag: str | None = None,
    since: From = None,
    until: To = None,
) -> dict[str, Any]:
    filters = {"by": by, "account_id": account_id, "symbol": symbol, "tag": tag, "from": since, "to": until}
    return await _read(request, "breakdown", user, filters)
