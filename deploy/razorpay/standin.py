"""A local stand-in for Razorpay's API, for development and tests (Razorpay cannot be reached
from here). It speaks the few endpoints billing's SDK calls — plans, subscriptions (create, fetch,
cancel), payments, invoices — under ``/v1`` with HTTP basic auth by key id and secret, keeps its
state in memory, and drives subscriptions through their life by sending correctly signed webhooks.

    python -m deploy.razorpay.standin [--port 8090]

Control endpoints (no auth; never part of Razorpay's API):

- ``GET  /_standin/health``
- ``POST /_standin/faults {"mode": "error"|"hang"|"ok", "count": N?, "hang_seconds": S?}``:
  the next N (default: all) ``/v1`` requests answer 500, or hang S seconds and then answer 500
- ``GET  /_standin/stats``: ``/v1`` requests seen, by method and path template
- ``POST /_standin/subscriptions/{id}/simulate {"events": [...], "webhook_url": "...", "clock": T?}``:
  moves the subscription through those events (a minute apart, from Unix time ``T`` if given) and
  delivers each one, signed, to ``webhook_url``

Its key id, key secret and webhook secret are the local defaults of ``.env.example``
(``RAZORPAY_KEY_ID``, ``RAZORPAY_KEY_SECRET``, ``RAZORPAY_WEBHOOK_SECRET``, read from the
environment). It refuses to run with a live key (``rzp_live_``).
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from deploy.razorpay.payloads import Lifecycle, razorpay_id, subscription_entity

DEFAULT_PORT = 8090
# name, period, amount in paise: the stand-in's own copy of the plans billing seeds.
DEFAULT_PLANS = {
    "RAZORPAY_PLAN_PRO_MONTHLY": ("plan_local_pro_monthly", "Pro", "monthly", 49900),
    "RAZORPAY_PLAN_PRO_YEARLY": ("plan_local_pro_yearly", "Pro", "yearly", 499000),
    "RAZORPAY_PLAN_ELITE_MONTHLY": ("plan_local_elite_monthly", "Elite", "monthly", 99900),
    "RAZORPAY_PLAN_ELITE_YEARLY": ("plan_local_elite_yearly", "Elite", "yearly", 999000),
}


def _error(code: str, description: str) -> dict[str, Any]:
    return {"error": {"code": code, "description": description, "source": "NA", "step": "NA", "reason": "NA"}}


class StandIn:
    """The in-memory Razorpay account."""

    def __init__(self, key_id: str, key_secret: str, webhook_secret: str) -> None:
        self.key_id = key_id
        self.key_secret = key_secret
        self.webhook_secret = webhook_secret
        self.lock = threading.RLock()
        self.plans: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, Lifecycle] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.fault_mode = "ok"
        self.fault_count: int | None = None
        self.hang_seconds = 30.0
        self.stats: Counter[str] = Counter()
        for env, (default_id, name, period, amount) in DEFAULT_PLANS.items():
            self._add_plan(os.environ.get(env, default_id), name, period, amount)

    def _add_plan(self, plan_id: str, name: str, period: str, amount: int) -> dict[str, Any]:
        now = int(time.time())
        plan = {
            "id": plan_id,
            "entity": "plan",
            "interval": 1,
            "period": period,
            "item": {
                "id": razorpay_id("item"),
                "active": True,
                "name": name,
                "description": f"Trading Journal {name} ({period})",
                "amount": amount,
                "unit_amount": amount,
                "currency": "INR",
                "type": "plan",
                "created_at": now,
            },
            "notes": [],
            "created_at": now,
        }
        self.plans[plan_id] = plan
        return plan

    # -- faults -----------------------------------------------------------------------------
    def take_fault(self) -> str:
        with self.lock:
            if self.fault_mode == "ok":
                return "ok"
            mode = self.fault_mode
            if self.fault_count is not None:
                self.fault_count -= 1
                if self.fault_count <= 0:
                    self.fault_mode, self.fault_count = "ok", None
            return mode

    # -- API --------------------------------------------------------------------------------
    def authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            key_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(key_id, self.key_id) and hmac.compare_digest(secret, self.key_secret)

    def api(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            return self._api(method, path, query, body)

    def _api(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p][1:]  # drop "v1"
        match (method, parts):
            case ("POST", ["plans"]):
                item = body.get("item") or {}
                plan = self._add_plan(
                    razorpay_id("plan"), item.get("name", "Plan"), body.get("period", "monthly"), int(item["amount"])
                )
                return 200, plan
            case ("GET", ["plans"]):
                return 200, _collection(list(self.plans.values()))
            case ("GET", ["plans", plan_id]):
                plan = self.plans.get(plan_id)
                return (200, plan) if plan else (400, _error("BAD_REQUEST_ERROR", "The id provided does not exist"))
            case ("POST", ["subscriptions"]):
                return self._create_subscription(body)
            case ("GET", ["subscriptions"]):
                return 200, _collection([lc.entity for lc in self.subscriptions.values()])
            case ("GET", ["subscriptions", subscription_id]):
                lc = self.subscriptions.get(subscription_id)
                if lc is None:
                    return 400, _error("BAD_REQUEST_ERROR", "The id provided does not exist")
                return 200, lc.entity
            case ("POST", ["subscriptions", subscription_id, "cancel"]):
                return self._cancel(subscription_id, body)
            case ("GET", ["payments"]):
                return 200, _collection(list(self.payments.values()))
            case ("GET", ["payments", payment_id]):
                payment = self.payments.get(payment_id)
                if payment is None:
                    return 400, _error("BAD_REQUEST_ERROR", "The id provided does not exist")
                return 200, payment
            case ("GET", ["invoices"]):
                items = list(self.invoices.values())
                if "subscription_id" in query:
                    items = [i for i in items if i["subscription_id"] == query["subscription_id"]]
                return 200, _collection(items)
            case ("GET", ["invoices", invoice_id]):
                invoice = self.invoices.get(invoice_id)
                if invoice is None:
                    return 400, _error("BAD_REQUEST_ERROR", "The id provided does not exist")
                return 200, invoice
        return 404, _error("BAD_REQUEST_ERROR", f"The requested URL was not found on the server: {path}")

    def _create_subscription(self, body: dict[str, Any]) -> tuple[int, Any]:
        plan = self.plans.get(str(body.get("plan_id")))
        if plan is None:
            return 400, _error("BAD_REQUEST_ERROR", "The id provided does not exist")
        total_count = body.get("total_count")
        if not isinstance(total_count, int) or total_count < 1:
            return 400, _error("BAD_REQUEST_ERROR", "The total count field is required.")
        subscription_id = razorpay_id("sub")
        lc = Lifecycle(
            subscription_id=subscription_id,
            plan_id=plan["id"],
            amount=int(plan["item"]["amount"]),
            webhook_secret=self.webhook_secret,
            notes=body.get("notes") or {},
            period=plan["period"],
            total_count=total_count,
        )
        lc.entity = subscription_entity(
            subscription_id, plan["id"], total_count, body.get("notes") or {}, int(time.time())
        )
        self.subscriptions[subscription_id] = lc
        return 200, lc.entity

    def _cancel(self, subscription_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        lc = self.subscriptions.get(subscription_id)
        if lc is None:
            return 400, _error("BAD_REQUEST_ERROR", "The id provided does not exist")
        entity = lc.entity
        if entity["status"] in ("cancelled", "completed", "expired"):
            return 400, _error("BAD_REQUEST_ERROR", "Subscription is not cancellable in cancelled status.")
        if body.get("cancel_at_cycle_end") in (1, True, "1"):
            if entity["status"] != "active":
                return 400, _error(
                    "BAD_REQUEST_ERROR", f"Cannot cancel at cycle end a subscription in {entity['status']} status."
                )
            entity.update(has_scheduled_changes=True, change_scheduled_at=entity["current_end"])
        else:
            entity.update(status="cancelled", ended_at=int(time.time()))
        return 200, entity

    # -- simulation -------------------------------------------------------------------------
    def simulate(
        self, subscription_id: str, events: list[str], webhook_url: str, clock: int | None = None
    ) -> tuple[int, Any]:
        with self.lock:
            lc = self.subscriptions.get(subscription_id)
            if lc is None:
                return 404, {"error": f"no subscription {subscription_id}"}
            if clock is not None:  # when the first event happens (a minute after this)
                lc.clock = clock
            else:  # events a minute apart, the last one now (never before an earlier simulation's)
                lc.clock = max(lc.clock, int(time.time()) - 60 * len(events))
            deliveries = []
            for name in events:
                event = name if "." in name else f"subscription.{name}"
                try:
                    deliveries.append(lc.event(event))
                except ValueError as exc:
                    return 400, {"error": str(exc)}
                if lc.payment:
                    self.payments[lc.payment["id"]] = dict(lc.payment)
                if lc.invoice:
                    self.invoices[lc.invoice["id"]] = dict(lc.invoice)
        sent = []
        for delivery in deliveries:
            if not webhook_url.startswith(("http://", "https://")):
                return 400, {"error": "webhook_url must be an http(s) URL"}
            request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
                webhook_url, data=delivery.body, headers=delivery.headers(), method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, TimeoutError) as exc:
                status = 0
                print(f"delivery of {delivery.event} failed: {exc}", file=sys.stderr)
            sent.append({"event": delivery.event, "event_id": delivery.event_id, "status": status})
        return 200, {"subscription": lc.entity, "deliveries": sent}


def _collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}


_ID = re.compile(r"^(sub|pay|inv|plan)_[A-Za-z0-9_]+$")


def _template(path: str) -> str:
    return "/".join("{id}" if _ID.match(p) else p for p in path.split("/"))


def make_handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "razorpay-standin/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and dev logs stay readable
            return

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return {}
            raw = self.rfile.read(length)
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            return parsed if isinstance(parsed, dict) else {}

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            body = self._body()
            if url.path.startswith("/_standin/"):
                self._control(method, url.path, body)
                return
            if not url.path.startswith("/v1/"):
                self._send(404, _error("BAD_REQUEST_ERROR", "not found"))
                return
            standin.stats[f"{method} {_template(url.path)}"] += 1
            fault = standin.take_fault()
            if fault == "hang":
                time.sleep(standin.hang_seconds)
            if fault in ("error", "hang"):
                self._send(500, _error("SERVER_ERROR", "The server encountered an error. (stand-in fault)"))
                return
            if not standin.authorised(self.headers.get("Authorization")):
                self._send(401, _error("BAD_REQUEST_ERROR", "Authentication failed"))
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, answer = standin.api(method, url.path, query, body)
            self._send(status, answer)

        def _control(self, method: str, path: str, body: dict[str, Any]) -> None:
            parts = [p for p in path.split("/") if p][1:]
            match (method, parts):
                case ("GET", ["health"]):
                    self._send(200, {"status": "healthy"})
                case ("GET", ["stats"]):
                    self._send(200, dict(standin.stats))
                case ("POST", ["faults"]):
                    with standin.lock:
                        standin.fault_mode = str(body.get("mode", "ok"))
                        count = body.get("count")
                        standin.fault_count = int(count) if count is not None else None
                        standin.hang_seconds = float(body.get("hang_seconds", standin.hang_seconds))
                    self._send(200, {"mode": standin.fault_mode, "count": standin.fault_count})
                case ("POST", ["subscriptions", subscription_id, "simulate"]):
                    events = body.get("events") or []
                    if isinstance(events, str):
                        events = [e for e in events.split(",") if e]
                    clock = body.get("clock")
                    status, answer = standin.simulate(
                        subscription_id, list(events), str(body.get("webhook_url")), int(clock) if clock else None
                    )
                    self._send(status, answer)
                case _:
                    self._send(404, {"error": "unknown control endpoint"})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("RAZORPAY_STANDIN_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    key_id = os.environ.get("RAZORPAY_KEY_ID", "rzp_test_localstandin")
    if key_id.startswith("rzp_live_"):
        print("refusing to run the Razorpay stand-in with a live key (rzp_live_...)", file=sys.stderr)
        return 2
    standin = StandIn(
        key_id,
        os.environ.get("RAZORPAY_KEY_SECRET", "local-razorpay-key-secret"),
        os.environ.get("RAZORPAY_WEBHOOK_SECRET", "local-razorpay-webhook-secret"),
    )
    server = ThreadingHTTPServer((args.host, args.port), make_handler(standin))
    server.daemon_threads = True
    print(f"razorpay stand-in on http://{args.host}:{args.port} (key id {key_id})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
