"""Migrations and models agree: after upgrading to head, autogenerate finds nothing to do for any
service (the session fixture has already run every downgrade and upgrade once)."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from tj_common import migrations


@pytest.mark.parametrize("service", migrations.SERVICES)
def test_models_match_migrations(service: str, infra_env: dict[str, str]) -> None:
    settings = migrations.service_settings(service)
    metadata = importlib.import_module(f"tj_{service}.models").metadata
    schema = settings.db_schema

    def diff(connection: object) -> list[object]:
        context = MigrationContext.configure(
            connection,  # type: ignore[arg-type]
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, parent: type_ != "schema" or name == schema,
                "compare_type": True,
                "version_table_schema": schema,
            },
        )
        return list(compare_metadata(context, metadata))

    async def run() -> list[object]:
        engine = create_async_engine(settings.database_url, connect_args=migrations.AUTOGENERATE_CONNECT_ARGS)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(diff)
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == []
