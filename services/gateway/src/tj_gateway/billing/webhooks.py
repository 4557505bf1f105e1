"""``POST /api/webhooks/razorpay``: Razorpay's deliveries. The signature (``X-Razorpay-Signature``,
hex HMAC-SHA256 of the raw body with the webhook secret) is checked in constant time before
anything else; a missing or bad one is a 400 and nothing is stored. A good delivery is published
to ``billing.webhooks`` (key: the subscription or payment it is about, DESIGN §3) and answered
2xx only once Kafka has acknowledged it, well within Razorpay's 5 s; billing de-duplicates on the
event id. Without a webhook secret configured the endpoint is disabled (503)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from tj_common.contracts import billing as contract
from tj_common.envelope import Envelope
from tj_common.errors import AppError, BadRequest, ServiceUnavailable
from tj_common.runtime import Runtime
from tj_common.topics import BILLING_WEBHOOKS

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])

WEBHOOK_NAMESPACE = uuid.UUID("5d9c1f0e-7a3b-4e2d-9c8f-1b2a3c4d5e6f")
WEBHOOK_INTAKE = Counter(
    "tj_webhook_intake", "Razorpay webhook deliveries at the edge, by event and outcome", ["event", "outcome"]
)


class InvalidSignature(AppError):
    status_code = 400


class WebhooksDisabled(AppError):
    status_code = 503


def delivery_message_id(event_id: str) -> uuid.UUID:
    """One message id per Razorpay event: a redelivery is a repeat for the consumer too."""
    return uuid.uuid5(WEBHOOK_NAMESPACE, event_id)


def entity_key(body: dict[str, Any]) -> str | None:
    payload = body.get("payload") if isinstance(body.get("payload"), dict) else {}
    assert isinstance(payload, dict)
    for name in ("subscription", "payment", "invoice", "refund"):
        item = payload.get(name)
        entity = item.get("entity") if isinstance(item, dict) else None
        if isinstance(entity, dict) and entity.get("id"):
            return str(entity["id"])
    return None


@router.post(
    "/api/webhooks/razorpay",
    summary="Razorpay webhook deliveries (signature checked on the raw body)",
    responses={
        200: {"description": "Received and durable; billing applies it once"},
        400: {"description": "Missing or bad X-Razorpay-Signature, or not Razorpay's JSON; nothing stored"},
        503: {"description": "Webhooks are not configured, or the broker did not take it (Razorpay retries)"},
    },
)
async def razorpay_webhook(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    secret = runtime.settings.razorpay_webhook_secret.get_secret_value()
    if not secret:
        WEBHOOK_INTAKE.labels("unknown", "disabled").inc()
        raise WebhooksDisabled("Razorpay webhooks are disabled: RAZORPAY_WEBHOOK_SECRET is not set")
    raw = await request.body()
    signature = request.headers.get("x-razorpay-signature")
    if not signature:
        WEBHOOK_INTAKE.labels("unknown", "unsigned").inc()
        raise InvalidSignature("missing X-Razorpay-Signature header", code="MissingSignature")
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        WEBHOOK_INTAKE.labels("unknown", "bad_signature").inc()
        raise InvalidSignature("X-Razorpay-Signature does not match the body", code="InvalidSignature")
    try:
        body = json.loads(raw)
        event = str(body["event"])
    except (ValueError, KeyError, TypeError) as exc:
        WEBHOOK_INTAKE.labels("unknown", "malformed").inc()
        raise BadRequest("the body is not a Razorpay event") from exc
    event_id = request.headers.get("x-razorpay-event-id") or f"sha256:{hashlib.sha256(raw).hexdigest()}"
    received = contract.WebhookReceived(
        event_id=event_id, event=event, signature=signature.strip(), body=raw.decode(), received_at=datetime.now(UTC)
    )
    envelope = Envelope(
        id=delivery_message_id(event_id), type=contract.WEBHOOK_RECEIVED, payload=received.model_dump(mode="json")
    )
    key = entity_key(body) or event_id
    if not runtime.kafka_ready.is_set():
        WEBHOOK_INTAKE.labels(event, "unavailable").inc()
        raise ServiceUnavailable("the message broker is not reachable; Razorpay will retry", retry_after=5)
    try:
        # Awaits the broker's acknowledgement: the 2xx promises the delivery is durable.
        await asyncio.wait_for(
            runtime.broker.publish(
                envelope.encode(),
                topic=BILLING_WEBHOOKS.name,
                key=key.encode(),
                headers={"message-type": envelope.type, "message-id": str(envelope.id)},
                correlation_id=str(envelope.id),
            ),
            timeout=runtime.settings.kafka_publish_timeout,
        )
    except (TimeoutError, KafkaError, OSError) as exc:
        WEBHOOK_INTAKE.labels(event, "unavailable").inc()
        log.warning("webhook publish failed", extra={"fields": {"error": repr(exc)[:300]}})
        raise ServiceUnavailable("the delivery could not be made durable; Razorpay will retry", retry_after=5) from exc
    WEBHOOK_INTAKE.labels(event, "accepted").inc()
    return JSONResponse({"status": "accepted", "event_id": event_id})
