"""Razorpay webhook deliveries shaped like Razorpay's documented examples (entity ``event``,
``contains``, ``payload.<entity>.entity``, Unix timestamps), for the stand-in, the simulator, the
tests and the benchmark. A :class:`Lifecycle` drives one subscription through its life and
returns each delivery with its event id and its signature, exactly as Razorpay would send it."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "acc_TJLocalStandin1"
_ALPHABET = string.ascii_letters + string.digits
PERIOD_SECONDS = {"monthly": 30 * 86400, "yearly": 365 * 86400, "weekly": 7 * 86400, "daily": 86400}

SUBSCRIPTION_EVENTS = (
    "subscription.authenticated",
    "subscription.activated",
    "subscription.charged",
    "subscription.pending",
    "subscription.halted",
    "subscription.paused",
    "subscription.resumed",
    "subscription.cancelled",
    "subscription.completed",
    "subscription.updated",
)
OTHER_EVENTS = ("payment.authorized", "payment.captured", "payment.failed", "refund.processed", "invoice.paid")
ALL_EVENTS = SUBSCRIPTION_EVENTS + OTHER_EVENTS


def razorpay_id(prefix: str) -> str:
    """An id like Razorpay's: a prefix and 14 base62 characters."""
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(14))}"


def sign(secret: str, body: bytes) -> str:
    """X-Razorpay-Signature: hex HMAC-SHA256 of the raw body with the webhook secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def checkout_signature(key_secret: str, payment_id: str, subscription_id: str) -> str:
    """What Checkout returns after a subscription's first payment: HMAC of payment_id|subscription_id."""
    return hmac.new(key_secret.encode(), f"{payment_id}|{subscription_id}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookDelivery:
    event_id: str
    event: str
    body: bytes
    signature: str

    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": self.signature,
            "X-Razorpay-Event-Id": self.event_id,
            "User-Agent": "Razorpay-Webhook/v1",
        }


def subscription_entity(
    subscription_id: str, plan_id: str, total_count: int, notes: dict[str, Any], created_at: int
) -> dict[str, Any]:
    return {
        "id": subscription_id,
        "entity": "subscription",
        "plan_id": plan_id,
        "customer_id": None,
        "status": "created",
        "current_start": None,
        "current_end": None,
        "ended_at": None,
        "quantity": 1,
        "notes": notes or [],
        "charge_at": None,
        "start_at": None,
        "end_at": None,
        "auth_attempts": 0,
        "total_count": total_count,
        "paid_count": 0,
        "customer_notify": True,
        "created_at": created_at,
        "expire_by": None,
        "short_url": f"https://rzp.io/i/{subscription_id[4:12]}",
        "has_scheduled_changes": False,
        "change_scheduled_at": None,
        "source": "api",
        "payment_method": None,
        "offer_id": None,
        "remaining_count": total_count,
    }


def payment_entity(
    payment_id: str, amount: int, status: str, created_at: int, invoice_id: str | None, notes: dict[str, Any]
) -> dict[str, Any]:
    failed = status == "failed"
    return {
        "id": payment_id,
        "entity": "payment",
        "amount": amount,
        "currency": "INR",
        "status": status,
        "order_id": f"order_{payment_id[4:]}",
        "invoice_id": invoice_id,
        "international": False,
        "method": "card",
        "amount_refunded": 0,
        "amount_transferred": 0,
        "refund_status": None,
        "captured": status == "captured",
        "description": "Trading Journal subscription",
        "card_id": f"card_{payment_id[4:]}",
        "bank": None,
        "wallet": None,
        "vpa": None,
        "email": "trader@example.com",
        "contact": "+919876543210",
        "customer_id": None,
        "token_id": None,
        "notes": notes or [],
        "fee": 0 if failed else amount * 2 // 100,
        "tax": 0 if failed else amount * 2 // 100 * 18 // 100,
        "error_code": "BAD_REQUEST_ERROR" if failed else None,
        "error_description": "Payment failed due to insufficient funds" if failed else None,
        "error_source": "customer" if failed else None,
        "error_step": "payment_authorization" if failed else None,
        "error_reason": "insufficient_funds" if failed else None,
        "acquirer_data": {"auth_code": None if failed else "828553"},
        "created_at": created_at,
    }


def invoice_entity(
    invoice_id: str, subscription_id: str, payment_id: str, amount: int, period: tuple[int, int], paid_at: int
) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "entity": "invoice",
        "receipt": None,
        "invoice_number": None,
        "customer_id": None,
        "order_id": f"order_{payment_id[4:]}",
        "subscription_id": subscription_id,
        "payment_id": payment_id,
        "status": "paid",
        "expire_by": None,
        "issued_at": period[0],
        "paid_at": paid_at,
        "cancelled_at": None,
        "expired_at": None,
        "sms_status": None,
        "email_status": None,
        "date": period[0],
        "terms": None,
        "partial_payment": False,
        "gross_amount": amount,
        "tax_amount": 0,
        "taxable_amount": 0,
        "amount": amount,
        "amount_paid": amount,
        "amount_due": 0,
        "currency": "INR",
        "description": None,
        "notes": [],
        "comment": None,
        "short_url": f"https://rzp.io/i/{invoice_id[4:12]}",
        "view_less": True,
        "billing_start": period[0],
        "billing_end": period[1],
        "type": "invoice",
        "group_taxes_discounts": False,
        "created_at": period[0],
    }


