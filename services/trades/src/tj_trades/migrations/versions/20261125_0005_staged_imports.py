"""staged imports: executions carry their import, fingerprint and source time zone

An import's executions are visible once its ``imports`` row says ``committed``; the commit is one
row update whatever the size of the import. De-duplication (broker trade id, fingerprint) is
enforced by unique indexes within an import and among directly recorded executions, and by the
handlers across imports (one user's commands are applied in order on one partition).

Revision ID: trades_0005
Revises: trades_0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0005"
down_revision: str | None = "trades_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("import_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(16), server_default="staged", nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=True),
        sa.Column("duplicates", sa.Integer(), nullable=True),
        sa.Column("removed", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "status IN ('staged', 'committed', 'discarded', 'reverted')", name="ck_imports_import_status"
        ),
        sa.ForeignKeyConstraint(["account_id"], ["trades.accounts.id"], name="fk_imports_account_id_accounts"),
        sa.PrimaryKeyConstraint("import_id", name="pk_imports"),
        schema=SCHEMA,
    )
    op.create_index("ix_imports_account_status", "imports", ["account_id", "status"], schema=SCHEMA)
    op.create_index("ix_imports_user_status", "imports", ["user_id", "status"], schema=SCHEMA)
    op.create_table(
        "import_batches",
        sa.Column("import_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("command_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("staged", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["trades.imports.import_id"], name="fk_import_batches_import_id_imports", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("import_id", "batch_no", name="pk_import_batches"),
        schema=SCHEMA,
    )
    op.add_column("executions", sa.Column("import_id", postgresql.UUID(as_uuid=True), nullable=True), schema=SCHEMA)
    op.add_column("executions", sa.Column("fingerprint", sa.String(160), nullable=True), schema=SCHEMA)
    op.add_column("executions", sa.Column("source_timezone", sa.String(64), nullable=True), schema=SCHEMA)
    op.add_column(
        "executions",
        sa.Column("day_level", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema=SCHEMA,
    )
    op.add_column("executions", sa.Column("source_line", sa.Integer(), nullable=True), schema=SCHEMA)
    # Direct recordings keep one broker trade id per account; an import's rows are unique within
    # the import (the handlers check them against what is visible).
    op.drop_index("ux_executions_account_broker_trade", table_name="executions", schema=SCHEMA)
    op.create_index(
        "ux_executions_account_broker_trade",
        "executions",
        ["account_id", "broker_trade_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("broker_trade_id IS NOT NULL AND import_id IS NULL"),
    )
    op.create_index(
        "ux_executions_import_fingerprint",
        "executions",
        ["import_id", "fingerprint"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("import_id IS NOT NULL"),
    )
    op.create_index(
        "ux_executions_import_broker_trade",
        "executions",
        ["import_id", "broker_trade_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("import_id IS NOT NULL AND broker_trade_id IS NOT NULL"),
    )
    # Rows recorded since an import began (checked at its commit) are found by account and time.
    op.drop_index("ix_executions_account", table_name="executions", schema=SCHEMA)
    op.create_index("ix_executions_account", "executions", ["account_id", "recorded_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_executions_account", table_name="executions", schema=SCHEMA)
    op.create_index("ix_executions_account", "executions", ["account_id"], schema=SCHEMA)
    op.drop_index("ux_executions_import_broker_trade", table_name="executions", schema=SCHEMA)
    op.drop_index("ux_executions_import_fingerprint", table_name="executions", schema=SCHEMA)
    op.drop_index("ux_executions_account_broker_trade", table_name="executions", schema=SCHEMA)
    # Imported rows go with the imports (their broker trade ids may repeat across imports).
    op.execute("DELETE FROM trades.executions WHERE import_id IS NOT NULL")
    op.create_index(
        "ux_executions_account_broker_trade",
        "executions",
        ["account_id", "broker_trade_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("broker_trade_id IS NOT NULL"),
    )
    for column in ("source_line", "day_level", "source_timezone", "fingerprint", "import_id"):
        op.drop_column("executions", column, schema=SCHEMA)
    op.drop_table("import_batches", schema=SCHEMA)
    op.drop_table("imports", schema=SCHEMA)
