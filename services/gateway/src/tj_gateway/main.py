"""Entry point of the gateway: the public API under ``/api/v1``, health and metrics."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from tj_common.envelope import Envelope
from tj_common.runtime import Runtime, serve
from tj_common.topics import IMPORTS_EVENTS, TRADES_EVENTS
from tj_gateway.accounts.endpoints import router as accounts_router
from tj_gateway.analytics.endpoints import router as analytics_router
from tj_gateway.apikeys.endpoints import router as api_keys_router
from tj_gateway.billing.endpoints import install_billing
from tj_gateway.cache import ReadCache
from tj_gateway.commands import CommandBus
from tj_gateway.edge import edge_redis, install_edge
from tj_gateway.executions.endpoints import router as executions_router
from tj_gateway.flags import Flags
from tj_gateway.identity import passwords
from tj_gateway.identity.billing_events import BillingEventsListener
from tj_gateway.identity.deletions import DeletionListener
from tj_gateway.identity.endpoints import me_router
from tj_gateway.identity.endpoints import router as auth_router
from tj_gateway.identity.entitlements import EntitlementStore
from tj_gateway.identity.tokens import TokenService
from tj_gateway.imports.endpoints import router as imports_router
from tj_gateway.models import metadata
from tj_gateway.queries import QueryClient
from tj_gateway.ratelimit import RateLimiter
from tj_gateway.secret_source import SecretSource, signing_key_reloader
from tj_gateway.settings import Settings
from tj_gateway.trades.endpoints import router as trades_router


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or Settings()
    secret_source = SecretSource(settings)
    settings = secret_source.apply(settings)
    passwords.configure(settings)
    runtime = Runtime(settings, metadata=metadata, tracer_provider=tracer_provider)
    commands = CommandBus(runtime, [TRADES_EVENTS.name, IMPORTS_EVENTS.name])
    http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0), limits=httpx.Limits(max_connections=200))
    HTTPXClientInstrumentor.instrument_client(http, tracer_provider=runtime.tracer_provider)
    runtime.on_kafka_ready.append(commands.start)
    runtime.on_stop.append(commands.stop)
    runtime.on_stop.append(http.aclose)
    deletions = DeletionListener(runtime.engine)
    runtime.on_stop.append(deletions.stop)

    app = runtime.create_app(
        title="Trading Journal API",
        version="1.0.0",
        description="Log and import executions, review round-trip trades, study your edge.",
        routers=[
            auth_router,
            me_router,
            api_keys_router,
            accounts_router,
            executions_router,
            trades_router,
            analytics_router,
            imports_router,
        ],
        on_start=[deletions.start],
        health_paths=("/api/health", "/health"),
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    install_edge(app, settings)
    app.state.tokens = TokenService(settings)
    app.state.reload_signing_keys = signing_key_reloader(secret_source, app.state.tokens, Settings)
    redis = edge_redis(settings)
    runtime.on_stop.append(redis.aclose)
    app.state.flags = Flags(redis, settings)
    app.state.rate_limiter = RateLimiter(redis, settings)
    app.state.entitlements = EntitlementStore(redis, settings, http)
    billing_events = BillingEventsListener(settings, app.state.entitlements)
    runtime.on_kafka_ready.append(billing_events.start)
    runtime.on_stop.append(billing_events.stop)
    app.state.read_cache = read_cache = ReadCache(redis, settings)
    billing_events.on_change.append(read_cache.bump)  # a new plan may show more (or less) history

    async def invalidate_reads(events: list[Envelope]) -> None:
        await read_cache.bump_many({e.user_id for e in events if e.user_id is not None})

    commands.on_events.append(invalidate_reads)
    app.state.commands = commands
    install_billing(app, commands, http, settings)
    app.state.trades_queries = QueryClient(http, settings.trades_query_url, "trades")
    app.state.imports_queries = QueryClient(http, settings.imports_query_url, "imports")
    return app


def run() -> None:
    serve(create_app, Settings())


if __name__ == "__main__":
    run()