def event_body(event: str, payload: dict[str, Any], created_at: int) -> bytes:
    body = {
        "entity": "event",
        "account_id": ACCOUNT_ID,
        "event": event,
        "contains": list(payload),
        "payload": {name: {"entity": entity} for name, entity in payload.items()},
        "created_at": created_at,
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Lifecycle:
    """One subscription through its life, one webhook delivery per call of :meth:`event`. Every
    event happens a minute after the one before, so their order is the order of the calls."""

    subscription_id: str
    plan_id: str  # Razorpay's plan id
    amount: int  # paise per charge
    webhook_secret: str
    notes: dict[str, Any] = field(default_factory=dict)
    period: str = "monthly"
    total_count: int = 12
    clock: int = field(default_factory=lambda: int(time.time()))
    entity: dict[str, Any] = field(init=False)
    payment: dict[str, Any] | None = field(default=None, init=False)
    invoice: dict[str, Any] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.entity = subscription_entity(self.subscription_id, self.plan_id, self.total_count, self.notes, self.clock)

    def _tick(self) -> int:
        self.clock += 60
        return self.clock

    def _new_period(self, at: int) -> None:
        start = self.entity["current_end"] or at
        self.entity.update(
            current_start=start,
            current_end=start + PERIOD_SECONDS.get(self.period, 30 * 86400),
            charge_at=start + PERIOD_SECONDS.get(self.period, 30 * 86400),
        )

    def event(self, name: str, **changes: Any) -> WebhookDelivery:
        at = self._tick()
        payload: dict[str, Any] = {}
        e = self.entity
        if name == "subscription.authenticated":
            e.update(status="authenticated", auth_attempts=0, start_at=at, end_at=at + 10 * 365 * 86400)
        elif name == "subscription.activated":
            e["status"] = "active"
            if e["current_end"] is None:
                self._new_period(at)
        elif name == "subscription.charged":
            self._charge(at)
            payload["payment"] = dict(self.payment or {})
        elif name in ("subscription.pending", "subscription.halted", "subscription.paused"):
            e["status"] = name.split(".")[1]
        elif name == "subscription.resumed":
            e["status"] = "active"
        elif name in ("subscription.cancelled", "subscription.completed"):
            e.update(status=name.split(".")[1], ended_at=at, has_scheduled_changes=False)
        elif name == "subscription.updated":
            e.update(status=e["status"] if e["status"] != "created" else "active")
        elif name in ("payment.authorized", "payment.captured"):
            if self.payment is None or self.payment["status"] in ("failed", "refunded"):
                self.payment = payment_entity(razorpay_id("pay"), self.amount, "created", at, None, self.notes)
            self.payment.update(status=name.split(".")[1], captured=name == "payment.captured")
        elif name == "payment.failed":
            self.payment = payment_entity(razorpay_id("pay"), self.amount, "failed", at, None, self.notes)
        elif name == "refund.processed":
            if self.payment is None:
                self._charge(at)
            assert self.payment is not None
            refund = {
                "id": razorpay_id("rfnd"),
                "entity": "refund",
                "amount": self.payment["amount"],
                "currency": "INR",
                "payment_id": self.payment["id"],
                "notes": [],
                "receipt": None,
                "acquirer_data": {"arn": None},
                "created_at": at,
                "batch_id": None,
                "status": "processed",
                "speed_processed": "normal",
                "speed_requested": "normal",
            }
            self.payment.update(amount_refunded=self.payment["amount"], refund_status="full", status="refunded")
            payload["refund"] = refund
        elif name == "invoice.paid":
            if self.invoice is None:
                self._charge(at)
            payload["invoice"] = dict(self.invoice or {})
            payload["order"] = {
                "id": (self.invoice or {}).get("order_id"),
                "entity": "order",
                "amount": self.amount,
                "amount_paid": self.amount,
                "amount_due": 0,
                "currency": "INR",
                "status": "paid",
                "created_at": at,
            }
        else:
            raise ValueError(f"unknown event {name!r}; known: {', '.join(ALL_EVENTS)}")
        e.update(changes)
        if name.startswith("subscription."):
            payload = {"subscription": dict(e), **payload}
        elif name in ("payment.authorized", "payment.captured", "payment.failed", "refund.processed", "invoice.paid"):
            payload.setdefault("payment", dict(self.payment or {}))
        body = event_body(name, payload, at)
        return WebhookDelivery(razorpay_id("evt"), name, body, sign(self.webhook_secret, body))

    def _charge(self, at: int) -> None:
        e = self.entity
        e["status"] = "active"
        # The first charge pays for the period activation opened; each later one opens the next.
        if e["paid_count"] > 0 or e["current_end"] is None:
            self._new_period(at)
        e["paid_count"] += 1
        e["remaining_count"] = max(self.total_count - e["paid_count"], 0)
        invoice_id = razorpay_id("inv")
        if self.payment is not None and self.payment["status"] == "captured" and not self.payment["invoice_id"]:
            # The first charge is the payment Checkout authorized and captured a moment ago.
            self.payment["invoice_id"] = invoice_id
        else:
            self.payment = payment_entity(razorpay_id("pay"), self.amount, "captured", at, invoice_id, self.notes)
        self.invoice = invoice_entity(
            invoice_id,
            self.subscription_id,
            self.payment["id"],
            self.amount,
            (e["current_start"], e["current_end"]),
            at,
        )
