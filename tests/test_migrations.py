"""Migrations and models agree: after upgrading to head, autogenerate finds nothing to do for any
service (the session fixture has already run every downgrade and upgrade once)."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from datetime import date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
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


def test_an_import_staged_before_import_groups_gets_its_groups(infra_env: dict[str, str]) -> None:
    """trades_0016 gives the imports staged before it (in flight during an upgrade) the groups
    that their commit will mark: one per instrument and IST day of their rows."""
    settings = migrations.service_settings("trades")
    staged, committed, user, account = (uuid.uuid4() for _ in range(4))
    fills = [  # an import's rows: two instruments, and 18:30 UTC begins the next IST day
        (staged, "NSE", "INFY", "2026-03-02T18:29:59+00:00"),
        (staged, "NSE", "INFY", "2026-03-02T18:30:00+00:00"),
        (staged, "BSE", "TCS", "2026-03-02T10:00:00+00:00"),
        (committed, "NSE", "SBIN", "2026-03-02T10:00:00+00:00"),  # committed: marked long ago
    ]

    async def run(statements: list[tuple[str, dict[str, object]]]) -> list[tuple[object, ...]]:
        engine = create_async_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                result: list[tuple[object, ...]] = []
                for sql, params in statements:
                    rows = await conn.execute(text(sql), params)
                    result = [tuple(r) for r in rows] if rows.returns_rows else []
                return result
        finally:
            await engine.dispose()

    migrations.downgrade("trades", "trades_0015")
    try:
        asyncio.run(
            run(
                [
                    (
                        "INSERT INTO trades.accounts (id, user_id, name) VALUES (:a, :u, 'Zerodha')",
                        {"a": account, "u": user},
                    )
                ]
                + [
                    (
                        "INSERT INTO trades.imports (import_id, user_id, account_id, status) VALUES (:i, :u, :a, :s)",
                        {"i": i, "u": user, "a": account, "s": s},
                    )
                    for i, s in ((staged, "staged"), (committed, "committed"))
                ]
                + [
                    (
                        "INSERT INTO trades.executions (id, user_id, account_id, command_id, symbol, exchange, side,"
                        " quantity, price, currency, executed_at, import_id, fingerprint) VALUES (:id, :u, :a, :c,"
                        " :sym, :ex, 'buy', 1, 100, 'INR', :at, :i, :f)",
                        {
                            "id": uuid.uuid4(),
                            "u": user,
                            "a": account,
                            "c": uuid.uuid4(),
                            "sym": symbol,
                            "ex": exchange,
                            "at": datetime.fromisoformat(at),
                            "i": import_id,
                            "f": f"h:{n}:0",
                        },
                    )
                    for n, (import_id, exchange, symbol, at) in enumerate(fills)
                ]
            )
        )
    finally:
        migrations.upgrade("trades", "head")
    try:
        groups = asyncio.run(
            run([("SELECT import_id, instrument, day FROM trades.import_groups ORDER BY 1, 2, 3", {})])
        )
        assert groups == [
            (staged, "BSE:TCS", date(2026, 3, 2)),
            (staged, "NSE:INFY", date(2026, 3, 2)),
            (staged, "NSE:INFY", date(2026, 3, 3)),
        ]
    finally:
        asyncio.run(
            run(
                [
                    ("DELETE FROM trades.executions WHERE import_id IN (:s, :c)", {"s": staged, "c": committed}),
                    ("DELETE FROM trades.imports WHERE import_id IN (:s, :c)", {"s": staged, "c": committed}),
                    ("DELETE FROM trades.accounts WHERE id = :a", {"a": account}),
                ]
            )
        )
