"""Billing end to end: plans, subscribing through the real Razorpay SDK against the local stand-in,
checkout verification, cancellation at period end, dunning grace, EntitlementsChanged on
billing.events, the Razorpay stand-in failing (5xx, hanging) and a live key refusing to start.

The services run with a short dunning grace and sweep interval and a short Razorpay timeout (the
module's own ``services`` fixture), so expiry and retries are observable within a test."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from deploy.razorpay.payloads import Lifecycle, WebhookDelivery, checkout_signature
from tests import harness
from tests.harness import RazorpayStandIn, ServiceProcess, auth, eventually, signup

KEY_SECRET = "local-razorpay-key-secret"
WEBHOOK_SECRET = "local-razorpay-webhook-secret"
GRACE_SECONDS = 10
BILLING_ENV = {
    "BILLING_GRACE_PERIOD": str(GRACE_SECONDS),
    "BILLING_SWEEP_INTERVAL": "0.5",
    "RAZORPAY_TIMEOUT": "1.0",
    "RAZORPAY_MAX_ATTEMPTS": "3",
    "RAZORPAY_RETRY_BACKOFF": "0.1",
}
PLAN_AMOUNTS = {"pro_monthly": 49900, "pro_yearly": 499000, "elite_monthly": 99900, "elite_yearly": 999000}


@pytest.fixture(scope="module")
def services(
    infra_env: dict[str, str], ports: dict[str, int], razorpay_standin: RazorpayStandIn
) -> Iterator[dict[str, ServiceProcess]]:
    """The four services, with billing's timings shortened for these tests."""
    env = {**harness.service_env(infra_env, ports), "RAZORPAY_BASE_URL": razorpay_standin.url, **BILLING_ENV}
    procs = {name: ServiceProcess(name, ports[name], env) for name in harness.SERVICES}
    for proc in procs.values():
        proc.start()
    try:
        for proc in procs.values():
            proc.wait_healthy()
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


# -- helpers ------------------------------------------------------------------------------------
def lifecycle(subscription_id: str, user_id: str, plan: str = "pro_monthly", start: int | None = None) -> Lifecycle:
    return Lifecycle(
        subscription_id=subscription_id,
        plan_id=f"plan_local_{plan}",
        amount=PLAN_AMOUNTS[plan],
        webhook_secret=WEBHOOK_SECRET,
        notes={"user_id": user_id, "plan_id": plan},
        period="yearly" if plan.endswith("yearly") else "monthly",
        clock=start if start is not None else int(time.time()) - 3600,
    )


async def deliver(client: httpx.AsyncClient, delivery: WebhookDelivery) -> httpx.Response:
    return await client.post("/api/webhooks/razorpay", content=delivery.body, headers=delivery.headers())


