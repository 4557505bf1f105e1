"""Alembic environment of the trades service (schema-scoped; see tj_common.migrations)."""

from tj_common.migrations import run_env
from tj_trades.models import metadata

run_env(metadata)
