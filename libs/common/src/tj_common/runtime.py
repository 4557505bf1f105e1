"""One service process: its engine, broker, Redis, S3, outbox relay and consumer, and the FastAPI
app that hosts its HTTP API, ``/health`` and ``/metrics`` (DESIGN §2)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from opentelemetry import metrics as otel_metrics
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util.http import parse_excluded_urls
from sqlalchemy import MetaData, text

from tj_common.consumer import DeadLetterHook, ExactlyOnceConsumer, Handler
from tj_common.db import make_engine, make_sessionmaker
from tj_common.errors import UnhandledErrorMiddleware, install_error_handlers
from tj_common.health import Check, health_response
from tj_common.kafka import cancel_task, make_broker
from tj_common.metrics import RequestMiddleware, metrics_response
from tj_common.outbox import Outbox, OutboxRelay
from tj_common.routes import RouteNames
from tj_common.settings import ServiceSettings
from tj_common.storage import make_s3_client
from tj_common.telemetry import configure_logging, configure_sentry, make_tracer_provider

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]


class Runtime:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        metadata: MetaData,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.settings = settings
        self.tracer_provider = tracer_provider or make_tracer_provider(settings)
        self.metadata = metadata
        self.engine = make_engine(settings)
        if tracer_provider is not None or settings.otel_exporter_otlp_endpoint:
            # A span per statement, only where spans are recorded: with nothing to export them to,
            # each statement still paid for a non-recording span and its context (~5 % of the
            # trades service's CPU for a single-fill command). Context propagation does not need
            # them: statements are leaves of the trace.
            EngineTracer(  # type: ignore[no-untyped-call]
                self.tracer_provider.get_tracer("tj.sqlalchemy"),
                self.engine.sync_engine,
                otel_metrics.get_meter("tj.sqlalchemy").create_up_down_counter("db.client.connections.usage"),
            )
        self.sessionmaker = make_sessionmaker(self.engine)
        self.outbox = Outbox(metadata.tables[f"{metadata.schema}.outbox"])
        self.broker = make_broker(settings, self.tracer_provider)
        self.redis: aioredis.Redis = aioredis.from_url(
            settings.redis_url,
            password=settings.redis_token.get_secret_value() if settings.redis_token else None,
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        self.s3 = make_s3_client(settings)
        self.relay = OutboxRelay(engine=self.engine, table=self.outbox.table, broker=self.broker)
        self.consumer: ExactlyOnceConsumer | None = None
        self.kafka_ready = asyncio.Event()
        self.on_kafka_ready: list[Hook] = []
        self.on_stop: list[Hook] = []
        self._kafka_task: asyncio.Task[None] | None = None

    def make_consumer(
        self,
        handlers: dict[str, Handler],
        topics: Sequence[str],
        dead_letter_hooks: Mapping[str, DeadLetterHook] | None = None,
    ) -> ExactlyOnceConsumer:
        settings = self.settings
        return ExactlyOnceConsumer(
            name=settings.service_name,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            topics=topics,
            sessionmaker=self.sessionmaker,
            metadata=self.metadata,
            outbox=self.outbox,
            handlers=handlers,
            tracer_provider=self.tracer_provider,
            on_commit=self.relay.notify,
            max_attempts=settings.consumer_max_attempts,
            retry_backoff=settings.consumer_retry_backoff,
            batch_size=settings.consumer_batch_size,
            fetch_bytes_per_partition=settings.consumer_fetch_bytes_per_partition,
            dedup_retention_hours=settings.message_dedup_retention_hours,
            dead_letter_hooks=dead_letter_hooks,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Starts Kafka-bound parts in the background so the HTTP side (and its health check)
        is up even while Kafka is not; writes answer 503 until it is."""
        self._kafka_task = asyncio.create_task(self._connect_kafka(), name="kafka-connect")

    async def wait_ready(self, timeout: float = 60.0) -> None:
        await asyncio.wait_for(self.kafka_ready.wait(), timeout)

    async def _connect_kafka(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.start()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("kafka not reachable yet", extra={"fields": {"error": repr(exc)[:300]}})
                try:
                    await self.broker.stop()
                except Exception:  # noqa: S110 - partial start; nothing else to release
                    pass
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self.relay.start()
        if self.consumer is not None:
            while True:
                try:
                    await self.consumer.start()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("consumer start failed", extra={"fields": {"error": repr(exc)[:300]}})
                    await asyncio.sleep(1.0)
        for hook in self.on_kafka_ready:
            await hook()
        self.kafka_ready.set()
        log.info("kafka connected")

    async def stop(self) -> None:
        await cancel_task(self._kafka_task)
        for hook in self.on_stop:
            await hook()
        if self.consumer is not None:
            await self.consumer.stop()
        await self.relay.stop()
        await self.broker.stop()
        await self.redis.aclose()
        await self.engine.dispose()

    # -- health ------------------------------------------------------------------------------
    def health_checks(self) -> dict[str, Check]:
        async def database() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        async def redis() -> Any:
            return await self.redis.ping()

        async def storage() -> None:
            await asyncio.to_thread(self.s3.head_bucket, Bucket=self.settings.s3_bucket)

        async def kafka() -> bool:
            if not self.kafka_ready.is_set():
                return False
            return bool(await self.broker.ping(timeout=1.5))

        return {"database": database, "redis": redis, "storage": storage, "kafka": kafka}

    # -- HTTP --------------------------------------------------------------------------------
    def create_app(
        self,
        *,
        title: str,
        routers: Sequence[APIRouter] = (),
        on_start: Sequence[Hook] = (),
        health_paths: Sequence[str] = ("/health",),
        **fastapi_kwargs: Any,
    ) -> FastAPI:
        runtime = self

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            await runtime.start()
            for hook in on_start:
                await hook()
            if _serving:
                settle_heap()
            try:
                yield
            finally:
                await runtime.stop()

        app = FastAPI(title=title, lifespan=lifespan, **fastapi_kwargs)
        app.state.runtime = self
        install_error_handlers(app)

        # user_middleware[0] is the outermost: the request id around everything, the 500 answer of
        # an unhandled exception innermost (a service's own middleware goes between the two).
        app.add_middleware(UnhandledErrorMiddleware)
        app.add_middleware(RequestMiddleware)

        async def health() -> Response:
            return await health_response(runtime.health_checks())

        for path in health_paths:
            app.add_api_route(
                path,
                health,
                methods=["GET"],
                include_in_schema=path.startswith("/api"),
                tags=["operations"],
                summary="Health of the service and its dependencies",
            )

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            await runtime.relay.backlog()
            return metrics_response()

        for router in routers:
            app.include_router(router)
        # The server span around every request. FastAPI's own instrumentor names spans by matching
        # the request against every route, each time: a tenth of the gateway's CPU per cached read.
        # The same middleware with a memoised route lookup (tj_common.routes) costs a dict lookup.
        app.add_middleware(
            OpenTelemetryMiddleware,
            default_span_details=RouteNames(app).span_details,
            excluded_urls=parse_excluded_urls("/metrics,/health,/api/health"),
            tracer_provider=self.tracer_provider,
            # One server span per request; the per-message receive/send spans cost CPU and say little.
            exclude_spans=["receive", "send"],
        )
        return app


_serving = False  # set by serve(): a service process, not an app under test in a shared process


def settle_heap() -> None:
    """Move everything alive once a service has started (modules, app, clients) out of the
    garbage collector's reach. Without it every full collection walks those ~200,000 objects:
    a 180 ms stall of the event loop on this machine, every few seconds under load, which
    bunched a closed-loop client's requests into bursts (issue 4's k6 shape)."""
    gc.collect()
    gc.freeze()


def serve(create_app: Callable[..., FastAPI], settings: ServiceSettings) -> None:
    """Run one service process: JSON logs, Sentry when configured, uvicorn.

    Keep-alive outlasts clients' idle expiry (httpx: 5 s), so a client never reuses a connection
    the server is closing at that moment."""
    global _serving
    _serving = True
    configure_logging(settings)
    configure_sentry(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=75,
    )
