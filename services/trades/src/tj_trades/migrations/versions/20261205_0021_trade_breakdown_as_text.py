"""trade_rows.charges_breakdown: JSON as text, no longer jsonb

A refresh writes every trade's breakdown (JSON made by the projection), and PostgreSQL parsed each
into jsonb: about a quarter of its CPU storing a large import's trades (20,000 trades: ~215-290 ms
as jsonb, ~155-215 ms as text). Nothing queries inside it (the API derives breakdowns from the
executions' charges); the projection's checksum reads it back as jsonb, so that rows written
before and after this revision compare by content.

Revision ID: trades_0021
Revises: trades_0020
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "trades_0021"
down_revision: str | None = "trades_0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE trades.trade_rows ALTER COLUMN charges_breakdown DROP DEFAULT, "
        "ALTER COLUMN charges_breakdown TYPE text USING charges_breakdown::text, "
        "ALTER COLUMN charges_breakdown SET DEFAULT '{}'"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE trades.trade_rows ALTER COLUMN charges_breakdown DROP DEFAULT, "
        "ALTER COLUMN charges_breakdown TYPE jsonb USING charges_breakdown::jsonb, "
        "ALTER COLUMN charges_breakdown SET DEFAULT '{}'::jsonb"
    )
