"""billing tables: plans, subscriptions, payments, refunds, invoices, webhook deliveries, user plans

Revision ID: billing_0002
Revises: billing_0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "billing_0002"
down_revision: str | None = "billing_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "billing"


def _ts(name: str, nullable: bool = True, default: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=sa.func.now() if default else None
    )


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(16), nullable=True),
        sa.Column("price_paise", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="INR"),
        sa.Column("entitlements", postgresql.JSONB(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        schema=SCHEMA,
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("plan_id", sa.String(32), sa.ForeignKey(f"{SCHEMA}.plans.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("current_start"),
        _ts("current_end"),
        sa.Column("paid_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cancel_at_cycle_end", sa.Boolean(), nullable=False, server_default="false"),
        _ts("ended_at"),
        _ts("dunning_since"),
        _ts("status_event_at"),
        sa.Column("short_url", sa.Text(), nullable=True),
        sa.Column("command_id", postgresql.UUID(as_uuid=True), nullable=True, unique=True),
        _ts("created_at", nullable=False, default=True),
        _ts("updated_at", nullable=False, default=True),
        schema=SCHEMA,
    )
    op.create_index("ix_subscriptions_user", "subscriptions", ["user_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "payments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("subscription_id", sa.String(64), nullable=True),
        sa.Column("invoice_id", sa.String(64), nullable=True),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded_paise", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_description", sa.Text(), nullable=True),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False, default=True),
        schema=SCHEMA,
    )
    op.create_index("ix_payments_user", "payments", ["user_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("payment_id", sa.String(64), nullable=False),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at", nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_refunds_payment", "refunds", ["payment_id"], schema=SCHEMA)
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("subscription_id", sa.String(64), nullable=True),
        sa.Column("payment_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_paise", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("currency", sa.String(3), nullable=False),
        _ts("billing_start"),
        _ts("billing_end"),
        _ts("paid_at"),
        sa.Column("short_url", sa.Text(), nullable=True),
        _ts("created_at", nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_invoices_user", "invoices", ["user_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "webhook_deliveries",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        _ts("event_created_at"),
        _ts("received_at", nullable=False),
        _ts("processed_at", nullable=False, default=True),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_deliveries_processed_at", "webhook_deliveries", ["processed_at"], schema=SCHEMA)
    op.create_table(
        "user_plans",
        sa.Column("user_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("plan_id", sa.String(32), sa.ForeignKey(f"{SCHEMA}.plans.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subscription_id", sa.String(64), nullable=True),
        _ts("valid_until"),
        sa.Column("version", sa.BigInteger(), nullable=False),
        _ts("updated_at", nullable=False, default=True),
        schema=SCHEMA,
    )
    op.create_index("ix_user_plans_valid_until", "user_plans", ["valid_until"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_user_plans_valid_until", table_name="user_plans", schema=SCHEMA)
    op.drop_table("user_plans", schema=SCHEMA)
    op.drop_index("ix_webhook_deliveries_processed_at", table_name="webhook_deliveries", schema=SCHEMA)
    op.drop_table("webhook_deliveries", schema=SCHEMA)
    op.drop_index("ix_invoices_user", table_name="invoices", schema=SCHEMA)
    op.drop_table("invoices", schema=SCHEMA)
    op.drop_index("ix_refunds_payment", table_name="refunds", schema=SCHEMA)
    op.drop_table("refunds", schema=SCHEMA)
    op.drop_index("ix_payments_user", table_name="payments", schema=SCHEMA)
    op.drop_table("payments", schema=SCHEMA)
    op.drop_index("ix_subscriptions_user", table_name="subscriptions", schema=SCHEMA)
    op.drop_table("subscriptions", schema=SCHEMA)
    op.drop_table("plans", schema=SCHEMA)
