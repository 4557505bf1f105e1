"""Entry point of the imports service: its internal API, health and metrics."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from tj_common.runtime import Runtime
from tj_common.telemetry import configure_logging, configure_sentry

from tj_imports.models import metadata
from tj_imports.settings import Settings


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings, metadata=metadata, tracer_provider=tracer_provider)
    return runtime.create_app(title="Trading Journal imports service", docs_url=None, redoc_url=None)


def run() -> None:
    settings = Settings()
    configure_logging(settings)
    configure_sentry(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    run()
