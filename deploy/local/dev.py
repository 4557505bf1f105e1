"""`make dev`: run the four services from the Procfile (honcho), wait until healthy, seed a demo
user with a few executions on the Pro plan (subscribed through billing and the Razorpay stand-in,
as `make razorpay-simulate` does, so attachments and API keys work too), print the URL and
credentials. Ctrl-C stops the services; `make down` stops the infrastructure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tj_common.ops import wait_health

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = os.environ.get("TJ_GATEWAY_URL", "http://127.0.0.1:8000")
HEALTH = [
    f"{GATEWAY}/api/health",
    "http://127.0.0.1:8001/health",
    "http://127.0.0.1:8002/health",
    "http://127.0.0.1:8003/health",
    # The Razorpay stand-in billing's SDK talks to locally (deploy/razorpay/standin.py).
    "http://127.0.0.1:8090/_standin/health",
]
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-2026"
DEMO_PLAN = "pro_monthly"
STANDIN = os.environ.get("RAZORPAY_BASE_URL", "http://127.0.0.1:8090").rstrip("/").removesuffix("/v1")

DEMO_EXECUTIONS = [
    {
        "symbol": "RELIANCE",
        "side": "buy",
        "quantity": "20",
        "price": "2948.10",
        "executed_at": "2026-11-20T09:21:04+05:30",
        "product": "MIS",
    },
    {
        "symbol": "RELIANCE",
        "side": "sell",
        "quantity": "20",
        "price": "2961.75",
        "executed_at": "2026-11-20T11:02:37+05:30",
        "product": "MIS",
    },
    {
        "symbol": "INFY",
        "side": "buy",
        "quantity": "15",
        "price": "1881.40",
        "executed_at": "2026-11-21T09:45:12+05:30",
        "product": "CNC",
    },
    {
        "symbol": "NIFTY2612625900CE",
        "exchange": "NFO",
        "segment": "options",
        "side": "buy",
        "quantity": "75",
        "price": "112.35",
        "executed_at": "2026-11-24T10:05:00+05:30",
        "product": "NRML",
    },
    {
        "symbol": "NIFTY2612625900CE",
        "exchange": "NFO",
        "segment": "options",
        "side": "sell",
        "quantity": "75",
        "price": "96.20",
        "executed_at": "2026-11-24T13:40:00+05:30",
        "product": "NRML",
    },
]


def seed() -> None:
    with httpx.Client(base_url=GATEWAY, timeout=10) as client:
        response = client.post("/api/v1/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        if response.status_code == 401:
            response = client.post(
                "/api/v1/auth/signup", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "name": "Demo Trader"}
            )
        response.raise_for_status()
        token = response.json()["access_token"]
        recorded = client.post(
            "/api/v1/executions",
            json={"executions": DEMO_EXECUTIONS},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "demo-seed-v1"},
        )
        if recorded.status_code not in (201, 202):
            raise RuntimeError(f"seeding failed: {recorded.status_code} {recorded.text}")
        try:
            demo_plan(client, {"Authorization": f"Bearer {token}"})
        except (httpx.HTTPError, RuntimeError) as exc:  # the demo still works on the free plan
            print(f"  (the demo user stays on the free plan: {exc})", file=sys.stderr)


def demo_plan(client: httpx.Client, headers: dict[str, str]) -> None:
    """Puts the demo user on DEMO_PLAN the way a trader gets there: a subscription through billing,
    paid at the Razorpay stand-in, whose signed webhooks reach the gateway. Nothing to do when the
    user already has a paid plan (a restart of `make dev`)."""
    if client.get("/api/v1/me", headers=headers).json().get("plan") != "free":
        return
    created = client.post("/api/v1/billing/subscriptions", json={"plan_id": DEMO_PLAN}, headers=headers)
    if created.status_code == 409:  # a live subscription whose webhooks never came
        subscription_id = client.get("/api/v1/billing/subscription", headers=headers).json()["subscription"]["id"]
    elif created.status_code == 201:
        subscription_id = created.json()["subscription"]["id"]
    else:
        raise RuntimeError(f"subscribing failed: {created.status_code} {created.text[:200]}")
    simulated = httpx.post(
        f"{STANDIN}/_standin/subscriptions/{subscription_id}/simulate",
        json={"events": ["authenticated", "activated", "charged"], "webhook_url": f"{GATEWAY}/api/webhooks/razorpay"},
        timeout=60,
    )
    if simulated.status_code != 200:
        raise RuntimeError(f"the Razorpay stand-in refused: {simulated.status_code} {simulated.text[:200]}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if client.get("/api/v1/me", headers=headers).json().get("plan") == DEMO_PLAN:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{DEMO_PLAN} did not reach the gateway within 30 s")


def main() -> int:
    started = time.monotonic()
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile"), "-d", str(ROOT), "start"],
        start_new_session=True,
    )

    def stop(*_: object) -> None:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if wait_health(HEALTH, 90.0) != 0:
        print("services did not become healthy within 90 s; see the output above", file=sys.stderr)
        stop()
        honcho.wait()
        return 1
    try:
        seed()
    except Exception as exc:
        print(f"seeding the demo user failed: {exc}", file=sys.stderr)
        stop()
        honcho.wait()
        return 1
    elapsed = time.monotonic() - started
    print(
        "\n"
        f"  Trading Journal is up ({elapsed:.1f} s to healthy)\n"
        f"  API:       {GATEWAY}/api/v1   docs: {GATEWAY}/api/docs\n"
        f"  Health:    {GATEWAY}/api/health\n"
        f"  Demo user: {DEMO_EMAIL} / {DEMO_PASSWORD} (plan {DEMO_PLAN})\n"
        "  Razorpay:  stand-in on http://127.0.0.1:8090 (try `make razorpay-simulate PLAN=pro_monthly`)\n"
        "  Mail:      SMTP sink on 127.0.0.1:8025; messages (password resets) in .local/mail/new\n"
        "  Ctrl-C stops the services; `make down` stops the infrastructure.\n",
        flush=True,
    )
    return honcho.wait()


if __name__ == "__main__":
    sys.exit(main())
