"""Razorpay webhooks through the real gateway, Kafka and billing: every event type, every delivery
repeated five times and the whole lifecycle shuffled (one effect per event, the right final
state), and forged or unsigned deliveries rejected with nothing stored. The route's own checks
(signature before anything else, disabled without a secret, 2xx only after the broker's
acknowledgement) are also tested in process with an in-memory broker."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from deploy.razorpay.payloads import ALL_EVENTS, Lifecycle, WebhookDelivery, sign
from tests.harness import ServiceProcess, auth, eventually, signup
from tests.test_billing import (
    WEBHOOK_SECRET,
    current,
    deliver,
    entitlement_events,
    lifecycle,
    metric,
    read_topic,
    services,
    subscribe,
)

__all__ = ["services"]  # this module runs the services the way test_billing does

# The life of a subscription as Razorpay tells it, covering every event type but `completed`
# (a second, shorter life ends that way).
LIFE = (
    "subscription.authenticated",
    "payment.authorized",
    "payment.captured",
    "subscription.activated",
    "subscription.charged",
    "invoice.paid",
    "subscription.updated",
    "subscription.pending",
    "payment.failed",
    "subscription.halted",
    "subscription.charged",
    "invoice.paid",
    "subscription.paused",
    "subscription.resumed",
    "refund.processed",
    "subscription.cancelled",
)
SHORT_LIFE = ("subscription.authenticated", "subscription.activated", "subscription.charged", "subscription.completed")


async def webhook_counts(services: dict[str, ServiceProcess]) -> Counter[tuple[str, str]]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{services['billing'].url}/metrics")).text
    counts: Counter[tuple[str, str]] = Counter()
    for event in ALL_EVENTS:
        for outcome in ("applied", "stale", "duplicate", "ignored", "rejected"):
            counts[(event, outcome)] = int(metric(text, "tj_billing_webhooks_total", event=event, outcome=outcome))
    return counts


async def settled(services: dict[str, ServiceProcess], before: Counter[tuple[str, str]], total: int) -> Counter:
    """Waits until billing has applied ``total`` more deliveries; the per-(event, outcome) deltas."""

    async def done() -> Counter[tuple[str, str]] | None:
        now = await webhook_counts(services)
        delta = Counter({k: now[k] - before[k] for k in now if now[k] - before[k]})
        return delta if sum(delta.values()) >= total else None

    delta: Counter[tuple[str, str]] = await eventually(done, timeout=60)
    return delta


async def new_subscriber(client: httpx.AsyncClient, plan: str = "pro_monthly") -> tuple[str, str, str]:
    user = await signup(client)
    created = await subscribe(client, user["access_token"], plan)
    return user["access_token"], user["user"]["id"], created["subscription"]["id"]


def whole_life(sub_id: str, user_id: str, events: tuple[str, ...] = LIFE) -> tuple[Lifecycle, list[WebhookDelivery]]:
    life = lifecycle(sub_id, user_id)
    return life, [life.event(name) for name in events]


async def test_every_event_type_is_applied_once(client: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
    token, user_id, sub_id = await new_subscriber(client)
    life, deliveries = whole_life(sub_id, user_id)
    token2, user2, sub2 = await new_subscriber(client)
    _, short = whole_life(sub2, user2, SHORT_LIFE)
    assert {d.event for d in deliveries + short} == set(ALL_EVENTS)

    before = await webhook_counts(services)
    for delivery in deliveries + short:  # in order, once each
        response = await deliver(client, delivery)
        assert response.status_code == 200, response.text
        assert response.json()["event_id"] == delivery.event_id
    delta = await settled(services, before, len(deliveries) + len(short))
    # Sent in order, but keyed by subscription or payment: two keys may be applied out of order, so
    # a payment's own event can find its state already reached through the subscription's.
    assert sum(delta.values()) == len(deliveries) + len(short)
    for event, times in Counter(d.event for d in deliveries + short).items():
        assert delta[(event, "applied")] + delta[(event, "stale")] == times, (event, delta)
    subscription_events = [d.event for d in deliveries + short if d.event.startswith("subscription.")]
    for event, times in Counter(subscription_events).items():
        assert delta[(event, "applied")] == times, (event, delta)  # one key: in order, all taken

    state = await current(client, token)
    assert state["subscription"]["status"] == "cancelled"
    assert state["plan"]["plan_id"] == "pro_monthly"  # paid until the period's end
    assert state["plan"]["valid_until"] is not None
    assert (await current(client, token2))["subscription"]["status"] == "completed"
    await assert_final_books(client, token, life)

    # Keys on billing.webhooks: the subscription, or the payment for payment events.
    from tj_common.envelope import Envelope
    from tj_common.topics import BILLING_WEBHOOKS

    keys = {}
    for key, value in await read_topic(BILLING_WEBHOOKS.name):
        payload = Envelope.decode(value).payload
        keys[payload["event_id"]] = key
    for delivery in deliveries:
        body = json.loads(delivery.body)["payload"]
        first = "subscription" if "subscription" in body else "payment"
        assert keys[delivery.event_id] == body[first]["entity"]["id"].encode()


async def assert_final_books(client: httpx.AsyncClient, token: str, life: Lifecycle) -> None:
    payments = {p["id"]: p for p in (await client.get("/api/v1/billing/payments", headers=auth(token))).json()["items"]}
    statuses = sorted(p["status"] for p in payments.values())
    assert statuses == ["captured", "failed", "refunded"], payments
    refunded = next(p for p in payments.values() if p["status"] == "refunded")
    assert refunded["amount_refunded"] == "499.00"
    assert all(p["amount"] == "499.00" for p in payments.values())
    invoices = (await client.get("/api/v1/billing/invoices", headers=auth(token))).json()["items"]
    assert len(invoices) == 2
    assert {i["status"] for i in invoices} == {"paid"}
    assert {i["payment_id"] for i in invoices} <= set(payments)
    state = await current(client, token)
    assert state["subscription"]["current_end"] is not None
    assert int(_ts(state["subscription"]["current_end"])) == life.entity["current_end"]


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


async def test_repeated_and_shuffled_deliveries_have_one_effect_each(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    token, user_id, sub_id = await new_subscriber(client)
    life, deliveries = whole_life(sub_id, user_id)
    repeated = [d for d in deliveries for _ in range(5)]
    random.Random(20261125).shuffle(repeated)

    before = await webhook_counts(services)
    semaphore = asyncio.Semaphore(8)

    async def send(delivery: WebhookDelivery) -> int:
        async with semaphore:
            return (await deliver(client, delivery)).status_code

    statuses = await asyncio.gather(*(send(d) for d in repeated))
    assert set(statuses) == {200}
    delta = await settled(services, before, len(repeated))

    # Per event id: one effect (applied, or stale when a later event had already won), four repeats.
    per_event = Counter(d.event for d in deliveries)
    for event, times in per_event.items():
        effects = delta[(event, "applied")] + delta[(event, "stale")]
        assert effects == times, (event, delta)
        assert delta[(event, "duplicate")] == 4 * times, (event, delta)
    assert sum(delta.values()) == len(repeated)

    state = await current(client, token)
    assert state["subscription"]["status"] == "cancelled"
    assert state["plan"]["plan_id"] == "pro_monthly"
    assert state["plan"]["status"] == "cancelled"
    await assert_final_books(client, token, life)

    # Each change of the user's plan announced once, versions 1, 2, 3... ending where the state is.
    async def announced() -> list[dict[str, Any]] | None:
        events = await entitlement_events(user_id)
        return events if events and events[-1]["status"] == "cancelled" else None

    events = await eventually(announced)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["plan_id"] == "pro_monthly"
    assert events[-1]["valid_until"] is not None


async def test_forged_or_unsigned_deliveries_are_rejected_and_nothing_is_stored(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess]
) -> None:
    token, user_id, sub_id = await new_subscriber(client)
    life = lifecycle(sub_id, user_id)
    genuine = life.event("subscription.activated")
    other = life.event("subscription.cancelled")
    forged = {**genuine.headers(), "X-Razorpay-Signature": sign("not-the-secret", genuine.body)}
    over_other_body = {**genuine.headers(), "X-Razorpay-Signature": other.signature}
    unsigned = {k: v for k, v in genuine.headers().items() if k != "X-Razorpay-Signature"}
    garbage = {**genuine.headers(), "X-Razorpay-Signature": "zz"}
    tampered_body = genuine.body.replace(b'"active"', b'"halted"')

    before = await webhook_counts(services)
    for headers, body, error in (
        (forged, genuine.body, "InvalidSignature"),
        (over_other_body, genuine.body, "InvalidSignature"),
        (genuine.headers(), tampered_body, "InvalidSignature"),
        (garbage, genuine.body, "InvalidSignature"),
        (unsigned, genuine.body, "MissingSignature"),
    ):
        response = await client.post("/api/webhooks/razorpay", content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == error

    from tj_common.envelope import Envelope
    from tj_common.topics import BILLING_WEBHOOKS

    # A good delivery after them is the only one that reaches billing.webhooks.
    marker = life.event("subscription.charged")
    assert (await deliver(client, marker)).status_code == 200
    await settled(services, before, 1)

    async def on_topic() -> list[str] | None:
        ids = [Envelope.decode(v).payload["event_id"] for _, v in await read_topic(BILLING_WEBHOOKS.name)]
        return ids if marker.event_id in ids else None

    ids = await eventually(on_topic)
    assert genuine.event_id not in ids
    assert (await webhook_counts(services)) - before == Counter({("subscription.charged", "applied"): 1})
    assert (await current(client, token))["subscription"]["status"] == "active"


# -- the route in process, with an in-memory broker ---------------------------------------------
class FakeBroker:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail = fail

    async def publish(self, body: bytes, **kwargs: Any) -> None:
        if self.fail:
            raise TimeoutError("broker did not acknowledge")
        self.published.append({"body": body, **kwargs})


def route_app(secret: str, broker: FakeBroker, kafka_ready: bool = True) -> FastAPI:
    from tj_common.errors import install_error_handlers
    from tj_common.settings import ServiceSettings
    from tj_gateway.billing.webhooks import router

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    ready = asyncio.Event()
    if kafka_ready:
        ready.set()
    settings = ServiceSettings(razorpay_webhook_secret=secret)
    app.state.runtime = SimpleNamespace(settings=settings, kafka_ready=ready, broker=broker)
    return app


async def post(app: FastAPI, body: bytes, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        return await http.post("/api/webhooks/razorpay", content=body, headers=headers)


@pytest.fixture
def delivery() -> WebhookDelivery:
    life = Lifecycle(razorpay_id_like("sub"), "plan_local_pro_monthly", 49900, WEBHOOK_SECRET, clock=int(time.time()))
    return life.event("subscription.activated")


def razorpay_id_like(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:14]}"


async def test_route_publishes_a_good_delivery_keyed_by_its_subscription(delivery: WebhookDelivery) -> None:
    broker = FakeBroker()
    response = await post(route_app(WEBHOOK_SECRET, broker), delivery.body, delivery.headers())
    assert response.status_code == 200, response.text
    [message] = broker.published
    sub_id = json.loads(delivery.body)["payload"]["subscription"]["entity"]["id"]
    assert message["key"] == sub_id.encode()
    assert message["topic"].endswith("billing.webhooks")
    payload = json.loads(message["body"])["payload"]
    assert payload["event_id"] == delivery.event_id
    assert payload["body"].encode() == delivery.body  # the raw body, byte for byte


@pytest.mark.parametrize(
    ("signature", "status", "error"),
    [
        (None, 400, "MissingSignature"),
        ("", 400, "MissingSignature"),
        ("0" * 64, 400, "InvalidSignature"),
        (sign("another-secret", b"{}"), 400, "InvalidSignature"),
    ],
)
async def test_route_rejects_bad_signatures_before_anything_else(
    delivery: WebhookDelivery, signature: str | None, status: int, error: str
) -> None:
    broker = FakeBroker()
    headers = {k: v for k, v in delivery.headers().items() if k != "X-Razorpay-Signature"}
    if signature is not None:
        headers["X-Razorpay-Signature"] = signature
    # Even with the broker down the answer is the signature's: it is checked first.
    response = await post(route_app(WEBHOOK_SECRET, broker, kafka_ready=False), delivery.body, headers)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert broker.published == []


async def test_route_is_disabled_without_a_secret(delivery: WebhookDelivery) -> None:
    broker = FakeBroker()
    response = await post(route_app("", broker), delivery.body, delivery.headers())
    assert response.status_code == 503
    assert response.json()["error"] == "WebhooksDisabled"
    assert "RAZORPAY_WEBHOOK_SECRET" in response.json()["detail"]
    assert broker.published == []


async def test_route_answers_2xx_only_once_the_broker_has_it(delivery: WebhookDelivery) -> None:
    response = await post(route_app(WEBHOOK_SECRET, FakeBroker(fail=True)), delivery.body, delivery.headers())
    assert response.status_code == 503  # Razorpay retries it
    response = await post(route_app(WEBHOOK_SECRET, FakeBroker(), kafka_ready=False), delivery.body, delivery.headers())
    assert response.status_code == 503
