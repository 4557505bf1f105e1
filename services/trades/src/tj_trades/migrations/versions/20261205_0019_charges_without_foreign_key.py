"""execution_charges: no foreign key to executions; a statement trigger forgets deleted ones' charges

Every refresh stores the charges of the executions it priced, and the foreign key checked each of
them on its own: an index probe, and a lock on the execution's row (written to its page and to
the WAL). That was about half of PostgreSQL's work storing a large import's charges. Its ON DELETE
CASCADE deleted charges one execution at a time as well (200,000 deletes to revert a 200,000-row
import).

A statement-level trigger on executions now deletes the charges of the rows each statement deleted,
in one join. What the foreign key also guaranteed, no charges outliving their execution, holds so:

- refreshes store charges under the user's advisory lock (tj_trades.projection._serialise, key
  ``hashtextextended(user id, 7)``); the trigger first takes that lock shared, without waiting
  (writers never wait for a refresh), then deletes the charges: with the lock, no refresh is
  storing any, and none starts before the deletion commits;
- when a refresh holds the lock, it may store charges of the executions being deleted (it read
  them before): their ids go to ``charge_tombstones``, and the next refresh of the user (there
  is one: a deleter marks the days it changed) deletes those charges first.

Revision ID: trades_0019
Revises: trades_0018
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0019"
down_revision: str | None = "trades_0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
FOREIGN_KEY = "fk_execution_charges_execution_id_executions"


def upgrade() -> None:
    op.create_table(
        "charge_tombstones",
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("execution_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "execution_id", name="pk_charge_tombstones"),
        schema=SCHEMA,
    )
    op.execute(
        """
        CREATE FUNCTION trades.forget_execution_charges() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            refreshing uuid[] := '{}';
            u uuid;
        BEGIN
            -- The lock first: deleted after it, no refresh's charges can be missed.
            FOR u IN SELECT DISTINCT g.user_id FROM gone g LOOP
                IF NOT pg_try_advisory_xact_lock_shared(hashtextextended(u::text, 7)) THEN
                    refreshing := refreshing || u;
                END IF;
            END LOOP;
            IF cardinality(refreshing) > 0 THEN
                INSERT INTO trades.charge_tombstones (user_id, execution_id)
                SELECT g.user_id, g.id FROM gone g WHERE g.user_id = ANY(refreshing)
                ON CONFLICT DO NOTHING;
            END IF;
            DELETE FROM trades.execution_charges c USING gone g WHERE c.execution_id = g.id;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER tg_executions_forget_charges AFTER DELETE ON trades.executions "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION trades.forget_execution_charges()"
    )
    op.drop_constraint(FOREIGN_KEY, "execution_charges", schema=SCHEMA, type_="foreignkey")


def downgrade() -> None:
    op.execute("DROP TRIGGER tg_executions_forget_charges ON trades.executions")
    op.execute("DROP FUNCTION trades.forget_execution_charges()")
    op.drop_table("charge_tombstones", schema=SCHEMA)
    op.execute(
        "DELETE FROM trades.execution_charges c "
        "WHERE NOT EXISTS (SELECT FROM trades.executions e WHERE e.id = c.execution_id)"
    )
    op.create_foreign_key(
        FOREIGN_KEY,
        "execution_charges",
        "executions",
        ["execution_id"],
        ["id"],
        source_schema=SCHEMA,
        referent_schema=SCHEMA,
        ondelete="CASCADE",
    )
