"""charge_days: executions' charges stored a day at a time, replacing execution_charges

A refresh stored the charges of every execution it priced as a row of its own (a large import:
200,000 rows, each with its index entry and its JSON parsed), about a sixth of PostgreSQL's work
for the import. The charges are priced a contract note at a time (an account's IST trading day)
anyway, and read back a day at a time, so they are now stored so: a row per account and IST day,
whose ``entries`` hold one line per execution (id, total, source, lines as JSON, tab-separated).
40,000 executions' charges take ~60-120 ms of PostgreSQL's CPU so, against ~250 ms as rows.

Deleting executions no longer touches the charges (the trigger and ``charge_tombstones`` of
trades_0019 go): a deleter marks the days it changed, and the day's next refresh replaces what is
stored of it, or deletes it if no execution is left. Until then a deleted execution's entry is
never read (every read starts from the visible executions of the day).

The stored charges move over; charges of executions that no longer exist are left behind. The
downgrade moves them back (entries of executions that no longer exist, or that moved to another
day, are left behind) and restores the trigger.

Revision ID: trades_0020
Revises: trades_0019
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "trades_0020"
down_revision: str | None = "trades_0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "trades"
IST_DAY = "(e.executed_at AT TIME ZONE 'Asia/Kolkata')::date"
# An entry's lines as the refresh writes them (tj_trades.tradebook.lines_json): in contract-note
# order, not jsonb's, so that the first refresh finds them unchanged.
LINES_TEXT = (
    "(SELECT '{' || string_agg(format('\"%s\": \"%s\"', j.key, j.value), ', ' ORDER BY array_position("
    "ARRAY['brokerage', 'stt', 'exchange_txn', 'ipft', 'sebi', 'stamp_duty', 'gst', 'dp', 'commission',"
    " 'regulatory_fees', 'other', 'unitemised'], j.key), j.key) || '}' FROM jsonb_each_text(c.lines) j)"
)


def upgrade() -> None:
    op.create_table(
        "charge_days",
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entries", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "account_id", "day", name="pk_charge_days"),
        schema=SCHEMA,
    )
    # A day's entries are kilobytes (~200 bytes an execution): compressed with LZ4 where the server
    # has it (several times cheaper than the default pglz to write).
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression'
                       AND 'lz4' = ANY(enumvals)) THEN
                ALTER TABLE trades.charge_days ALTER COLUMN entries SET COMPRESSION lz4;
            END IF;
        END
        $$
        """
    )
    op.execute(
        f"""
        INSERT INTO trades.charge_days (user_id, account_id, day, entries)
        SELECT e.user_id, e.account_id, {IST_DAY},
               string_agg(concat_ws(E'\\t', c.execution_id::text, coalesce(c.charges::text, ''), c.source,
                                    coalesce({LINES_TEXT}, '')), E'\\n')
        FROM trades.execution_charges c JOIN trades.executions e ON e.id = c.execution_id
        GROUP BY e.user_id, e.account_id, {IST_DAY}
        """  # noqa: S608 - constant
    )
    op.execute("DROP TRIGGER tg_executions_forget_charges ON trades.executions")
    op.execute("DROP FUNCTION trades.forget_execution_charges()")
    op.drop_table("charge_tombstones", schema=SCHEMA)
    op.drop_table("execution_charges", schema=SCHEMA)


def downgrade() -> None:
    op.create_table(
        "execution_charges",
        sa.Column("execution_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("charges", sa.Numeric(), nullable=True),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("execution_id", name="pk_execution_charges"),
        schema=SCHEMA,
    )
    op.execute(
        f"""
        WITH entries AS MATERIALIZED (
            SELECT d.user_id, d.account_id, d.day, split_part(l, E'\\t', 1)::uuid AS execution_id, l
            FROM trades.charge_days d CROSS JOIN LATERAL unnest(string_to_array(d.entries, E'\\n')) AS l
        )
        INSERT INTO trades.execution_charges (execution_id, user_id, charges, source, lines)
        SELECT p.execution_id, p.user_id, nullif(split_part(p.l, E'\\t', 2), '')::numeric,
               split_part(p.l, E'\\t', 3), nullif(split_part(p.l, E'\\t', 4), '')::jsonb
        FROM entries p JOIN trades.executions e ON e.id = p.execution_id
        WHERE e.user_id = p.user_id AND e.account_id = p.account_id AND {IST_DAY} = p.day
        """  # noqa: S608 - constant
    )
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
    op.drop_table("charge_days", schema=SCHEMA)
