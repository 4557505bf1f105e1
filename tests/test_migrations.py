"""Migrations and models agree: after upgrading to head, autogenerate finds nothing to do for any
service (the session fixture has already run every downgrade and upgrade once)."""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid
from datetime import UTC, date, datetime

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


def sql(statements: list[tuple[str, dict[str, object]]]) -> list[tuple[object, ...]]:
    """Runs statements in one transaction on the trades database; the last one's rows."""

    async def run() -> list[tuple[object, ...]]:
        engine = create_async_engine(migrations.service_settings("trades").database_url)
        try:
            async with engine.begin() as conn:
                result: list[tuple[object, ...]] = []
                for statement, params in statements:
                    rows = await conn.execute(text(statement), params)
                    result = [tuple(r) for r in rows] if rows.returns_rows else []
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


class Seeded:
    """An account with imports and their executions, written at an older revision of trades (then
    upgraded to head), and removed again."""

    def __init__(self, revision: str, imports: dict[uuid.UUID, str], fills: list[dict[str, object]]) -> None:
        self.user, self.account = uuid.uuid4(), uuid.uuid4()
        self.imports = list(imports)
        migrations.downgrade("trades", revision)
        try:
            sql(
                [("INSERT INTO trades.accounts (id, user_id, name) VALUES (:a, :u, 'Zerodha')", self.ids())]
                + [
                    (
                        "INSERT INTO trades.imports (import_id, user_id, account_id, status) VALUES (:i, :u, :a, :s)",
                        {**self.ids(), "i": import_id, "s": status},
                    )
                    for import_id, status in imports.items()
                ]
                + [
                    (
                        "INSERT INTO trades.executions (id, user_id, account_id, command_id, symbol, exchange, side,"
                        " quantity, price, currency, executed_at, import_id, fingerprint, broker_trade_id)"
                        " VALUES (:id, :u, :a, :c, :sym, :ex, 'buy', 1, 100, 'INR', :at, :i, :f, :t)",
                        {
                            **self.ids(),
                            "id": uuid.uuid4(),
                            "c": uuid.uuid4(),
                            "sym": "INFY",
                            "ex": "NSE",
                            "at": datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
                            "t": None,
                            **fill,
                        },
                    )
                    for fill in fills
                ]
            )
        finally:
            migrations.upgrade("trades", "head")

    def ids(self) -> dict[str, object]:
        return {"u": self.user, "a": self.account}

    def remove(self) -> None:
        sql(
            [
                ("DELETE FROM trades.executions WHERE account_id = :a", self.ids()),
                ("DELETE FROM trades.imports WHERE account_id = :a", self.ids()),
                ("DELETE FROM trades.accounts WHERE id = :a", self.ids()),
            ]
        )


def test_an_import_staged_before_import_groups_gets_its_groups(infra_env: dict[str, str]) -> None:
    """trades_0016 gives the imports staged before it (in flight during an upgrade) the groups
    that their commit will mark: one per instrument and IST day of their rows."""
    staged, committed = uuid.uuid4(), uuid.uuid4()
    fills: list[dict[str, object]] = [  # two instruments, and 18:30 UTC begins the next IST day
        {"i": staged, "at": datetime(2026, 3, 2, 18, 29, 59, tzinfo=UTC)},
        {"i": staged, "at": datetime(2026, 3, 2, 18, 30, tzinfo=UTC)},
        {"i": staged, "ex": "BSE", "sym": "TCS"},
        {"i": committed, "sym": "SBIN"},  # committed: marked long ago
    ]
    seeded = Seeded(
        "trades_0015",
        {staged: "staged", committed: "committed"},
        [{**fill, "f": f"h:{n}:0"} for n, fill in enumerate(fills)],
    )
    try:
        groups = sql(
            [
                (
                    "SELECT import_id, instrument, day FROM trades.import_groups WHERE import_id = ANY(:i)"
                    " ORDER BY 1, 2, 3",
                    {"i": seeded.imports},
                )
            ]
        )
        assert groups == [
            (staged, "BSE:TCS", date(2026, 3, 2)),
            (staged, "NSE:INFY", date(2026, 3, 2)),
            (staged, "NSE:INFY", date(2026, 3, 3)),
        ]
    finally:
        seeded.remove()


