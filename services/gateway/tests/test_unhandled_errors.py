"""An exception nothing handles, in the real gateway app (``create_app``, no infrastructure touched):
DESIGN §11's 500 body with the request id, the ``X-Request-ID`` header, the security headers and
CORS, whether it comes from an endpoint or from a middleware."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tj_gateway.main import create_app
from tj_gateway.settings import Settings

ORIGIN = "https://app.example.test"


class Flags:
    """Stands in for the Redis-backed flags (maintenance off, or failing)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def maintenance(self) -> bool:
        if self.fail:
            raise RuntimeError("flags unreadable")
        return False


def gateway(fail_flags: bool = False) -> FastAPI:
    app = create_app(Settings(cors_origins=ORIGIN))
    app.state.flags = Flags(fail=fail_flags)

    async def broken() -> dict[str, str]:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/_broken", broken, methods=["GET"])
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions (the default): an exception escaping the app would fail the test here.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def assert_internal_error(response: httpx.Response, request_id: str) -> None:
    assert response.status_code == 500
    assert response.json() == {"error": "InternalError", "detail": "unexpected error", "request_id": request_id}
    assert response.headers["x-request-id"] == request_id
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_an_endpoint_that_raises_answers_500_through_every_middleware() -> None:
    async with client(gateway()) as http:
        response = await http.get("/api/v1/_broken", headers={"X-Request-ID": "req-500-a", "Origin": ORIGIN})
        generated = await http.get("/api/v1/_broken")
    assert_internal_error(response, "req-500-a")
    assert response.headers["access-control-allow-origin"] == ORIGIN  # the browser may read it
    # Without a request id from the client, the one generated is in both places.
    assert generated.status_code == 500
    assert generated.json()["request_id"] == generated.headers["x-request-id"] != ""


async def test_a_middleware_that_raises_answers_500_too() -> None:
    async with client(gateway(fail_flags=True)) as http:
        response = await http.get("/api/v1/_broken", headers={"X-Request-ID": "req-500-b"})
    assert_internal_error(response, "req-500-b")


async def test_handled_errors_are_unchanged() -> None:
    async with client(gateway()) as http:
        response = await http.get("/api/v1/no-such-route", headers={"X-Request-ID": "req-404"})
    assert response.status_code == 404
    assert response.json()["request_id"] == "req-404" == response.headers["x-request-id"]
    assert response.headers["x-frame-options"] == "DENY"
