"""journal entries (one markdown entry per user and day) and trade attachments (S3 objects)

Revision ID: trades_0006
Revises: trades_0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0006"
down_revision: str | None = "trades_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"


def upgrade() -> None:
    op.create_table(
        "journal_entries",
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("char_length(body) <= 50000", name="ck_journal_entries_body_size"),
        sa.PrimaryKeyConstraint("user_id", "day", name="pk_journal_entries"),
        schema=SCHEMA,
    )
    op.create_table(
        "trade_attachments",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("trade_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), server_default="pending", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'uploaded')", name="ck_trade_attachments_attachment_status"),
        sa.PrimaryKeyConstraint("id", name="pk_trade_attachments"),
        schema=SCHEMA,
    )
    op.create_index("ix_trade_attachments_user_id", "trade_attachments", ["user_id", "trade_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("trade_attachments", schema=SCHEMA)
    op.drop_table("journal_entries", schema=SCHEMA)
