"""daily rollups carry what the summary needs to chain days: win/loss sums and extremes, the
day's first, last and longest runs, its equity segments; plus rows for all accounts together

Revision ID: trades_0009
Revises: trades_0008
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0009"
down_revision: str | None = "trades_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
COLUMNS = (
    ("sum_wins", sa.Numeric(), "0"),
    ("sum_losses", sa.Numeric(), "0"),
    ("largest_win", sa.Numeric(), None),
    ("largest_loss", sa.Numeric(), None),
    ("first_kind", sa.SmallInteger(), "0"),
    ("first_run", sa.Integer(), "0"),
    ("last_kind", sa.SmallInteger(), "0"),
    ("last_run", sa.Integer(), "0"),
    ("best_win_run", sa.Integer(), "0"),
    ("best_loss_run", sa.Integer(), "0"),
)


def upgrade() -> None:
    for name, type_, default in COLUMNS:
        op.add_column(
            "daily_rollups",
            sa.Column(name, type_, nullable=default is None, server_default=default),
            schema=SCHEMA,
        )
    op.add_column(
        "daily_rollups",
        sa.Column("segments", postgresql.JSONB(), server_default="[]", nullable=False),
        schema=SCHEMA,
    )
    op.add_column("daily_rollups", sa.Column("zone", sa.String(64), nullable=True), schema=SCHEMA)
    # Everything is recomputed with the new columns.
    op.execute("DELETE FROM trades.daily_rollups")
    op.execute(
        "INSERT INTO trades.projection_dirty (user_id, account_id, instrument, day) "
        "SELECT DISTINCT user_id, account_id, instrument, (opened_at AT TIME ZONE 'Asia/Kolkata')::date "
        "FROM trades.trade_rows ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    op.execute("DELETE FROM trades.daily_rollups WHERE account_id = '00000000-0000-0000-0000-000000000000'")
    for name in ("zone", "segments", *(c[0] for c in reversed(COLUMNS))):
        op.drop_column("daily_rollups", name, schema=SCHEMA)
