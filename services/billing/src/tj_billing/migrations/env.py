"""Alembic environment of the billing service (schema-scoped; see tj_common.migrations)."""

from tj_billing.models import metadata
from tj_common.migrations import run_env

run_env(metadata)
