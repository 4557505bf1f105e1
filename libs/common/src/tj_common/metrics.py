"""Prometheus metrics every service exposes at ``/metrics`` (seed §6.2, DESIGN §7)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Duration of HTTP requests in seconds",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter("http_requests", "HTTP requests by status", ["method", "route", "status"])
DB_QUERY_DURATION = Histogram(
    "db_query_duration_seconds",
    "Duration of database queries in seconds",
    ["operation", "table"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge("tj_consumer_lag", "Messages not yet applied, per partition", ["topic", "partition"])
CONSUMED_MESSAGES = Counter("tj_consumed_messages", "Messages applied by the consumer", ["topic", "outcome"])
OUTBOX_BACKLOG = Gauge("tj_outbox_backlog", "Outbox rows not yet published")
OUTBOX_PUBLISHED = Counter("tj_outbox_published", "Outbox rows published", ["topic"])
DEAD_LETTERS = Counter("tj_dead_letters", "Messages sent to a dead-letter topic", ["topic"])
COMMANDS_PUBLISHED = Counter("tj_commands_published", "Commands published by the gateway", ["type", "outcome"])


def route_template(request: Request) -> str:
    """The route's path template, so ids do not explode the label set."""
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return getattr(route, "path", request.url.path)
    return "unmatched"


async def metrics_middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    start = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route = route_template(request)
        labels = (request.method, route, str(status))
        HTTP_REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - start)
        HTTP_REQUESTS.labels(*labels).inc()


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
