"""OpenTelemetry and structured logs: one trace from the browser request to the events that follow.

Every component takes the tracer provider explicitly (faststream's advice): a process may set the
global provider once, and tests hand in their own with an in-memory exporter.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

from tj_common.settings import ServiceSettings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def make_tracer_provider(settings: ServiceSettings) -> TracerProvider:
    resource = Resource.create(
        {"service.name": f"tj-{settings.service_name}", "service.instance.id": settings.instance_id}
    )
    if not settings.otel_exporter_otlp_endpoint:
        # Nothing would export the spans: don't record them. Trace context (ids in logs and in
        # message headers) still propagates through non-recording spans.
        return TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_OFF))
    provider = TracerProvider(resource=resource)
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def inject_headers(context: Context | None = None) -> dict[str, str]:
    """W3C trace context of the current (or given) span as message headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier


def extract_context(headers: Mapping[str, Any] | None) -> Context:
    carrier: dict[str, str] = {}
    for key, value in (headers or {}).items():
        carrier[key] = value.decode() if isinstance(value, bytes) else str(value)
    return propagate.extract(carrier)


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the trace and span ids of the current span."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: ServiceSettings) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(settings.service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("aiokafka", "uvicorn.access", "faststream"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def configure_sentry(settings: ServiceSettings) -> None:
    if not settings.sentry_dsn:
        return
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn, environment=settings.environment, traces_sample_rate=0.0, send_default_pii=False
    )
