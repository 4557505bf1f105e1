"""account settings (long-only, brokerage plan, starting balance); one broker trade id per account

Revision ID: trades_0003
Revises: trades_0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "trades_0003"
down_revision: str | None = "trades_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
MONEY = sa.Numeric(20, 8)


def upgrade() -> None:
    op.add_column(
        "accounts", sa.Column("long_only", sa.Boolean(), server_default=sa.text("false"), nullable=False), schema=SCHEMA
    )
    op.add_column(
        "accounts", sa.Column("brokerage_plan", sa.String(32), server_default="zerodha", nullable=False), schema=SCHEMA
    )
    op.add_column("accounts", sa.Column("starting_balance", MONEY, nullable=True), schema=SCHEMA)
    op.create_index(
        "ux_executions_account_broker_trade",
        "executions",
        ["account_id", "broker_trade_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("broker_trade_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_executions_account_broker_trade", table_name="executions", schema=SCHEMA)
    op.drop_column("accounts", "starting_balance", schema=SCHEMA)
    op.drop_column("accounts", "brokerage_plan", schema=SCHEMA)
    op.drop_column("accounts", "long_only", schema=SCHEMA)
