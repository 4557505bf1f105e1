"""notify the gateways when a user is deleted

Revision ID: gateway_0005
Revises: gateway_0004
Create Date: 2026-12-02

Every gateway replica LISTENs on ``identity_user_deleted`` (tj_gateway.identity.deletions) and
refuses a deleted user's access tokens from the next request on, however the row was deleted.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "gateway_0005"
down_revision: str | None = "gateway_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "identity"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.notify_user_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('identity_user_deleted', OLD.id::text);
            RETURN OLD;
        END
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER users_deleted_notify AFTER DELETE ON {SCHEMA}.users "
        f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.notify_user_deleted()"
    )


def downgrade() -> None:
    op.execute(f"DROP TRIGGER IF EXISTS users_deleted_notify ON {SCHEMA}.users")
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.notify_user_deleted()")
