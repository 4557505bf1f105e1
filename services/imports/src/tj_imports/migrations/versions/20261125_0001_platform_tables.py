"""platform tables: outbox, consumed offsets, processed message ids

Revision ID: imports_0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from tj_common.migration_ops import create_platform_tables_v1, drop_platform_tables_v1

revision: str = "imports_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "imports"


def upgrade() -> None:
    create_platform_tables_v1(SCHEMA)


def downgrade() -> None:
    drop_platform_tables_v1(SCHEMA)
