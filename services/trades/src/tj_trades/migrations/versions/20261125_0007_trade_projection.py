"""the round-trip projection (one row per trade) and the daily rollup, with their dirty groups

Round trips are a function of each (account, instrument)'s executions: writes mark the groups they
touch in ``projection_dirty`` (same transaction); the projection recomputes those groups before it
is read and in the background. ``python -m tj_trades.ops rebuild-rollups`` rebuilds it all.

Revision ID: trades_0007
Revises: trades_0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0007"
down_revision: str | None = "trades_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        "trade_rows",
        sa.Column("trade_id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("instrument", sa.String(90), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_day", sa.Date(), nullable=True),
        sa.Column("quantity", sa.Numeric(), nullable=False),
        sa.Column("entry_price", sa.Numeric(), nullable=True),
        sa.Column("multiplier", sa.Numeric(), nullable=False),
        sa.Column("gross_pnl", sa.Numeric(), nullable=True),
        sa.Column("charges", sa.Numeric(), nullable=False),
        sa.Column("net_pnl", sa.Numeric(), nullable=True),
        sa.Column("charges_source", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("trade_id", name="pk_trade_rows"),
        schema=SCHEMA,
    )
    op.create_index("ix_trade_rows_user_id", "trade_rows", ["user_id", "account_id", "instrument"], schema=SCHEMA)
    op.create_index(
        "ix_trade_rows_closed",
        "trade_rows",
        ["user_id", "closed_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'closed'"),
    )
    op.create_table(
        "daily_rollups",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("trade_count", sa.Integer(), nullable=False),
        sa.Column("win_count", sa.Integer(), nullable=False),
        sa.Column("loss_count", sa.Integer(), nullable=False),
        sa.Column("breakeven_count", sa.Integer(), nullable=False),
        sa.Column("gross_pnl", sa.Numeric(), nullable=False),
        sa.Column("charges", sa.Numeric(), nullable=False),
        sa.Column("net_pnl", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "account_id", "day", name="pk_daily_rollups"),
        schema=SCHEMA,
    )
    op.create_table(
        "projection_dirty",
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("instrument", sa.String(90), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "account_id", "instrument", name="pk_projection_dirty"),
        schema=SCHEMA,
    )
    # Every existing group is stale until computed once.
    op.execute(
        "INSERT INTO trades.projection_dirty (user_id, account_id, instrument) "
        "SELECT DISTINCT user_id, account_id, exchange || ':' || symbol FROM trades.executions"
    )


def downgrade() -> None:
    op.drop_table("projection_dirty", schema=SCHEMA)
    op.drop_table("daily_rollups", schema=SCHEMA)
    op.drop_table("trade_rows", schema=SCHEMA)
