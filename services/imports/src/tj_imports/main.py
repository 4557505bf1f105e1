"""Entry point of the imports service: consumes ``imports.commands`` and trades' answers about
imports on ``trades.events``, runs the import worker, publishes ``imports.events`` through its
outbox, and serves its internal query API, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from tj_common.runtime import Runtime, serve
from tj_common.topics import IMPORTS_COMMANDS, TRADES_EVENTS
from tj_imports.handlers import make_dead_letter_hooks, make_handlers
from tj_imports.models import metadata
from tj_imports.pipeline import ImportWorker
from tj_imports.queries import router
from tj_imports.settings import Settings


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings, metadata=metadata, tracer_provider=tracer_provider)
    worker = ImportWorker(runtime)
    runtime.consumer = runtime.make_consumer(
        make_handlers(runtime.outbox, worker.wake),
        [IMPORTS_COMMANDS.name, TRADES_EVENTS.name],
        dead_letter_hooks=make_dead_letter_hooks(runtime.outbox),
    )
    runtime.on_kafka_ready.append(worker.start)
    runtime.on_stop.insert(0, worker.stop)
    app = runtime.create_app(title="Trading Journal imports service", routers=[router], docs_url=None, redoc_url=None)
    app.state.worker = worker
    return app


def run() -> None:
    serve(create_app, Settings())


if __name__ == "__main__":
    run()
