"""trade_rows: the group index carries the close and open times

A refresh recomputes an (account, instrument) only after its last flat point before the earliest
changed day (tj_trades.projection._flat_points): it reads the group's latest trades by close
time, which this index gives in order (scanned backwards) instead of sorting the whole group.

Revision ID: trades_0013
Revises: trades_0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "trades_0013"
down_revision: str | None = "trades_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"


def upgrade() -> None:
    op.create_index(
        "ix_trade_rows_group",
        "trade_rows",
        ["user_id", "account_id", "instrument", "closed_at", "opened_at"],
        schema=SCHEMA,
    )
    op.drop_index("ix_trade_rows_user_id", table_name="trade_rows", schema=SCHEMA)


def downgrade() -> None:
    op.create_index("ix_trade_rows_user_id", "trade_rows", ["user_id", "account_id", "instrument"], schema=SCHEMA)
    op.drop_index("ix_trade_rows_group", table_name="trade_rows", schema=SCHEMA)
