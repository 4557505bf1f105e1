"""Entry point of the gateway: the public API under ``/api/v1``, health and metrics."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from tj_common.runtime import Runtime, serve
from tj_common.topics import TRADES_EVENTS
from tj_gateway.accounts.endpoints import router as accounts_router
from tj_gateway.analytics.endpoints import router as analytics_router
from tj_gateway.commands import CommandBus
from tj_gateway.edge import install_edge
from tj_gateway.executions.endpoints import router as executions_router
from tj_gateway.identity.endpoints import me_router
from tj_gateway.identity.endpoints import router as auth_router
from tj_gateway.identity.tokens import TokenService
from tj_gateway.models import metadata
from tj_gateway.queries import QueryClient
from tj_gateway.settings import Settings
from tj_gateway.trades.endpoints import router as trades_router


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings, metadata=metadata, tracer_provider=tracer_provider)
    commands = CommandBus(runtime, [TRADES_EVENTS.name])
    http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0), limits=httpx.Limits(max_connections=200))
    HTTPXClientInstrumentor.instrument_client(http, tracer_provider=runtime.tracer_provider)
    runtime.on_kafka_ready.append(commands.start)
    runtime.on_stop.append(commands.stop)
    runtime.on_stop.append(http.aclose)

    app = runtime.create_app(
        title="Trading Journal API",
        version="1.0.0",
        description="Log and import executions, review round-trip trades, study your edge.",
        routers=[auth_router, me_router, accounts_router, executions_router, trades_router, analytics_router],
        health_paths=("/api/health", "/health"),
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    install_edge(app, settings)
    app.state.tokens = TokenService(settings)
    app.state.commands = commands
    app.state.trades_queries = QueryClient(http, settings.trades_query_url, "trades")
    return app


def run() -> None:
    serve(create_app, Settings())


if __name__ == "__main__":
    run()
