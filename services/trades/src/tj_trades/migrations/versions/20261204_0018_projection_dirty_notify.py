"""projection_dirty: a statement that marks groups notifies the projection refreshers at commit

The refreshers polled ``projection_dirty`` once a second, so a large import's projection began up
to a second after its commit (half a second on average: ~5 % of a 200,000-execution import's
time into trades). A statement-level trigger now sends ``NOTIFY trades_projection_dirty`` with
every statement that inserts or renews marks; PostgreSQL delivers it when the writer commits (and
sends one per transaction, however many statements), and a listening refresher starts at once.
Polling stays, as the fallback when a refresher is not listening.

Revision ID: trades_0018
Revises: trades_0017
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "trades_0018"
down_revision: str | None = "trades_0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION trades.notify_projection_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('trades_projection_dirty', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER tg_projection_dirty_notify AFTER INSERT OR UPDATE ON trades.projection_dirty "
        "FOR EACH STATEMENT EXECUTE FUNCTION trades.notify_projection_dirty()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER tg_projection_dirty_notify ON trades.projection_dirty")
    op.execute("DROP FUNCTION trades.notify_projection_dirty()")
