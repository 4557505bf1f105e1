"""Alembic environment of the gateway service (schema-scoped; see tj_common.migrations)."""

from tj_common.migrations import run_env
from tj_gateway.models import metadata

run_env(metadata)
