"""Drive a subscription through its life locally: log in (the demo user by default), subscribe to
a plan through the API, have the Razorpay stand-in send the given events as signed webhooks to the
gateway, and print the subscription, plan, payments and invoices that result.

    make razorpay-simulate PLAN=pro_monthly EVENTS=authenticated,activated,charged
    uv run python -m deploy.razorpay.simulate --plan elite_yearly --events activated,charged,pending,halted

Events are Razorpay's names; ``subscription.`` may be left out (``charged`` = ``subscription.charged``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import httpx

DEFAULT_EVENTS = "authenticated,activated,charged,invoice.paid"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default="pro_monthly")
    parser.add_argument("--events", default=DEFAULT_EVENTS, help=f"comma-separated (default {DEFAULT_EVENTS})")
    parser.add_argument("--gateway", default=os.environ.get("TJ_GATEWAY_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--standin", default=os.environ.get("RAZORPAY_BASE_URL", "http://127.0.0.1:8090"))
    parser.add_argument("--email", default="demo@example.com")
    parser.add_argument("--password", default="demo-password-2026")
    args = parser.parse_args(argv)
    standin = args.standin.rstrip("/").removesuffix("/v1")
    events = [e.strip() for e in args.events.split(",") if e.strip()]

    with httpx.Client(base_url=args.gateway, timeout=30) as api:
        login = api.post("/api/v1/auth/login", json={"email": args.email, "password": args.password})
        if login.status_code == 401:
            login = api.post("/api/v1/auth/signup", json={"email": args.email, "password": args.password})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        created = api.post("/api/v1/billing/subscriptions", json={"plan_id": args.plan}, headers=headers)
        if created.status_code == 201:
            subscription_id = created.json()["subscription"]["id"]
            print(f"subscribed to {args.plan}: {subscription_id}")
        elif created.status_code == 409:
            subscription_id = api.get("/api/v1/billing/subscription", headers=headers).json()["subscription"]["id"]
            print(f"using the live subscription {subscription_id}")
        else:
            print(f"subscribing failed: {created.status_code} {created.text}", file=sys.stderr)
            return 1

        simulated = httpx.post(
            f"{standin}/_standin/subscriptions/{subscription_id}/simulate",
            json={"events": events, "webhook_url": f"{args.gateway}/api/webhooks/razorpay"},
            timeout=60,
        )
        if simulated.status_code != 200:
            print(f"the stand-in refused: {simulated.status_code} {simulated.text}", file=sys.stderr)
            return 1
        for delivery in simulated.json()["deliveries"]:
            print(f"  {delivery['event']:<28} {delivery['event_id']}  -> {delivery['status']}")

        time.sleep(1.0)  # billing applies them from Kafka
        report: dict[str, Any] = {
            "subscription": api.get("/api/v1/billing/subscription", headers=headers).json(),
            "payments": api.get("/api/v1/billing/payments", headers=headers).json()["items"],
            "invoices": api.get("/api/v1/billing/invoices", headers=headers).json()["items"],
        }
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
