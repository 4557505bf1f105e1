"""import_groups: the projection groups of a staged import, written as its batches are staged

A commit marked the import's groups (instrument, IST trade date) dirty by reading every row of
the import and sorting them: ~1.5 s of a 1,000,000-row import's commit, spent after the last
batch, so on the import's wall time. The groups are now written with each batch (a few per
batch) and the commit marks them from here. Imports staged before this migration get theirs
from their rows.

Revision ID: trades_0016
Revises: trades_0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0016"
down_revision: str | None = "trades_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"


def upgrade() -> None:
    op.create_table(
        "import_groups",
        sa.Column("import_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("instrument", sa.String(90), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["trades.imports.import_id"], name="fk_import_groups_import_id_imports", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("import_id", "instrument", "day", name="pk_import_groups"),
        schema=SCHEMA,
    )
    op.execute(
        "INSERT INTO trades.import_groups (import_id, instrument, day) "
        "SELECT DISTINCT e.import_id, e.exchange || ':' || e.symbol, (e.executed_at AT TIME ZONE 'Asia/Kolkata')::date "
        "FROM trades.imports i JOIN trades.executions e ON e.import_id = i.import_id AND e.fingerprint IS NOT NULL "
        "WHERE i.status = 'staged'"
    )


def downgrade() -> None:
    op.drop_table("import_groups", schema=SCHEMA)
