"""Alembic per service: the version table lives in the service's own schema and autogenerate
only looks at that schema. Each service's ``migrations/env.py`` calls :func:`run_env`."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tj_common.settings import SERVICE_SCHEMAS, ServiceSettings

SERVICES = tuple(SERVICE_SCHEMAS)
# Each role's search_path is its own schema, which would make PostgreSQL's default schema equal
# the service's and hide it from autogenerate; point the default elsewhere so every object is
# compared under its explicit schema.
AUTOGENERATE_CONNECT_ARGS = {"server_settings": {"search_path": "public"}}


def service_settings(service: str) -> ServiceSettings:
    module = importlib.import_module(f"tj_{service}.settings")
    settings: ServiceSettings = module.Settings()
    return settings


def alembic_config(service: str, settings: ServiceSettings | None = None) -> Config:
    package = importlib.import_module(f"tj_{service}")
    assert package.__file__ is not None
    location = Path(package.__file__).parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["service"] = service
    config.attributes["settings"] = settings or service_settings(service)
    return config


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``env.py``."""
    config = context.config
    settings: ServiceSettings = config.attributes.get("settings") or service_settings(config.attributes["service"])
    schema = settings.db_schema

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "schema":
            return name == schema
        return True

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(
            settings.database_url, poolclass=pool.NullPool, connect_args=AUTOGENERATE_CONNECT_ARGS
        )
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=settings.database_url, target_metadata=metadata, version_table_schema=schema, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())


def upgrade(service: str, revision: str = "head", settings: ServiceSettings | None = None) -> None:
    command.upgrade(alembic_config(service, settings), revision)


def downgrade(service: str, revision: str, settings: ServiceSettings | None = None) -> None:
    command.downgrade(alembic_config(service, settings), revision)


def revision(service: str, message: str) -> None:
    command.revision(alembic_config(service), message=message, autogenerate=True)
