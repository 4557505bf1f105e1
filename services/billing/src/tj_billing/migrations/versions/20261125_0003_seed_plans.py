"""seed the plans: Free, Pro and Elite (monthly and yearly), prices in paise, entitlements

Revision ID: billing_0003
Revises: billing_0002
Create Date: 2026-11-25

Frozen data: a later price or limit change is a new migration that updates these rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "billing_0003"
down_revision: str | None = "billing_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "billing"

FREE = {
    "max_accounts": 1,
    "executions_per_month": 500,
    "imports_allowed": True,
    "api_access": False,
    "attachment_storage_mb": 0,
    "history_days": 90,
}
PRO = {
    "max_accounts": 5,
    "executions_per_month": 10000,
    "imports_allowed": True,
    "api_access": False,
    "attachment_storage_mb": 1024,
    "history_days": 1095,
}
ELITE = {
    "max_accounts": None,
    "executions_per_month": None,
    "imports_allowed": True,
    "api_access": True,
    "attachment_storage_mb": 10240,
    "history_days": None,
}

PLANS = [
    {"id": "free", "name": "Free", "tier": 0, "period": None, "price_paise": 0, "entitlements": FREE},
    {"id": "pro_monthly", "name": "Pro", "tier": 1, "period": "monthly", "price_paise": 49900, "entitlements": PRO},
    {"id": "pro_yearly", "name": "Pro", "tier": 1, "period": "yearly", "price_paise": 499000, "entitlements": PRO},
    {
        "id": "elite_monthly",
        "name": "Elite",
        "tier": 2,
        "period": "monthly",
        "price_paise": 99900,
        "entitlements": ELITE,
    },
    {
        "id": "elite_yearly",
        "name": "Elite",
        "tier": 2,
        "period": "yearly",
        "price_paise": 999000,
        "entitlements": ELITE,
    },
]


def upgrade() -> None:
    table = sa.table(
        "plans",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("tier", sa.Integer),
        sa.column("period", sa.String),
        sa.column("price_paise", sa.BigInteger),
        sa.column("currency", sa.String),
        sa.column("entitlements", postgresql.JSONB),
        schema=SCHEMA,
    )
    # Rows kept by a downgrade (still referenced) stay as they are.
    op.execute(
        postgresql.insert(table)
        .values([{**plan, "currency": "INR"} for plan in PLANS])
        .on_conflict_do_nothing(index_elements=["id"])
    )


def downgrade() -> None:
    # Plans that subscriptions or users' plans still point at stay (dropping the tables, one
    # revision down, removes them with everything else).
    op.execute(
        sa.text(
            f"""
            DELETE FROM {SCHEMA}.plans p
            WHERE p.id = ANY(:ids)
              AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.subscriptions s WHERE s.plan_id = p.id)
              AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.user_plans u WHERE u.plan_id = p.id)
            """  # noqa: S608 - the schema is a constant
        ).bindparams(ids=[p["id"] for p in PLANS])
    )
