"""import jobs, row errors, column mappings

Revision ID: imports_0002
Revises: imports_0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "imports_0002"
down_revision: str | None = "imports_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "imports"
STATUSES = ("queued", "parsing", "staging", "committing", "completed", "failed", "cancelled", "reverting", "reverted")


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("object_key", sa.String(512), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("requested_format", sa.String(64), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("format", sa.String(64), nullable=True),
        sa.Column("format_label", sa.String(200), nullable=True),
        sa.Column("day_level", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("duplicate_of", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("rows", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("staged", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("accepted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("duplicates", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rejected", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("batches_sent", sa.Integer(), nullable=True),
        sa.Column("batches_acked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("discarded", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="ck_import_jobs_status"),
        sa.PrimaryKeyConstraint("id", name="pk_import_jobs"),
        schema=SCHEMA,
    )
    op.create_index("ix_import_jobs_user_created", "import_jobs", ["user_id", "created_at"], schema=SCHEMA)
    op.create_index("ix_import_jobs_status", "import_jobs", ["status"], schema=SCHEMA)
    op.create_index(
        "uq_import_jobs_account_file",
        "import_jobs",
        ["account_id", "sha256"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("duplicate_of IS NULL AND status NOT IN ('failed', 'cancelled', 'reverted')"),
    )
    op.create_table(
        "import_row_errors",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("import_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("column", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_import_row_errors"),
        schema=SCHEMA,
    )
    op.create_index("ix_import_row_errors_import_line", "import_row_errors", ["import_id", "line"], schema=SCHEMA)
    op.create_table(
        "column_mappings",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("headers", postgresql.JSONB(), nullable=False),
        sa.Column("mapping", postgresql.JSONB(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_column_mappings"),
        sa.UniqueConstraint("user_id", "signature", name="uq_column_mappings_user_signature"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("column_mappings", schema=SCHEMA)
    op.drop_table("import_row_errors", schema=SCHEMA)
    op.drop_table("import_jobs", schema=SCHEMA)
