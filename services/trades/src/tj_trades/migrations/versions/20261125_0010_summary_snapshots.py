"""summary snapshots: each user's summary per account and for all accounts, chained from the
daily rollups whenever they change (R, which follows annotations, is added on read)

Revision ID: trades_0010
Revises: trades_0009
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0010"
down_revision: str | None = "trades_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"


def upgrade() -> None:
    op.create_table(
        "summary_snapshots",
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("scope", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("starting_balance", sa.Numeric(), nullable=True),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "scope", name="pk_summary_snapshots"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("summary_snapshots", schema=SCHEMA)
