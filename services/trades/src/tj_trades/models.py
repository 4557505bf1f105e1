"""Tables of the trades service (schema ``trades``). Money and quantities are NUMERIC, times UTC."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from tj_common.db import service_metadata

metadata = service_metadata("trades")

MONEY = Numeric(20, 8)

accounts = Table(
    "accounts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("name", String(100), nullable=False),
    Column("broker", String(64), nullable=True),
    Column("base_currency", String(3), nullable=False, server_default="INR"),
    Column("timezone", String(64), nullable=False, server_default="Asia/Kolkata"),
    Column("long_only", Boolean, nullable=False, server_default=text("false")),
    Column("brokerage_plan", String(32), nullable=False, server_default="zerodha"),
    Column("starting_balance", MONEY, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("user_id", "name", name="uq_accounts_user_name"),
)

executions = Table(
    "executions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), ForeignKey("trades.accounts.id"), nullable=False),
    Column("command_id", UUID(as_uuid=True), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("exchange", String(16), nullable=False),
    Column("segment", String(16), nullable=True),
    Column("side", String(4), nullable=False),
    Column("quantity", MONEY, nullable=False),
    Column("price", MONEY, nullable=False),
    Column("fees", MONEY, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("executed_at", DateTime(timezone=True), nullable=False),
    Column("broker_trade_id", String(128), nullable=True),
    Column("broker_order_id", String(128), nullable=True),
    Column("product", String(8), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("side IN ('buy', 'sell')", name="side"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("price >= 0", name="price_non_negative"),
    Index("ix_executions_user_executed", "user_id", "executed_at", "id"),
    Index("ix_executions_command", "command_id"),
    Index("ix_executions_account", "account_id"),
    # A broker's trade id is recorded once per account (DuplicateBrokerTradeId otherwise).
    Index(
        "ux_executions_account_broker_trade",
        "account_id",
        "broker_trade_id",
        unique=True,
        postgresql_where=text("broker_trade_id IS NOT NULL"),
    ),
)

# The trader's annotation of a round trip (trade ids are deterministic, so they are stable keys).
trade_annotations = Table(
    "trade_annotations",
    metadata,
    Column("trade_id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("initial_stop", MONEY, nullable=True),
    Column("target", MONEY, nullable=True),
    Column("setup", String(100), nullable=True),
    Column("notes", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("char_length(notes) <= 20000", name="notes_size"),
    Index("ix_trade_annotations_user", "user_id"),
)

trade_tags = Table(
    "trade_tags",
    metadata,
    Column(
        "trade_id",
        UUID(as_uuid=True),
        ForeignKey("trades.trade_annotations.trade_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    PrimaryKeyConstraint("trade_id", "kind", "name", name="pk_trade_tags"),
    CheckConstraint("kind IN ('setup', 'mistake', 'custom')", name="tag_kind"),
    Index("ix_trade_tags_user_name", "user_id", "name"),
)
