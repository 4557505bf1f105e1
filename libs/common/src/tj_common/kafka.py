"""The broker factory: one faststream ``KafkaBroker`` per service, with tracing and Prometheus
middlewares and an idempotent producer (acks=all), so a retried send is never written twice."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY, CollectorRegistry

from tj_common.settings import ServiceSettings

# faststream's Prometheus middleware registers its metrics when built; several brokers in one
# process (tests run services side by side) must share one instance per registry.
_prometheus: dict[int, KafkaPrometheusMiddleware] = {}


def prometheus_middleware(registry: CollectorRegistry = REGISTRY) -> KafkaPrometheusMiddleware:
    key = id(registry)
    if key not in _prometheus:
        _prometheus[key] = KafkaPrometheusMiddleware(registry=registry, app_name="trading-journal")
    return _prometheus[key]


def make_broker(settings: ServiceSettings, tracer_provider: TracerProvider) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"tj-{settings.service_name}-{settings.instance_id}",
        acks="all",
        enable_idempotence=True,
        linger_ms=1,
        request_timeout_ms=int(max(settings.kafka_publish_timeout, 1.0) * 1000) + 5000,
        allow_auto_create_topics=False,
        middlewares=[
            KafkaTelemetryMiddleware(tracer_provider=tracer_provider),
            prometheus_middleware(),
        ],
        logger=logging.getLogger(f"tj.{settings.service_name}.kafka"),
        log_level=logging.DEBUG,
    )


async def stop_consumer(consumer: Any) -> None:
    """Stop an aiokafka consumer. A group-less consumer's stop() can surface the cancellation of
    its own internal task as CancelledError; swallow that one, never a cancellation of ours."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


async def cancel_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background loop and wait for it to finish; its last error is of no interest
    when shutting down."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: S110 - shutting down
        pass
