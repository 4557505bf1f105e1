"""executions: the command index covers recorded executions only

Executions are looked up by command id only when a RecordExecutions (or manual trade) is
answered again (repository.executions_of_commands, which asks for ``import_id IS NULL``). Staged
import rows no longer maintain the index: one index fewer for each of an import's rows.

Revision ID: trades_0014
Revises: trades_0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "trades_0014"
down_revision: str | None = "trades_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"


def upgrade() -> None:
    op.drop_index("ix_executions_command", table_name="executions", schema=SCHEMA)
    op.create_index(
        "ix_executions_command",
        "executions",
        ["command_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("import_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_executions_command", table_name="executions", schema=SCHEMA)
    op.create_index("ix_executions_command", "executions", ["command_id"], schema=SCHEMA)
