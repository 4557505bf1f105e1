"""Contracts of the billing service: its commands (``billing.commands``), the Razorpay webhook
deliveries (``billing.webhooks``) and its events (``billing.events``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

ENTITLEMENTS_CHANGED = "billing.EntitlementsChanged"
WEBHOOK_RECEIVED = "billing.WebhookReceived"


class Entitlements(BaseModel):
    """What a plan allows. ``None`` means unlimited."""

    model_config = ConfigDict(extra="ignore")

    max_accounts: int | None = 1
    executions_per_month: int | None = 500
    imports_allowed: bool = True
    api_access: bool = False
    attachment_storage_mb: int = 0
    history_days: int | None = 90


FREE_PLAN_ID = "free"
# The free plan's limits when billing has said nothing about a user (also billing's seed row).
FREE_ENTITLEMENTS = Entitlements()


class EntitlementsChanged(BaseModel):
    """A user's effective plan changed (subscribed, renewed, lapsed, cancelled and expired...).

    Keyed by user id. ``version`` grows with every change for that user, so a consumer that
    sees an older version than the one it holds ignores it.
    """

    user_id: uuid.UUID
    plan_id: str  # e.g. "free", "pro_monthly", "elite_yearly"
    plan_name: str  # e.g. "Free", "Pro", "Elite"
    status: str  # subscription status behind it, "none" on the free plan
    entitlements: Entitlements
    valid_until: datetime | None = None  # end of the paid period or grace; None = open-ended
    version: int = Field(ge=0)


class WebhookReceived(BaseModel):
    """One Razorpay delivery, exactly as received (verified at the edge before it is written)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str  # X-Razorpay-Event-Id
    event: str  # e.g. "subscription.charged"
    signature: str
    body: str  # the raw body, so billing can re-verify and parse it
    received_at: datetime


# -- commands (billing.commands, key = user id) and their replies (billing.events) -------------
CREATE_SUBSCRIPTION = "billing.CreateSubscription"
VERIFY_CHECKOUT = "billing.VerifyCheckout"
CANCEL_SUBSCRIPTION = "billing.CancelSubscription"
SUBSCRIPTION_CREATED = "billing.SubscriptionCreated"
CHECKOUT_VERIFIED = "billing.CheckoutVerified"
SUBSCRIPTION_CANCELLED = "billing.SubscriptionCancelled"
COMMAND_REJECTED = "billing.CommandRejected"


class CreateSubscription(BaseModel):
    """Subscribe the user to a paid plan: billing creates the Razorpay subscription."""

    model_config = ConfigDict(extra="forbid")

    plan_id: str = Field(min_length=1, max_length=64, examples=["pro_monthly"])


class VerifyCheckout(BaseModel):
    """What Razorpay Checkout hands the browser after the first payment of a subscription."""

    model_config = ConfigDict(extra="forbid")

    razorpay_payment_id: str = Field(min_length=1, max_length=64)
    razorpay_subscription_id: str = Field(min_length=1, max_length=64)
    razorpay_signature: str = Field(min_length=1, max_length=256)


class CancelSubscription(BaseModel):
    """Cancel the user's subscription; by default at the end of the paid period."""

    model_config = ConfigDict(extra="forbid")

    at_cycle_end: bool = True


class Subscription(BaseModel):
    """A user's subscription as billing holds it (also the body of ``GET /billing/subscription``)."""

    id: str  # Razorpay subscription id
    plan_id: str
    status: str  # Razorpay's: created, authenticated, active, pending, halted, paused, cancelled, ...
    current_start: datetime | None = None
    current_end: datetime | None = None
    cancel_at_cycle_end: bool = False
    ended_at: datetime | None = None
    short_url: str | None = None
    created_at: datetime


class SubscriptionCreated(BaseModel):
    """What Checkout needs to take the first payment."""

    subscription: Subscription
    key_id: str
    short_url: str | None = None


class CheckoutVerified(BaseModel):
    subscription: Subscription
    payment_id: str


class SubscriptionCancelled(BaseModel):
    subscription: Subscription


class CommandRejected(BaseModel):
    """A billing command that was refused; ``error`` and ``status`` are the HTTP answer."""

    status: int
    error: str  # e.g. "NotFound", "Conflict", "PaymentProviderUnavailable", "InvalidSignature"
    detail: str
