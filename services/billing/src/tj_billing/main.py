"""Entry point of the billing service: consumes ``billing.commands`` and ``billing.webhooks``,
publishes ``billing.events`` through its outbox, sweeps ended paid periods, and serves its
internal query API, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from tj_billing.handlers import Billing
from tj_billing.metrics import RefreshGaugesOnScrape
from tj_billing.models import metadata
from tj_billing.queries import router
from tj_billing.razorpay_client import RazorpayApi, plan_ids
from tj_billing.settings import Settings
from tj_billing.sweep import ExpirySweep
from tj_common.runtime import Runtime, serve
from tj_common.topics import BILLING_COMMANDS, BILLING_WEBHOOKS


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings, metadata=metadata, tracer_provider=tracer_provider)
    billing = Billing(settings, runtime.outbox, RazorpayApi(settings))
    runtime.consumer = runtime.make_consumer(billing.handlers(), [BILLING_COMMANDS.name, BILLING_WEBHOOKS.name])
    sweep = ExpirySweep(runtime, billing, settings.billing_sweep_interval)
    runtime.on_kafka_ready.append(sweep.start)
    runtime.on_stop.append(sweep.stop)
    app = runtime.create_app(title="Trading Journal billing service", routers=[router], docs_url=None, redoc_url=None)
    app.state.billing = billing
    app.state.sweep = sweep
    app.add_middleware(RefreshGaugesOnScrape, engine=runtime.engine, paid_plans=list(plan_ids(settings)))
    return app


def run() -> None:
    serve(create_app, Settings())


if __name__ == "__main__":
    run()
