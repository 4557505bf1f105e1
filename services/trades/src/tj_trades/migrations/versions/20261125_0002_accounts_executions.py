"""accounts and executions

Revision ID: trades_0002
Revises: trades_0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0002"
down_revision: str | None = "trades_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
MONEY = sa.Numeric(20, 8)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("broker", sa.String(64), nullable=True),
        sa.Column("base_currency", sa.String(3), server_default="INR", nullable=False),
        sa.Column("timezone", sa.String(64), server_default="Asia/Kolkata", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("user_id", "name", name="uq_accounts_user_name"),
        schema=SCHEMA,
    )
    op.create_table(
        "executions",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("command_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("exchange", sa.String(16), nullable=False),
        sa.Column("segment", sa.String(16), nullable=True),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", MONEY, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("fees", MONEY, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("broker_trade_id", sa.String(128), nullable=True),
        sa.Column("broker_order_id", sa.String(128), nullable=True),
        sa.Column("product", sa.String(8), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="ck_executions_side"),
        sa.CheckConstraint("quantity > 0", name="ck_executions_quantity_positive"),
        sa.CheckConstraint("price >= 0", name="ck_executions_price_non_negative"),
        sa.ForeignKeyConstraint(["account_id"], ["trades.accounts.id"], name="fk_executions_account_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_executions"),
        schema=SCHEMA,
    )
    op.create_index("ix_executions_user_executed", "executions", ["user_id", "executed_at", "id"], schema=SCHEMA)
    op.create_index("ix_executions_command", "executions", ["command_id"], schema=SCHEMA)
    op.create_index("ix_executions_account", "executions", ["account_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("executions", schema=SCHEMA)
    op.drop_table("accounts", schema=SCHEMA)
