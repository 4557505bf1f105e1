"""Analytics over a user's closed trades (definitions: docs/metrics.md, version 1): the summary,
the equity curve, the daily calendar and breakdowns. Derived on read from the round trips."""

from __future__ import annotations

import dataclasses
import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from tj_common.runtime import Runtime
from tj_trades import projection, repository, tradebook
from tj_trades import summary as stored_summary
from tj_trades.cache import AnalyticsCache
from tj_trades.domain import metrics
from tj_trades.domain.metrics import ClosedTrade, MetricsConfig
from tj_trades.queries import round_trips_of, utc

router = APIRouter(prefix="/internal/analytics", tags=["internal"])
REFRESH_WAIT_SECONDS = 2.0

From = Annotated[datetime | None, Query(alias="from")]
To = Annotated[datetime | None, Query(alias="to")]
BREAKDOWNS: dict[str, Callable[[list[ClosedTrade], MetricsConfig], list[metrics.Bucket]]] = {
    "symbol": metrics.by_symbol,
    "tag": metrics.by_tag,
    "weekday": metrics.by_entry_weekday,
    "hour": metrics.by_entry_hour,
    "holding_time": metrics.by_holding_time,
}


def jsonable(value: Any) -> Any:
    """Dataclasses to JSON: money and ratios as decimal strings, times ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


async def annotated_closed_trades(
    request: Request,
    user_id: uuid.UUID,
    account_id: uuid.UUID | None,
    symbol: str | None,
    since: datetime | None,
    until: datetime | None,
    tag: str | None = None,
) -> tuple[list[ClosedTrade], dict[str, str], MetricsConfig]:
    """The closed trades of the filters (with their initial stops and tags, for R and the tag
    breakdown), and the setup of each annotated one by trade id."""
    trades, _, annotations, accounts = await round_trips_of(request, user_id, account_id, symbol)
    since, until = utc(since), utc(until)
    closed: list[ClosedTrade] = []
    setups: dict[str, str] = {}
    for t in trades:
        annotation = annotations.get(t.id)
        record = tradebook.closed_trade(t, annotation)
        if (
            record is None
            or not tradebook.has_tag(annotation, tag)
            or (since is not None and record.closed_at < since)
            or (until is not None and record.closed_at >= until)
        ):
            continue
        closed.append(record)
        if annotation is not None and annotation["setup"]:
            setups[record.trade_id] = annotation["setup"]
    return closed, setups, tradebook.metrics_config(accounts, account_id)


@dataclasses.dataclass
class Filters:
    """The filters every analytics endpoint takes (a FastAPI dependency)."""

    user_id: uuid.UUID
    account_id: uuid.UUID | None = None
    symbol: str | None = None
    tag: str | None = None
    since: From = None
    until: To = None


AnalyticsFilters = Annotated[Filters, Depends()]


async def closed_trades(request: Request, f: Filters) -> tuple[list[ClosedTrade], MetricsConfig]:
    closed, _, config = await annotated_closed_trades(
        request, f.user_id, f.account_id, f.symbol, f.since, f.until, f.tag
    )
    return closed, config


def cached(name: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Response]]]:
    """Serve the endpoint from the analytics cache (per user and version, keyed by the query)."""

    def wrap(compute: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Response]]:
        @functools.wraps(compute)
        async def endpoint(request: Request, filters: AnalyticsFilters, **extra: Any) -> Response:
            cache: AnalyticsCache | None = getattr(request.app.state, "analytics_cache", None)
            if cache is None:
                return Response(json.dumps(await compute(request, filters, **extra)), media_type="application/json")
            params = {**dataclasses.asdict(filters), **extra}
            body = await cache.get_or_compute(filters.user_id, name, params, lambda: compute(request, filters, **extra))
            return Response(body, media_type="application/json")

        return endpoint

    return wrap


@router.get("/summary")
@cached("analytics_summary")
async def summary(request: Request, filters: AnalyticsFilters) -> dict[str, Any]:
    f = filters
    if f.symbol is None and f.tag is None and f.since is None and f.until is None:
        # The common view (everything, or one account): from the stored projection.
        runtime: Runtime = request.app.state.runtime
        async with runtime.sessionmaker() as session, session.begin():
            # Up to date with every committed write, unless a long refresh of this user (a large
            # import) holds it: then the projection is read as it stands.
            await projection.refresh(session, f.user_id, wait=REFRESH_WAIT_SECONDS)
            accounts = await repository.account_settings(session, f.user_id)
            config = tradebook.metrics_config(accounts, f.account_id)
            if stored_summary.supported(config):
                found = await stored_summary.summary(session, f.user_id, f.account_id, config)
                if found is not None:
                    return found
    result: dict[str, Any] = jsonable(metrics.compute_metrics(*await closed_trades(request, filters)))
    return result


@router.get("/equity-curve")
@cached("analytics_equity_curve")
async def equity_curve(request: Request, filters: AnalyticsFilters) -> dict[str, Any]:
    return {"points": jsonable(metrics.equity_curve(*await closed_trades(request, filters)))}


@router.get("/calendar")
@cached("analytics_calendar")
async def calendar(request: Request, filters: AnalyticsFilters) -> dict[str, Any]:
    return {"days": jsonable(metrics.daily_series(*await closed_trades(request, filters)))}


Breakdown = Literal["symbol", "tag", "setup", "weekday", "hour", "holding_time"]


@router.get("/breakdown")
@cached("analytics_breakdown")
async def breakdown(request: Request, filters: AnalyticsFilters, by: Breakdown) -> dict[str, Any]:
    f = filters
    trades, setups, config = await annotated_closed_trades(
        request, f.user_id, f.account_id, f.symbol, f.since, f.until, f.tag
    )
    if by == "setup":  # a trade without a setup falls in no bucket
        buckets = metrics.breakdown(trades, lambda t: (setups[t.trade_id],) if t.trade_id in setups else (), config)
    else:
        buckets = BREAKDOWNS[by](trades, config)
    return {"by": by, "buckets": jsonable(buckets)}
