"""Span names from tj_common.routes: the route template, as OpenTelemetry's FastAPI instrumentor
names them, looked up once per path."""

from __future__ import annotations

import gc

from fastapi import APIRouter, FastAPI

from tj_common.routes import RouteNames
from tj_common.runtime import settle_heap


def _app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/api/v1")

    @router.get("/trades")
    async def trades() -> dict[str, str]:
        return {}

    @router.get("/trades/{trade_id}")
    async def trade(trade_id: str) -> dict[str, str]:
        return {}

    @router.post("/executions")
    async def executions() -> dict[str, str]:
        return {}

    app.include_router(router)
    return app


def scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def test_names_are_method_and_template() -> None:
    names = RouteNames(_app())
    assert names.span_details(scope("GET", "/api/v1/trades")) == (
        "GET /api/v1/trades",
        {"http.route": "/api/v1/trades"},
    )
    assert names.span_details(scope("GET", "/api/v1/trades/abc")) == (
        "GET /api/v1/trades/{trade_id}",
        {"http.route": "/api/v1/trades/{trade_id}"},
    )
    # A known path with another method: the partial match's template, as the instrumentor gives.
    assert names.span_details(scope("GET", "/api/v1/executions"))[0] == "GET /api/v1/executions"
    assert names.span_details(scope("GET", "/nowhere")) == ("GET", {})
    assert names.span_details(scope("BREW", "/api/v1/trades"))[0] == "HTTP /api/v1/trades"


def test_lookup_is_remembered_and_bounded() -> None:
    names = RouteNames(_app(), max_remembered=3)
    calls = 0
    route_of = names.route_of

    def counting(s: dict[str, object]) -> str | None:
        nonlocal calls
        calls += 1
        return route_of(s)

    names.route_of = counting  # type: ignore[method-assign]
    for _ in range(5):
        names.span_details(scope("GET", "/api/v1/trades"))
    assert calls == 1
    for i in range(10):
        names.span_details(scope("GET", f"/api/v1/trades/{i}"))
    assert len(names.remembered) <= 3


def test_settle_heap_freezes_what_is_alive() -> None:
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
