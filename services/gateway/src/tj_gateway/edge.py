"""The gateway's edge middleware (DESIGN §6), all pure ASGI so no request is buffered:

- security headers on every response (HSTS only in production, where TLS terminates in front);
- CORS for the configured browser origins (``CORS_ORIGINS``; empty: none);
- ``MAINTENANCE_MODE``: 503 with ``Retry-After`` except health and metrics, read at runtime from
  the flags (Redis over the environment, :mod:`tj_gateway.flags`);
- ``MAX_REQUEST_BYTES``: 413 when the declared ``Content-Length`` is larger, or when a body sent
  without one (chunked) grows past it while it is read;
- the ``RateLimit-*`` headers of the checks a request passed (:mod:`tj_gateway.ratelimit`);
- the read cache of :mod:`tj_gateway.cache`.

Installed between the runtime's request middleware and its innermost :class:`UnhandledErrorMiddleware`,
so every answer here carries the request id (in the ``X-Request-ID`` header and the error body), and a
500 for an unhandled exception goes out through all of them (CORS, rate-limit headers). The security
headers go outermost, on every answer the process gives, the request middleware's own 500 included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable

import redis.asyncio as aioredis
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tj_common.errors import UnhandledErrorMiddleware, error_body
from tj_common.settings import ServiceSettings
from tj_gateway.cache import ReadCacheMiddleware

# Answered during maintenance: load balancers and Prometheus must keep seeing the process.
MAINTENANCE_EXEMPT = frozenset({"/api/health", "/health", "/metrics"})
MAINTENANCE_RETRY_AFTER = 300
HSTS = "max-age=63072000; includeSubDomains"


def security_headers(production: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if production:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


async def send_error(
    send: Send, status: int, error: str, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps(error_body(error, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, production: bool = False) -> None:
        self.app = app
        self.headers = security_headers(production)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
            await send(message)

        await self.app(scope, receive, send_with_headers)


class MaintenanceMiddleware:
    def __init__(self, app: ASGIApp, enabled: bool = False, retry_after: int = MAINTENANCE_RETRY_AFTER) -> None:
        self.app = app
        self.enabled = enabled
        self.retry_after = retry_after

    async def _enabled(self, scope: Scope) -> bool:
        flags = getattr(getattr(scope.get("app"), "state", None), "flags", None)
        if flags is None:
            return self.enabled
        return bool(await flags.maintenance())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in MAINTENANCE_EXEMPT and await self._enabled(scope):
            await send_error(
                send,
                503,
                "ServiceUnavailable",
                "down for maintenance; try again later",
                [(b"retry-after", str(self.retry_after).encode())],
            )
            return
        await self.app(scope, receive, send)


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# Requests that enforce a limit of their own while they stream the body: the import upload
# (IMPORT_MAX_BYTES, tj_gateway.imports.upload).
OWN_BODY_LIMIT = frozenset({("POST", "/api/v1/imports")})


# A refused body no larger than this beyond the limit is read and discarded before the 413 goes
# out: closing a connection with unread data makes the kernel reset it, and the client may lose
# the answer. Larger ones are not worth reading; their clients may see a reset instead.
DRAIN_BYTES = 4 * 1024 * 1024
DRAIN_SECONDS = 5.0


async def drain(receive: Receive, limit: int | None = None) -> None:
    """Reads and drops the rest of a request body (at most ``limit`` bytes, ``DRAIN_SECONDS``)."""
    seen = 0

    async def read() -> None:
        nonlocal seen
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body", False) or (limit is not None and seen > limit):
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), DRAIN_SECONDS)


class BodySizeLimitMiddleware:
    """Refuses a request whose ``Content-Length`` is over the limit before reading any of it; a
    body without one is counted as it is read, and 413 is raised once it passes the limit (the
    error handlers render it), so nothing over the limit is ever buffered."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"], scope["path"]) not in OWN_BODY_LIMIT:
            length = declared_length(scope)
            if length is not None and length > self.max_bytes:
                if length <= self.max_bytes + DRAIN_BYTES:
                    await drain(receive)
                await send_error(
                    send,
                    413,
                    "PayloadTooLarge",
                    f"request body of {length} bytes is over the limit of {self.max_bytes}",
                    [(b"connection", b"close")],
                )
                return
            if length is None:
                receive = self._counting(receive)
        await self.app(scope, receive, send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    if message.get("more_body", False):
                        await drain(receive, DRAIN_BYTES)
                    raise HTTPException(413, f"request body is over the limit of {self.max_bytes} bytes")
            return message

        return counted


class RateLimitHeadersMiddleware:
    """Adds the ``RateLimit-*`` headers of the checks this request passed (kept on its state)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = scope.get("state", {}).get("ratelimit")
                if decision is not None:
                    headers = MutableHeaders(scope=message)
                    for name, value in decision.headers().items():
                        if name.lower() not in headers:
                            headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_limits)


EDGE_REDIS_CONNECTIONS = 256


def edge_redis(settings: ServiceSettings) -> aioredis.Redis:
    """The Redis client of the edge (rate limits, flags, read cache, entitlements): several calls
    per request, so a burst waits briefly for a pooled connection instead of failing at once as
    the default pool does when it runs out."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        password=settings.redis_token.get_secret_value() if settings.redis_token else None,
        max_connections=EDGE_REDIS_CONNECTIONS,
        timeout=2,
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    return aioredis.Redis(connection_pool=pool)


def install_edge(app: FastAPI, settings: ServiceSettings) -> None:
    """Adds the edge middleware around the runtime's (see the module's docstring)."""
    stack: list[Middleware] = []
    origins = settings.cors_origin_list
    if origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID", "If-None-Match"],
                expose_headers=[
                    "X-Request-ID",
                    "Retry-After",
                    "ETag",
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                ],
                max_age=600,
            )
        )
    stack.append(Middleware(MaintenanceMiddleware, enabled=settings.maintenance_mode))
    stack.append(Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes))
    stack.append(Middleware(RateLimitHeadersMiddleware))
    stack.append(Middleware(ReadCacheMiddleware))
    # user_middleware[0] is the outermost; the runtime's RequestMiddleware and UnhandledErrorMiddleware
    # are already in it.
    classes: list[object] = [m.cls for m in app.user_middleware]
    innermost = classes.index(UnhandledErrorMiddleware) if UnhandledErrorMiddleware in classes else len(classes)
    app.user_middleware[innermost:innermost] = stack
    app.user_middleware.insert(
        0, Middleware(SecurityHeadersMiddleware, production=settings.environment == "production")
    )
