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
