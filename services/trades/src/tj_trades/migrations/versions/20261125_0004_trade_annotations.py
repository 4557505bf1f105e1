"""trade annotations (initial stop, target, setup, notes) and tags

Revision ID: trades_0004
Revises: trades_0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0004"
down_revision: str | None = "trades_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
MONEY = sa.Numeric(20, 8)


def upgrade() -> None:
    op.create_table(
        "trade_annotations",
        sa.Column("trade_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("initial_stop", MONEY, nullable=True),
        sa.Column("target", MONEY, nullable=True),
        sa.Column("setup", sa.String(100), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("char_length(notes) <= 20000", name="ck_trade_annotations_notes_size"),
        sa.PrimaryKeyConstraint("trade_id", name="pk_trade_annotations"),
        schema=SCHEMA,
    )
    op.create_index("ix_trade_annotations_user", "trade_annotations", ["user_id"], schema=SCHEMA)
    op.create_table(
        "trade_tags",
        sa.Column("trade_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.CheckConstraint("kind IN ('setup', 'mistake', 'custom')", name="ck_trade_tags_tag_kind"),
        sa.ForeignKeyConstraint(
            ["trade_id"],
            ["trades.trade_annotations.trade_id"],
            name="fk_trade_tags_trade_id_trade_annotations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trade_id", "kind", "name", name="pk_trade_tags"),
        schema=SCHEMA,
    )
    op.create_index("ix_trade_tags_user_name", "trade_tags", ["user_id", "name"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("trade_tags", schema=SCHEMA)
    op.drop_table("trade_annotations", schema=SCHEMA)
