"""typed charges: what the broker itemised per execution, each execution's and each trade's charge
breakdown in the projection, and per-account commission schedules for markets outside India

Additive only. The stored projection is marked stale so that the refresher fills the new
breakdowns in (or ``python -m tj_trades.ops rebuild-rollups --from-executions`` does it at once).

Revision ID: trades_0011
Revises: trades_0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0011"
down_revision: str | None = "trades_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
MARK_BY_DAY = (
    "INSERT INTO trades.projection_dirty (user_id, account_id, instrument, day) "
    "SELECT DISTINCT user_id, account_id, exchange || ':' || symbol, (executed_at AT TIME ZONE 'Asia/Kolkata')::date "
    "FROM trades.executions "
    "ON CONFLICT (user_id, account_id, instrument, day) DO UPDATE SET marked_at = clock_timestamp()"
)


def upgrade() -> None:
    # {line: amount as a decimal string}, as the broker's file or the client itemised them.
    op.add_column("executions", sa.Column("charges", postgresql.JSONB(), nullable=True), schema=SCHEMA)
    # CommissionSchedule's stored form (tj_trades.domain.charges.schedule_to_dict).
    op.add_column("accounts", sa.Column("commission_schedule", postgresql.JSONB(), nullable=True), schema=SCHEMA)
    op.add_column("execution_charges", sa.Column("lines", postgresql.JSONB(), nullable=True), schema=SCHEMA)
    op.add_column(
        "trade_rows",
        sa.Column("charges_breakdown", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        schema=SCHEMA,
    )
    op.execute(MARK_BY_DAY)


def downgrade() -> None:
    op.drop_column("trade_rows", "charges_breakdown", schema=SCHEMA)
    op.drop_column("execution_charges", "lines", schema=SCHEMA)
    op.drop_column("accounts", "commission_schedule", schema=SCHEMA)
    op.drop_column("executions", "charges", schema=SCHEMA)
