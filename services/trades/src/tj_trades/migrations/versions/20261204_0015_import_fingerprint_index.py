"""executions: the fingerprint index of imported rows is no candidate for a broker trade id probe

STAGE_SQL probes, for each staged row, whether an import in $5 already holds its broker trade id.
ux_executions_import_broker_trade answers that with one index lookup. But its predicate
(``import_id IS NOT NULL AND broker_trade_id IS NOT NULL``) is no narrower in the planner's eyes
than ux_executions_import_fingerprint's (``import_id IS NOT NULL``), and when the statistics give
an import only a handful of rows (many small imports, or a new one) both cost the same, and the
planner took the fingerprint index as often as not: it then read every row staged so far by the
import for each row of the batch. A 2,000-row batch took 2 s instead of 70 ms, and a large import
quadratic time.

The fingerprint index now also requires ``fingerprint IS NOT NULL``, which the broker trade id
probe cannot prove, so that index is no longer a candidate there. Every imported row has a
fingerprint (the staging checks require one; the CHECK constraint added here says so to the
database), so the lookups of an import's rows say ``fingerprint IS NOT NULL`` and lose nothing.

Revision ID: trades_0015
Revises: trades_0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "trades_0015"
down_revision: str | None = "trades_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
INDEX = "ux_executions_import_fingerprint"
CHECK = "ck_executions_imported_fingerprint"


def _index(where: str) -> None:
    op.drop_index(INDEX, table_name="executions", schema=SCHEMA)
    op.create_index(
        INDEX, "executions", ["import_id", "fingerprint"], unique=True, schema=SCHEMA, postgresql_where=sa.text(where)
    )


def upgrade() -> None:
    op.execute(
        f"ALTER TABLE {SCHEMA}.executions ADD CONSTRAINT {CHECK} CHECK (import_id IS NULL OR fingerprint IS NOT NULL)"
    )
    _index("import_id IS NOT NULL AND fingerprint IS NOT NULL")


def downgrade() -> None:
    _index("import_id IS NOT NULL")
    op.execute(f"ALTER TABLE {SCHEMA}.executions DROP CONSTRAINT {CHECK}")
