"""Entry point of the billing service: its internal API, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from tj_billing.models import metadata
from tj_billing.settings import Settings
from tj_common.runtime import Runtime, serve


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings, metadata=metadata, tracer_provider=tracer_provider)
    return runtime.create_app(title="Trading Journal billing service", docs_url=None, redoc_url=None)


def run() -> None:
    serve(create_app, Settings())


if __name__ == "__main__":
    run()
