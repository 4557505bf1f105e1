"""Analytics (definitions in docs/metrics.md), read through the trades service's query API, over
the window of the caller's plan (``history_days``, see :mod:`tj_gateway.identity.limits`)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.identity.limits import history_since
from tj_gateway.queries import QueryClient

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

From = Annotated[datetime | None, Query(alias="from", description="ISO 8601; without an offset, UTC")]
To = Annotated[datetime | None, Query(alias="to", description="ISO 8601, exclusive; without an offset, UTC")]


@dataclasses.dataclass
class Filters:
    """The filters every analytics endpoint takes."""

    account_id: uuid.UUID | None = None
    symbol: str | None = None
    tag: str | None = None
    since: From = None
    until: To = None


AnalyticsFilters = Annotated[Filters, Depends()]


async def _read(request: Request, path: str, user: CurrentUser, f: Filters, **extra: str) -> dict[str, Any]:
    client: QueryClient = request.app.state.trades_queries
    since = await history_since(request, user.user_id, f.since)  # the plan's history_days
    params = {
        "user_id": str(user.user_id),
        "account_id": f.account_id,
        "symbol": f.symbol,
        "tag": f.tag,
        "from": since.isoformat() if since else None,
        "to": f.until.isoformat() if f.until else None,
        **extra,
    }
    return await client.get(f"/internal/analytics/{path}", params)


@router.get("/summary", summary="Win rate, profit factor, expectancy, drawdown, Sharpe, Sortino, R …")
async def summary(request: Request, user: CurrentUser, filters: AnalyticsFilters) -> dict[str, Any]:
    return await _read(request, "summary", user, filters)


@router.get("/equity-curve", summary="Cumulative net P&L after each closed trade, with drawdown")
async def equity_curve(request: Request, user: CurrentUser, filters: AnalyticsFilters) -> dict[str, Any]:
    return await _read(request, "equity-curve", user, filters)


@router.get("/calendar", summary="Net P&L per trading day (the account's time zone)")
async def calendar(request: Request, user: CurrentUser, filters: AnalyticsFilters) -> dict[str, Any]:
    return await _read(request, "calendar", user, filters)


@router.get("/breakdown", summary="Figures per symbol, tag, setup, weekday or hour of entry, or holding time")
async def breakdown(
    request: Request,
    user: CurrentUser,
    filters: AnalyticsFilters,
    by: Literal["symbol", "tag", "setup", "weekday", "hour", "holding_time"],
) -> dict[str, Any]:
    return await _read(request, "breakdown", user, filters, by=by)