def test_an_imported_row_with_a_broker_trade_id_gets_it_as_its_key(infra_env: dict[str, str]) -> None:
    """trades_0017 brings earlier rows to the rule that an imported row with a broker trade id has
    the fingerprint "t:<id>", and that no other imported row has a "t:" fingerprint."""
    first = uuid.uuid4()
    seeded = Seeded(
        "trades_0016",
        {first: "committed"},
        [
            {"i": first, "f": "h:abc:0", "t": "A1"},  # keyed by a hash, though it has a trade id
            {"i": first, "f": "t:A2", "t": "A2"},  # as the rule says
            {"i": first, "f": "t:A3", "t": None},  # a "t:" key without a trade id
            {"i": first, "f": "h:def:0", "t": None},
        ],
    )
    try:
        keys = sql(
            [
                (
                    "SELECT fingerprint, broker_trade_id FROM trades.executions WHERE import_id = :i ORDER BY 1",
                    {"i": first},
                )
            ]
        )
        assert keys == [("h:def:0", None), ("t:A1", "A1"), ("t:A2", "A2"), ("xt:A3", None)]
    finally:
        seeded.remove()


def test_stored_charges_move_to_days_and_back(infra_env: dict[str, str]) -> None:
    """trades_0020 moves each execution's stored charges into its account's IST day (charges of
    executions that no longer exist stay behind), and its downgrade moves them back."""
    user, account = uuid.uuid4(), uuid.uuid4()
    late, early, orphan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ids = {"u": user, "a": account}
    lines = '{"brokerage": "20.00", "stt": "3.00"}'
    migrations.downgrade("trades", "trades_0019")
    try:
        sql(
            [
                ("INSERT INTO trades.accounts (id, user_id, name) VALUES (:a, :u, 'Zerodha')", ids),
                *(
                    (
                        "INSERT INTO trades.executions (id, user_id, account_id, command_id, symbol, exchange, side,"
                        " quantity, price, currency, executed_at) VALUES (:id, :u, :a, :c, 'INFY', 'NSE', 'buy', 1,"
                        " 100, 'INR', :at)",
                        {**ids, "id": execution, "c": uuid.uuid4(), "at": at},
                    )
                    # 18:30 UTC begins the next IST day
                    for execution, at in (
                        (late, datetime(2026, 3, 2, 18, 30, tzinfo=UTC)),
                        (early, datetime(2026, 3, 2, 18, 29, tzinfo=UTC)),
                    )
                ),
                (
                    "INSERT INTO trades.execution_charges (execution_id, user_id, charges, source, lines) VALUES"
                    " (:late, :u, 23.00, 'estimated', CAST(:lines AS jsonb)), (:early, :u, 5.5, 'broker', NULL),"
                    " (:orphan, :u, 1, 'broker', NULL)",
                    {**ids, "late": late, "early": early, "orphan": orphan, "lines": lines},
                ),
            ]
        )
    finally:
        migrations.upgrade("trades", "head")
    try:
        days = sql([("SELECT day, entries FROM trades.charge_days WHERE user_id = :u ORDER BY day", ids)])
        assert days == [
            (date(2026, 3, 2), f"{early}\t5.5\tbroker\t"),
            (date(2026, 3, 3), f"{late}\t23.00\testimated\t{lines}"),
        ]
        migrations.downgrade("trades", "trades_0019")
        try:
            back = sql(
                [
                    (
                        "SELECT execution_id, charges::text, source, lines::text FROM trades.execution_charges"
                        " WHERE user_id = :u ORDER BY source",
                        ids,
                    )
                ]
            )
            assert [(e, c, s, None if t is None else json.loads(str(t))) for e, c, s, t in back] == [
                (early, "5.5", "broker", None),
                (late, "23.00", "estimated", json.loads(lines)),
            ]
        finally:
            migrations.upgrade("trades", "head")
    finally:
        sql(
            [
                ("DELETE FROM trades.charge_days WHERE user_id = :u", ids),
                ("DELETE FROM trades.executions WHERE account_id = :a", ids),
                ("DELETE FROM trades.accounts WHERE id = :a", ids),
            ]
        )
