"""Async engine and sessions per service, query metrics, and the platform tables every
service keeps in its own schema: the outbox, consumed offsets and processed message ids."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from tj_common.metrics import DB_QUERY_DURATION
from tj_common.settings import ServiceSettings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+(?:"?(\w+)"?\.)?"?(\w+)"?', re.IGNORECASE)


def service_metadata(schema: str) -> MetaData:
    """The metadata of one service: its own schema, with the platform tables already in it."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    platform_tables(metadata)
    return metadata


def platform_tables(metadata: MetaData) -> None:
    Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("topic", String(255), nullable=False),
        Column("message_key", LargeBinary, nullable=True),
        Column("message_id", UUID(as_uuid=True), nullable=False),
        Column("message_type", String(255), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default="{}"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    Table(
        "consumed_offsets",
        metadata,
        Column("topic", String(255), primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("next_offset", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    Table(
        "processed_messages",
        metadata,
        Column("message_id", UUID(as_uuid=True), primary_key=True),
        Column("user_id", UUID(as_uuid=True), nullable=True),
        Column("topic", String(255), nullable=False),
        Column("message_type", String(255), nullable=False),
        Column("outcome", String(32), nullable=False),
        Column("error", Text, nullable=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now(), index=True),
    )


def make_engine(settings: ServiceSettings, **overrides: Any) -> AsyncEngine:
    options: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_pool_size,
        # No pre-ping: it costs a round trip per checkout; a dead connection fails its one use,
        # and consumers retry the whole batch.
        "pool_pre_ping": False,
        "pool_recycle": 1800,
        "connect_args": {
            "server_settings": {
                "search_path": settings.db_schema,
                "application_name": f"tj-{settings.service_name}",
            }
        },
    }
    options.update(overrides)
    engine = create_async_engine(settings.database_url, **options)
    instrument_queries(engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def instrument_queries(engine: AsyncEngine) -> None:
    """Feed ``db_query_duration_seconds{operation,table}`` from every statement."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        conn.info.setdefault("tj_query_start", []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        starts = conn.info.get("tj_query_start")
        if not starts:
            return
        elapsed = time.perf_counter() - starts.pop()
        operation, table = describe_statement(statement)
        DB_QUERY_DURATION.labels(operation, table).observe(elapsed)


@contextmanager
def observe_query(operation: str, table: str) -> Iterator[None]:
    """``db_query_duration_seconds`` of a statement sent straight to the driver (past the
    engine's events), e.g. an asyncpg bulk insert of joined columns."""
    started = time.perf_counter()
    try:
        yield
    finally:
        DB_QUERY_DURATION.labels(operation, table).observe(time.perf_counter() - started)


def describe_statement(statement: str) -> tuple[str, str]:
    words = statement.lstrip().split(None, 1)
    operation = words[0].upper() if words else "UNKNOWN"
    if operation == "WITH":
        operation = "SELECT"
    match = _TABLE.search(statement)
    table = match.group(2) if match else "none"
    return operation.lower(), table
