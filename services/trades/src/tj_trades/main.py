"""Entry point of the trades service: consumes ``trades.commands``, publishes ``trades.events``
through its outbox, and serves its internal query API, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from tj_common.runtime import Runtime, serve
from tj_common.topics import TRADES_COMMANDS
from tj_trades import projection
from tj_trades.analytics import router as analytics_router
from tj_trades.cache import AnalyticsCache
from tj_trades.edit_handlers import make_edit_handlers
from tj_trades.handlers import make_handlers
from tj_trades.import_handlers import make_import_handlers
from tj_trades.models import metadata
from tj_trades.projection import Refresher
from tj_trades.projector import ProjectorChild
from tj_trades.queries import router
from tj_trades.settings import Settings
from tj_trades.summary import store_snapshots


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or Settings()
    projection.FORK_ROWS = settings.projection_fork_rows  # queries refresh in this process too
    runtime = Runtime(settings, metadata=metadata, tracer_provider=tracer_provider)
    cache = AnalyticsCache(runtime.redis)
    handlers = {
        **make_handlers(runtime.outbox),
        **make_import_handlers(runtime.outbox),
        **make_edit_handlers(runtime.outbox),
    }
    consumer = runtime.make_consumer(
        {name: cache.tracking(handler) for name, handler in handlers.items()}, [TRADES_COMMANDS.name]
    )
    # Versions are bumped after each commit, ahead of the relay that publishes the results.
    consumer.on_commit = cache.after_commit(consumer.on_commit)
    runtime.consumer = consumer
    on_start = []
    if settings.projection_worker != "off":
        background = (
            Refresher(
                runtime.sessionmaker,
                after=store_snapshots,
                user_interval=settings.projection_user_interval,
                listen=True,
            )
            if settings.projection_worker == "inline"
            else ProjectorChild()
        )
        on_start.append(background.start)
        runtime.on_stop.append(background.stop)
    app = runtime.create_app(
        title="Trading Journal trades service",
        routers=[router, analytics_router],
        on_start=on_start,
        docs_url=None,
        redoc_url=None,
    )
    app.state.analytics_cache = cache
    return app


def run() -> None:
    serve(create_app, Settings())


if __name__ == "__main__":
    run()
