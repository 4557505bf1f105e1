"""Tables of the billing service (schema `billing`): plans, subscriptions, payments, refunds,
invoices, Razorpay webhook deliveries and each user's effective plan. The platform tables (outbox,
consumed offsets, processed message ids) come from tj_common."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from tj_common.db import service_metadata

metadata = service_metadata("billing")

plans = Table(
    "plans",
    metadata,
    Column("id", String(32), primary_key=True),  # free, pro_monthly, ...
    Column("name", String(64), nullable=False),  # Free, Pro, Elite
    Column("tier", Integer, nullable=False),  # 0 free, 1 pro, 2 elite: orders plans by what they allow
    Column("period", String(16), nullable=True),  # monthly / yearly; None for free
    Column("price_paise", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False, server_default="INR"),
    # Entitlements (tj_common.contracts.billing.Entitlements), as JSON.
    Column("entitlements", JSONB, nullable=False),
    Column("active", Boolean, nullable=False, server_default="true"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),  # Razorpay sub_...
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("plan_id", String(32), ForeignKey("plans.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("current_start", DateTime(timezone=True), nullable=True),
    Column("current_end", DateTime(timezone=True), nullable=True),
    Column("paid_count", Integer, nullable=False, server_default="0"),
    Column("cancel_at_cycle_end", Boolean, nullable=False, server_default="false"),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    # Dunning: when the subscription first went pending/halted since it was last active.
    Column("dunning_since", DateTime(timezone=True), nullable=True),
    # Razorpay's created_at of the last webhook that changed the status: older ones never win.
    Column("status_event_at", DateTime(timezone=True), nullable=True),
    Column("short_url", Text, nullable=True),
    Column("command_id", UUID(as_uuid=True), nullable=True, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_subscriptions_user", "user_id", "created_at"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(64), primary_key=True),  # Razorpay pay_...
    Column("user_id", UUID(as_uuid=True), nullable=True),
    Column("subscription_id", String(64), nullable=True),
    Column("invoice_id", String(64), nullable=True),
    Column("order_id", String(64), nullable=True),
    Column("amount_paise", BigInteger, nullable=False),
    Column("amount_refunded_paise", BigInteger, nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),  # created, authorized, captured, refunded, failed
    Column("method", String(32), nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("error_description", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_payments_user", "user_id", "created_at"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", String(64), primary_key=True),  # Razorpay rfnd_...
    Column("payment_id", String(64), nullable=False),
    Column("amount_paise", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_refunds_payment", "payment_id"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", String(64), primary_key=True),  # Razorpay inv_...
    Column("user_id", UUID(as_uuid=True), nullable=True),
    Column("subscription_id", String(64), nullable=True),
    Column("payment_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("amount_paise", BigInteger, nullable=False),
    Column("amount_paid_paise", BigInteger, nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("billing_start", DateTime(timezone=True), nullable=True),
    Column("billing_end", DateTime(timezone=True), nullable=True),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    Column("short_url", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_invoices_user", "user_id", "created_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("event_id", String(128), primary_key=True),  # x-razorpay-event-id
    Column("event", String(64), nullable=False),
    Column("entity_id", String(64), nullable=True),  # the subscription or payment it is about
    Column("outcome", String(16), nullable=False),  # applied, stale, ignored, rejected
    Column("event_created_at", DateTime(timezone=True), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_webhook_deliveries_processed_at", "processed_at"),
)

# The plan each user holds now, and the version of the last EntitlementsChanged sent for them.
user_plans = Table(
    "user_plans",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("plan_id", String(32), ForeignKey("plans.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("subscription_id", String(64), nullable=True),
    Column("valid_until", DateTime(timezone=True), nullable=True),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_user_plans_valid_until", "valid_until"),
)
