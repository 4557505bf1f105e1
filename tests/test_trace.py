"""One trace covers the gateway's HTTP span, the Kafka publish, the trades consumer span, the
database spans and the relay's publish of the resulting event. Gateway and trades run in this
process, on real Kafka and PostgreSQL, so an in-memory exporter sees both sides."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.harness import auth, execution, free_port, signup
from tj_common.topics import TRADES_COMMANDS, TRADES_EVENTS


async def _serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    return server, task


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def inproc(infra_env: dict[str, str]) -> AsyncIterator[tuple[str, InMemorySpanExporter]]:
    from tj_gateway.main import create_app as gateway_app
    from tj_gateway.settings import Settings as GatewaySettings
    from tj_trades.main import create_app as trades_app
    from tj_trades.settings import Settings as TradesSettings

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trades_port, gateway_port = free_port(), free_port()
    trades = trades_app(TradesSettings(port=trades_port), tracer_provider=provider)
    gateway = gateway_app(
        GatewaySettings(
            port=gateway_port, trades_query_url=f"http://127.0.0.1:{trades_port}", command_reply_timeout=10
        ),
        tracer_provider=provider,
    )
    servers = [await _serve(trades, trades_port), await _serve(gateway, gateway_port)]
    try:
        for app in (trades, gateway):
            await app.state.runtime.wait_ready(60)
        yield f"http://127.0.0.1:{gateway_port}", exporter
    finally:
        for server, task in reversed(servers):
            server.should_exit = True
            await task


async def test_one_trace_from_http_to_the_resulting_event(inproc: tuple[str, InMemorySpanExporter]) -> None:
    url, exporter = inproc
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        user = await signup(client)
        exporter.clear()
        response = await client.post(
            "/api/v1/executions", json={"executions": [execution()]}, headers=auth(user["access_token"])
        )
        assert response.status_code == 201, response.text

    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST /api/v1/executions")]
    assert server, [s.name for s in spans]
    trace_id = server[0].context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    names = [(s.name, s.kind) for s in in_trace]

    def has(predicate: Any) -> bool:
        return any(predicate(s) for s in in_trace)

    assert has(lambda s: s.kind == SpanKind.PRODUCER and TRADES_COMMANDS.name in s.name), names
    assert has(lambda s: s.kind == SpanKind.CONSUMER and s.name == f"{TRADES_COMMANDS.name} process"), names
    assert has(lambda s: s.kind == SpanKind.CLIENT and "INSERT" in s.name.upper()), names
    assert has(lambda s: s.kind == SpanKind.PRODUCER and s.name.startswith(f"{TRADES_EVENTS.name} ")), names
    consumer = next(s for s in in_trace if s.name == f"{TRADES_COMMANDS.name} process")
    inserts = [s for s in in_trace if s.kind == SpanKind.CLIENT and "INSERT" in s.name.upper()]
    assert any(s.parent is not None and s.parent.span_id == consumer.context.span_id for s in inserts), names


def test_statements_get_spans_only_where_spans_are_recorded() -> None:
    """Without an exporter (and no provider given) no span is made per statement: it cost every
    statement a non-recording span for nothing."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    from tj_common.runtime import Runtime
    from tj_trades.models import metadata
    from tj_trades.settings import Settings as TradesSettings

    def traced(runtime: Runtime) -> bool:
        listeners = runtime.engine.sync_engine.dispatch.before_cursor_execute
        return any(isinstance(getattr(fn, "__self__", None), EngineTracer) for fn in listeners)

    assert not traced(Runtime(TradesSettings(), metadata=metadata))
    assert traced(Runtime(TradesSettings(), metadata=metadata, tracer_provider=TracerProvider()))
    exporting = TradesSettings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")
    assert traced(Runtime(exporting, metadata=metadata))
