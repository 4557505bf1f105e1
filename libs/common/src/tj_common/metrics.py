"""Prometheus metrics every service exposes at ``/metrics`` (seed §6.2, DESIGN §7)."""

from __future__ import annotations

import time
import uuid

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tj_common.errors import guarded
from tj_common.telemetry import request_id_var

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
# Response caches (DESIGN §7): one pair per process, whichever layer caches (gateway reads, trades
# analytics); ``cache_key`` names what was cached.
CACHE_HITS = Counter("cache_hits_total", "Cache hits", ["cache_key"])
CACHE_MISSES = Counter("cache_misses_total", "Cache misses", ["cache_key"])
COMMANDS_PUBLISHED = Counter("tj_commands_published", "Commands published by the gateway", ["type", "outcome"])


class RequestMiddleware:
    """Pure ASGI middleware (no per-request task or body buffering): a request id on every
    response and log line, and ``http_request_duration_seconds`` labelled by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id" and len(value) <= 128:
                request_id = value.decode("latin-1")
                break
        request_id = request_id or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            # An exception out of a middleware (the innermost one answers the endpoints') is still
            # answered with DESIGN §11's 500 and this request id.
            await guarded(self.app, scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (scope["method"], route, str(status))
            HTTP_REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - start)
            HTTP_REQUESTS.labels(*labels).inc()


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
