"""Alembic environment of the imports service (schema-scoped; see tj_common.migrations)."""

from tj_common.migrations import run_env
from tj_imports.models import metadata

run_env(metadata)
