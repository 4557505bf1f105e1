"""One error base class carrying its status, rendered everywhere as DESIGN §11's body:
``{"error": "<Code>", "detail": "...", "request_id": "..."}``.

An exception nothing handles becomes that body with 500 in :class:`UnhandledErrorMiddleware`, the
innermost middleware, so the answer still goes out through every other one (request id, security
headers, CORS); Starlette's own last resort (outside every middleware) is never reached.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sentry_sdk
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tj_common.telemetry import request_id_var

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    402: "PaymentRequired",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationError",
    429: "RateLimited",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class AppError(Exception):
    """``extra``: more fields of the error body, beside ``error``, ``detail`` and ``request_id``
    (e.g. the figures behind a plan limit)."""

    status_code = 400
    code: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}
        if code:
            self.code = code

    @property
    def error(self) -> str:
        return self.code or type(self).__name__


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class ServiceUnavailable(AppError):
    status_code = 503

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


def error_body(error: str, detail: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail, "request_id": request_id_var.get()}


INTERNAL_ERROR_DETAIL = "unexpected error"


async def send_internal_error(send: Send) -> None:
    """Sends DESIGN §11's 500 (the request id of the current request in the body)."""
    body = json.dumps(error_body("InternalError", INTERNAL_ERROR_DETAIL)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def report_unhandled(exc: BaseException) -> None:
    """Logs an exception nothing handled (with the request id of the log context) and hands it to
    Sentry (a no-op unless ``SENTRY_DSN`` is set), since it is answered and never re-raised."""
    log.error("unhandled error", exc_info=exc)
    sentry_sdk.capture_exception(exc)


async def guarded(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Runs ``app``; an exception before the response started is answered with the 500 body (after
    it, the response is cut off and the exception goes on, as nothing else can be sent)."""
    started = False

    async def tracking(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, receive, tracking)
    except Exception as exc:
        if started:
            raise
        report_unhandled(exc)
        await send_internal_error(send)


class UnhandledErrorMiddleware:
    """Pure ASGI: the innermost middleware of every service (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await guarded(self.app, scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        body = {**exc.extra, **error_body(exc.error, exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse(error_body("ValidationError", errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "HTTPError")
        return JSONResponse(
            error_body(code, exc.detail), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only reached by an app without UnhandledErrorMiddleware.
        log.exception("unhandled error")
        return JSONResponse(error_body("InternalError", INTERNAL_ERROR_DETAIL), status_code=500)
