"""each execution's charges, and dirty groups by IST trade date

A trade's charges depend on every execution of the account's trading day (the contract note), not
only on its instrument's: the projection keeps each execution's charges, and writes mark the
(account, instrument, IST day)s they touch.

Revision ID: trades_0008
Revises: trades_0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0008"
down_revision: str | None = "trades_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
UUID = postgresql.UUID(as_uuid=True)
MARK = (
    "INSERT INTO trades.projection_dirty (user_id, account_id, instrument) "
    "SELECT DISTINCT user_id, account_id, exchange || ':' || symbol FROM trades.executions"
)
MARK_BY_DAY = (
    "INSERT INTO trades.projection_dirty (user_id, account_id, instrument, day) "
    "SELECT DISTINCT user_id, account_id, exchange || ':' || symbol, (executed_at AT TIME ZONE 'Asia/Kolkata')::date "
    "FROM trades.executions"
)


def _dirty(with_day: bool) -> None:
    columns = [
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("instrument", sa.String(90), nullable=False),
    ]
    key = ["user_id", "account_id", "instrument"]
    if with_day:
        columns.append(sa.Column("day", sa.Date(), nullable=False))
        key.append("day")
    op.create_table(
        "projection_dirty",
        *columns,
        sa.Column("marked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name="pk_projection_dirty"),
        schema=SCHEMA,
    )
    # The whole projection is stale until recomputed once.
    op.execute(MARK_BY_DAY if with_day else MARK)


def upgrade() -> None:
    op.create_table(
        "execution_charges",
        sa.Column("execution_id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("charges", sa.Numeric(), nullable=True),
        sa.Column("source", sa.String(12), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["trades.executions.id"],
            name="fk_execution_charges_execution_id_executions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("execution_id", name="pk_execution_charges"),
        schema=SCHEMA,
    )
    op.drop_table("projection_dirty", schema=SCHEMA)
    _dirty(with_day=True)


def downgrade() -> None:
    op.drop_table("projection_dirty", schema=SCHEMA)
    _dirty(with_day=False)
    op.drop_table("execution_charges", schema=SCHEMA)
