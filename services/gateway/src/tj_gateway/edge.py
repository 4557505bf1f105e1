"""The gateway's edge middleware (DESIGN §6), all pure ASGI so no request is buffered:

- security headers on every response (HSTS only in production, where TLS terminates in front);
- CORS for the configured browser origins (``CORS_ORIGINS``; empty: none);
- ``MAINTENANCE_MODE``: 503 with ``Retry-After`` except health and metrics;
- ``MAX_REQUEST_BYTES``: 413 when the declared ``Content-Length`` is larger.

Installed inside the runtime's request middleware, so every answer here still carries the request
id (in the ``X-Request-ID`` header and the error body).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tj_common.errors import error_body
from tj_common.settings import ServiceSettings

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.enabled and scope["type"] == "http" and scope["path"] not in MAINTENANCE_EXEMPT:
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


class BodySizeLimitMiddleware:
    """Refuses a request whose ``Content-Length`` is over the limit before reading any of it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = declared_length(scope)
            if length is not None and length > self.max_bytes:
                await send_error(
                    send,
                    413,
                    "PayloadTooLarge",
                    f"request body of {length} bytes is over the limit of {self.max_bytes}",
                    [(b"connection", b"close")],
                )
                return
        await self.app(scope, receive, send)


def install_edge(app: FastAPI, settings: ServiceSettings) -> None:
    """Adds the edge middleware inside the runtime's request middleware (outermost first)."""
    stack = [Middleware(SecurityHeadersMiddleware, production=settings.environment == "production")]
    origins = settings.cors_origin_list
    if origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            )
        )
    stack.append(Middleware(MaintenanceMiddleware, enabled=settings.maintenance_mode))
    stack.append(Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes))
    # user_middleware[0] is the outermost; the runtime's RequestMiddleware is already in it.
    app.user_middleware.extend(stack)