async def subscribe(client: httpx.AsyncClient, token: str, plan: str = "pro_monthly") -> dict[str, Any]:
    response = await client.post("/api/v1/billing/subscriptions", json={"plan_id": plan}, headers=auth(token))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def current(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get("/api/v1/billing/subscription", headers=auth(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def read_topic(topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every message of ``topic`` so far (key, value)."""
    from tj_common.settings import ServiceSettings

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=ServiceSettings().kafka_bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        for _ in range(100):
            if consumer.assignment():
                break
            await asyncio.sleep(0.05)
        partitions = list(consumer.assignment())
        end = await consumer.end_offsets(partitions)
        out: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= end[tp] for tp in partitions):
                break
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend((r.key, r.value) for r in records)
        return out
    finally:
        await consumer.stop()


async def entitlement_events(user_id: str) -> list[dict[str, Any]]:
    from tj_common.contracts.billing import ENTITLEMENTS_CHANGED
    from tj_common.envelope import Envelope
    from tj_common.topics import BILLING_EVENTS

    events = []
    for key, value in await read_topic(BILLING_EVENTS.name):
        envelope = Envelope.decode(value)
        if envelope.type == ENTITLEMENTS_CHANGED and str(envelope.user_id) == user_id:
            assert key == user_id.encode(), "EntitlementsChanged is keyed by user id"
            events.append(envelope.payload)
    return sorted(events, key=lambda e: e["version"])


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# -- tests --------------------------------------------------------------------------------------
async def test_plans_with_prices_in_rupees_and_limits(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/billing/plans")
    assert response.status_code == 200, response.text
    plans = {p["id"]: p for p in response.json()["items"]}
    assert set(plans) == {"free", "pro_monthly", "pro_yearly", "elite_monthly", "elite_yearly"}
    assert plans["free"]["price"] == "0.00"
    assert plans["pro_monthly"]["price"] == "499.00"
    assert plans["pro_monthly"]["price_paise"] == 49900
    assert plans["elite_yearly"]["price"] == "9990.00"
    assert all(p["currency"] == "INR" for p in plans.values())
    assert plans["free"]["entitlements"]["max_accounts"] == 1
    assert plans["elite_monthly"]["entitlements"]["api_access"] is True
    assert plans["elite_monthly"]["entitlements"]["max_accounts"] is None  # unlimited


async def test_subscribe_verify_charge_and_entitlements(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess], razorpay_standin: RazorpayStandIn
) -> None:
    user = await signup(client)
    token, user_id = user["access_token"], user["user"]["id"]
    assert (await current(client, token))["plan"]["plan_id"] == "free"

    created = await subscribe(client, token, "pro_monthly")
    sub_id = created["subscription"]["id"]
    assert re.fullmatch(r"sub_[A-Za-z0-9]{14}", sub_id)
    assert created["key_id"] == "rzp_test_localstandin"
    assert created["short_url"]
    assert created["subscription"]["status"] == "created"
    # A second subscription while this one is unpaid: the same one again, not a second at Razorpay.
    again = await subscribe(client, token, "pro_monthly")
    assert again["subscription"]["id"] == sub_id

    # Checkout's signature: payment_id|subscription_id with the key secret.
    bad = await client.post(
        "/api/v1/billing/subscriptions/verify",
        json={"razorpay_payment_id": "pay_X", "razorpay_subscription_id": sub_id, "razorpay_signature": "0" * 64},
        headers=auth(token),
    )
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"] == "InvalidSignature"
    other = await signup(client)
    signature = checkout_signature(KEY_SECRET, "pay_Checkout000001", sub_id)
    body = {"razorpay_payment_id": "pay_Checkout000001", "razorpay_subscription_id": sub_id}
    not_theirs = await client.post(
        "/api/v1/billing/subscriptions/verify",
        json={**body, "razorpay_signature": signature},
        headers=auth(other["access_token"]),
    )
    assert not_theirs.status_code == 404, not_theirs.text
    verified = await client.post(
        "/api/v1/billing/subscriptions/verify", json={**body, "razorpay_signature": signature}, headers=auth(token)
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["payment_id"] == "pay_Checkout000001"
    assert verified.json()["subscription"]["status"] == "authenticated"

    # Razorpay's life of it, as the stand-in sends it: signed webhooks to the gateway.
    webhook_url = f"{services['gateway'].url}/api/webhooks/razorpay"
    simulated = httpx.post(
        f"{razorpay_standin.url}/_standin/subscriptions/{sub_id}/simulate",
        json={"events": ["authenticated", "activated", "charged", "invoice.paid"], "webhook_url": webhook_url},
        timeout=30,
    )
    assert simulated.status_code == 200, simulated.text
    assert [d["status"] for d in simulated.json()["deliveries"]] == [200, 200, 200, 200]

    async def active() -> dict[str, Any] | None:
        state = await current(client, token)
        return state if state["plan"]["plan_id"] == "pro_monthly" and state["plan"]["status"] == "active" else None

    state = await eventually(active)
    assert state["subscription"]["id"] == sub_id
    assert state["plan"]["entitlements"]["max_accounts"] == 5
    assert state["plan"]["valid_until"] is None

    # Webhooks are applied asynchronously and in delivery order: the plan turns active on
    # `activated`, the payment and the invoice follow with `charged` and `invoice.paid`.
    async def listed(path: str) -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await client.get(path, headers=auth(token))).json()["items"]
        return items or None

    payments = await eventually(lambda: listed("/api/v1/billing/payments"))
    assert len(payments) == 1
    assert payments[0]["amount"] == "499.00"
    assert payments[0]["status"] == "captured"

    async def paid_invoices() -> list[dict[str, Any]] | None:
        items = await listed("/api/v1/billing/invoices")
        return items if items and all(i["status"] == "paid" and i["payment_id"] for i in items) else None

    invoices = await eventually(paid_invoices)
    assert len(invoices) == 1
    assert invoices[0]["status"] == "paid"
    assert invoices[0]["payment_id"] == payments[0]["id"]
    # Another user sees none of it.
    other_payments = await client.get("/api/v1/billing/payments", headers=auth(other["access_token"]))
    assert other_payments.json()["items"] == []

    events = await eventually(lambda: _events_with_plan(user_id, "pro_monthly"))
    assert events[-1]["status"] == "active"
    assert events[-1]["entitlements"]["executions_per_month"] == 10000
    versions = [e["version"] for e in await entitlement_events(user_id)]
    assert versions == sorted(set(versions)), "one event per version, growing"

    # A live subscription cannot be doubled.
    conflict = await client.post(
        "/api/v1/billing/subscriptions", json={"plan_id": "elite_monthly"}, headers=auth(token)
    )
    assert conflict.status_code == 409, conflict.text
    unknown = await client.post("/api/v1/billing/subscriptions", json={"plan_id": "platinum"}, headers=auth(token))
    assert unknown.status_code == 404, unknown.text


async def _events_with_plan(user_id: str, plan: str) -> list[dict[str, Any]] | None:
    events = await entitlement_events(user_id)
    return events if events and events[-1]["plan_id"] == plan else None


def _period_ends_in(seconds: int) -> int:
    """A simulation clock whose activation (the second event) opens a month ending ``seconds`` from now."""
    return int(time.time()) + seconds - 30 * 86400 - 120


def simulate(
    standin: RazorpayStandIn,
    services: dict[str, ServiceProcess],
    sub_id: str,
    events: list[str],
    clock: int | None = None,
) -> None:
    webhook_url = f"{services['gateway'].url}/api/webhooks/razorpay"
    response = httpx.post(
        f"{standin.url}/_standin/subscriptions/{sub_id}/simulate",
        json={"events": events, "webhook_url": webhook_url, "clock": clock},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert all(d["status"] == 200 for d in response.json()["deliveries"]), response.text


async def test_cancel_keeps_access_until_the_period_ends(
    client: httpx.AsyncClient, services: dict[str, ServiceProcess], razorpay_standin: RazorpayStandIn
) -> None:
    user = await signup(client)
    token, user_id = user["access_token"], user["user"]["id"]
    sub_id = (await subscribe(client, token, "elite_monthly"))["subscription"]["id"]
    # A cycle that ends 30 s from now (activated 30 days ago, minus that): long enough to see the
    # cancelled-but-paid state on a busy machine, short enough to see it end.
    simulate(razorpay_standin, services, sub_id, ["authenticated", "activated", "charged"], clock=_period_ends_in(30))

    async def plan_is(plan: str, status: str) -> dict[str, Any] | None:
        state = await current(client, token)
        return state if (state["plan"]["plan_id"], state["plan"]["status"]) == (plan, status) else None

    await eventually(lambda: plan_is("elite_monthly", "active"))
    metrics_before = httpx.get(f"{services['billing'].url}/metrics").text
    elite_before = metric(metrics_before, "active_subscriptions_total", plan="elite_monthly")
    assert elite_before >= 1

    cancelled = await client.post("/api/v1/billing/subscription/cancel", headers=auth(token))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["subscription"]["cancel_at_cycle_end"] is True
    assert (await current(client, token))["plan"]["plan_id"] == "elite_monthly"  # paid for: still Elite

    # At the end of the cycle Razorpay cancels it (here a little before the end).
    simulate(razorpay_standin, services, sub_id, ["cancelled"])
    state = await eventually(lambda: plan_is("elite_monthly", "cancelled"))
    assert state["plan"]["valid_until"] is not None
    # A late activation does not bring it back.
    late = lifecycle(sub_id, user_id, "elite_monthly", start=int(time.time()) - 7200)
    assert (await deliver(client, late.event("subscription.activated"))).status_code == 200

    await eventually(lambda: plan_is("free", "cancelled"), timeout=45)
    events = await eventually(lambda: _events_with_plan(user_id, "free"))
    assert [e["plan_id"] for e in events][-2:] == ["elite_monthly", "free"]
    assert events[-1]["entitlements"]["max_accounts"] == 1
    elite_after = metric(
        httpx.get(f"{services['billing'].url}/metrics").text, "active_subscriptions_total", plan="elite_monthly"
    )
    assert elite_after == elite_before - 1


async def test_dunning_keeps_the_plan_for_the_grace_period(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    token, user_id = user["access_token"], user["user"]["id"]
    sub_id = (await subscribe(client, token, "pro_yearly"))["subscription"]["id"]
    life = lifecycle(sub_id, user_id, "pro_yearly")
    for name in ("subscription.authenticated", "subscription.activated", "subscription.charged"):
        assert (await deliver(client, life.event(name))).status_code == 200
    life.clock = int(time.time()) - 60  # the renewal fails now
    assert (await deliver(client, life.event("subscription.pending"))).status_code == 200

    async def plan_is(plan: str, status: str) -> dict[str, Any] | None:
        state = await current(client, token)
        return state if (state["plan"]["plan_id"], state["plan"]["status"]) == (plan, status) else None

    state = await eventually(lambda: plan_is("pro_yearly", "pending"), timeout=10)
    assert state["plan"]["valid_until"] is not None  # the grace period's end
    await eventually(lambda: plan_is("free", "pending"), timeout=GRACE_SECONDS + 15)

    async def announced(*tail: str) -> list[str] | None:
        plans = [e["plan_id"] for e in await entitlement_events(user_id)]
        return plans if plans[-len(tail) :] == list(tail) else None

    await eventually(lambda: announced("pro_yearly", "free"))  # the sweep said so
    # The retry succeeds: the plan is back.
    life.clock = int(time.time())
    assert (await deliver(client, life.event("subscription.charged"))).status_code == 200
    await eventually(lambda: plan_is("pro_yearly", "active"))
    await eventually(lambda: announced("pro_yearly", "free", "pro_yearly"))


async def test_razorpay_failing_is_retried_then_a_clear_error(
    client: httpx.AsyncClient, razorpay_standin: RazorpayStandIn
) -> None:
    user = await signup(client)
    token = user["access_token"]
    creates = "POST /v1/subscriptions"
    try:
        # Two 500s, then it answers: the user never notices.
        razorpay_standin.faults("error", count=2)
        before = razorpay_standin.stats().get(creates, 0)
        created = await subscribe(client, token, "pro_monthly")
        assert created["subscription"]["id"].startswith("sub_")
        assert razorpay_stats_delta(razorpay_standin, creates, before) == 3

        # Down for good: three attempts, then 503 with a typed error.
        other = await signup(client)
        razorpay_standin.faults("error")
        before = razorpay_standin.stats().get(creates, 0)
        down = await client.post(
            "/api/v1/billing/subscriptions", json={"plan_id": "pro_monthly"}, headers=auth(other["access_token"])
        )
        assert down.status_code == 503, down.text
        assert down.json()["error"] == "PaymentProviderUnavailable"
        assert "attempts" in down.json()["detail"]
        assert down.headers.get("Retry-After")
        assert razorpay_stats_delta(razorpay_standin, creates, before) == 3

        # Hanging past the timeout: the same, after the timeouts.
        razorpay_standin.faults("hang", hang_seconds=3)
        before = razorpay_standin.stats().get(creates, 0)
        started = time.monotonic()
        hung = await client.post(
            "/api/v1/billing/subscriptions",
            json={"plan_id": "pro_monthly"},
            headers=auth(other["access_token"], **{"Idempotency-Key": uuid.uuid4().hex}),
        )
        assert hung.status_code == 503, hung.text
        assert hung.json()["error"] == "PaymentProviderUnavailable"
        assert time.monotonic() - started >= 3 * 1.0  # three timed-out attempts
        assert razorpay_stats_delta(razorpay_standin, creates, before) == 3
    finally:
        razorpay_standin.faults("ok")
    # And once it is back, subscribing works.
    ok = await client.post(
        "/api/v1/billing/subscriptions", json={"plan_id": "pro_monthly"}, headers=auth(other["access_token"])
    )
    assert ok.status_code == 201, ok.text


def razorpay_stats_delta(standin: RazorpayStandIn, key: str, before: int) -> int:
    return standin.stats().get(key, 0) - before


def test_a_live_key_with_the_stand_in_refuses_to_start(razorpay_standin: RazorpayStandIn) -> None:
    env = {
        **os.environ,
        "RAZORPAY_KEY_ID": "rzp_live_ABCDEFGHIJKLMN",
        "RAZORPAY_BASE_URL": razorpay_standin.url,
        "PORT": str(harness.free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", "tj_billing.main"], env=env, capture_output=True, timeout=60, cwd=harness.ROOT
    )
    assert result.returncode != 0
    assert b"live Razorpay key" in result.stderr + result.stdout
    standin = subprocess.run(
        [sys.executable, "-m", "deploy.razorpay.standin", "--port", str(harness.free_port())],
        env=env,
        capture_output=True,
        timeout=30,
        cwd=harness.ROOT,
    )
    assert standin.returncode == 2
    assert b"live key" in standin.stderr
