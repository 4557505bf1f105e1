"""Tables of the trades service (schema ``trades``). Money and quantities are NUMERIC, times UTC."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

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
    # Outside India: the account's commission schedule (domain.charges.schedule_to_dict's form).
    Column("commission_schedule", JSONB(none_as_null=True), nullable=True),
    UniqueConstraint("user_id", "name", name="uq_accounts_user_name"),
)

executions = Table(
    "executions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    # No foreign key (migration trades_0012): every writer reads the account first, in its transaction.
    Column("account_id", UUID(as_uuid=True), nullable=False),
    Column("command_id", UUID(as_uuid=True), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("exchange", String(16), nullable=False),
    Column("segment", String(16), nullable=True),
    Column("side", String(4), nullable=False),
    Column("quantity", MONEY, nullable=False),
    Column("price", MONEY, nullable=False),
    Column("fees", MONEY, nullable=True),
    # The broker's itemised charges ({line: decimal string}); ``fees`` is then their total (or more).
    Column("charges", JSONB(none_as_null=True), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("executed_at", DateTime(timezone=True), nullable=False),
    Column("broker_trade_id", String(128), nullable=True),
    Column("broker_order_id", String(128), nullable=True),
    Column("product", String(8), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Staged imports: an imported execution is visible once its import is committed.
    Column("import_id", UUID(as_uuid=True), nullable=True),
    Column("fingerprint", String(160), nullable=True),
    Column("source_timezone", String(64), nullable=True),
    Column("day_level", Boolean, nullable=False, server_default=text("false")),
    Column("source_line", Integer, nullable=True),
    CheckConstraint("side IN ('buy', 'sell')", name="side"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("price >= 0", name="price_non_negative"),
    # An imported execution always has its fingerprint (staging.check_rows), so the lookups of an
    # import's rows may say "fingerprint IS NOT NULL" and use ux_executions_import_fingerprint.
    CheckConstraint("import_id IS NULL OR fingerprint IS NOT NULL", name="imported_fingerprint"),
    # An imported row with a broker trade id is keyed by it (contract TRADE_KEY), and only such a
    # row has a "t:" fingerprint: ux_executions_import_fingerprint keeps an import's trade ids unique.
    CheckConstraint(
        "import_id IS NULL OR CASE WHEN broker_trade_id IS NULL THEN fingerprint NOT LIKE 't:%'"
        " ELSE fingerprint = 't:' || broker_trade_id END",
        name="imported_trade_key",
    ),
    Index("ix_executions_user_executed", "user_id", "executed_at", "id"),
    Index("ix_executions_command", "command_id", postgresql_where=text("import_id IS NULL")),
    Index("ix_executions_account", "account_id", "recorded_at"),
    # A broker's trade id is recorded once per account (DuplicateBrokerTradeId otherwise); an
    # import's rows are unique within the import (by fingerprint, which carries the trade id) and
    # checked against the visible ones.
    Index(
        "ux_executions_account_broker_trade",
        "account_id",
        "broker_trade_id",
        unique=True,
        postgresql_where=text("broker_trade_id IS NOT NULL AND import_id IS NULL"),
    ),
    Index(
        "ux_executions_import_fingerprint",
        "import_id",
        "fingerprint",
        unique=True,
        # Not just "import_id IS NOT NULL" (migration trades_0015). Also an import's broker trade
        # ids: their rows' fingerprints are "t:<id>" (ck_executions_imported_trade_key).
        postgresql_where=text("import_id IS NOT NULL AND fingerprint IS NOT NULL"),
    ),
)

# One row per import (the imports service's id): its executions are visible while ``committed``.
imports = Table(
    "imports",
    metadata,
    Column("import_id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), ForeignKey("trades.accounts.id"), nullable=False),
    Column("status", String(16), nullable=False, server_default="staged"),
    Column("accepted", Integer, nullable=True),
    Column("duplicates", Integer, nullable=True),
    Column("removed", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("committed_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('staged', 'committed', 'discarded', 'reverted')", name="import_status"),
    Index("ix_imports_account_status", "account_id", "status"),
    Index("ix_imports_user_status", "user_id", "status"),
)

# The projection groups (instrument, IST trade date) that a staged import's rows fall in, written
# with each batch, so that its commit marks them (projection_dirty) without reading every row.
import_groups = Table(
    "import_groups",
    metadata,
    Column("import_id", UUID(as_uuid=True), ForeignKey("trades.imports.import_id", ondelete="CASCADE"), nullable=False),
    Column("instrument", String(90), nullable=False),  # "<exchange>:<symbol>", as projection_dirty
    Column("day", Date, nullable=False),
    PrimaryKeyConstraint("import_id", "instrument", "day", name="pk_import_groups"),
)

# The batches staged so far (a repeated batch number is answered from here, not staged twice).
import_batches = Table(
    "import_batches",
    metadata,
    Column("import_id", UUID(as_uuid=True), ForeignKey("trades.imports.import_id", ondelete="CASCADE"), nullable=False),
    Column("batch_no", Integer, nullable=False),
    Column("command_id", UUID(as_uuid=True), nullable=False),
    Column("staged", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("rejected", JSONB, nullable=False, server_default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("import_id", "batch_no", name="pk_import_batches"),
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

# The trader's journal: one markdown entry per user and day.
journal_entries = Table(
    "journal_entries",
    metadata,
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("day", Date, nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("char_length(body) <= 50000", name="body_size"),
    PrimaryKeyConstraint("user_id", "day", name="pk_journal_entries"),
)

# Screenshots of a trade: the object lives in S3 under ``object_key``; ``uploaded`` once the
# gateway has checked the stored object's type and size.
trade_attachments = Table(
    "trade_attachments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("trade_id", UUID(as_uuid=True), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("object_key", String(300), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('pending', 'uploaded')", name="attachment_status"),
    Index("ix_trade_attachments_user_id", "user_id", "trade_id"),
)

# The round-trip projection: one row per trade (closed, open or unmatched), recomputed per
# (account, instrument) group from the executions whenever the group is marked dirty.
trade_rows = Table(
    "trade_rows",
    metadata,
    Column("trade_id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), nullable=False),
    Column("instrument", String(90), nullable=False),  # "<exchange>:<symbol>", the engine's key
    Column("side", String(8), nullable=False),
    Column("status", String(12), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("close_day", Date, nullable=True),  # in the account's time zone
    Column("quantity", Numeric(), nullable=False),
    Column("entry_price", Numeric(), nullable=True),
    Column("multiplier", Numeric(), nullable=False),
    Column("gross_pnl", Numeric(), nullable=True),
    Column("charges", Numeric(), nullable=False),
    Column("net_pnl", Numeric(), nullable=True),
    Column("charges_source", String(12), nullable=False),
    # JSON {line: decimal string}: the legs' charge breakdowns summed (tradebook.Book.breakdown),
    # as text (migration trades_0021: PostgreSQL parsing it as jsonb was a quarter of storing a trade).
    Column("charges_breakdown", Text, nullable=False, server_default=text("'{}'")),
    Index("ix_trade_rows_group", "user_id", "account_id", "instrument", "closed_at", "opened_at"),
    Index("ix_trade_rows_closed", "user_id", "closed_at", postgresql_where=text("status = 'closed'")),
)

# Closed trades per user, account and trading day (the account's time zone).
daily_rollups = Table(
    "daily_rollups",
    metadata,
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), nullable=False),
    Column("day", Date, nullable=False),
    Column("trade_count", Integer, nullable=False),
    Column("win_count", Integer, nullable=False),
    Column("loss_count", Integer, nullable=False),
    Column("breakeven_count", Integer, nullable=False),
    Column("gross_pnl", Numeric(), nullable=False),
    Column("charges", Numeric(), nullable=False),
    Column("net_pnl", Numeric(), nullable=False),
    # What the summary needs to chain the days in close order (see projection.day_composite).
    Column("sum_wins", Numeric(), nullable=False, server_default="0"),
    Column("sum_losses", Numeric(), nullable=False, server_default="0"),
    Column("largest_win", Numeric(), nullable=True),
    Column("largest_loss", Numeric(), nullable=True),
    Column("first_kind", SmallInteger, nullable=False, server_default="0"),
    Column("first_run", Integer, nullable=False, server_default="0"),
    Column("last_kind", SmallInteger, nullable=False, server_default="0"),
    Column("last_run", Integer, nullable=False, server_default="0"),
    Column("best_win_run", Integer, nullable=False, server_default="0"),
    Column("best_loss_run", Integer, nullable=False, server_default="0"),
    Column("segments", JSONB, nullable=False, server_default="[]"),
    # The time zone of the day; rows of all accounts together have account_id ALL_ACCOUNTS.
    Column("zone", String(64), nullable=True),
    PrimaryKeyConstraint("user_id", "account_id", "day", name="pk_daily_rollups"),
)

# Each execution's charges: the broker's, or estimated per contract note (all of the account's
# executions of the IST trading day), so a trade's charges need no other day recomputed. Stored a
# day at a time (migration trades_0020): a row per account and IST day holds the entries of its
# executions, a line each (tj_trades.projection_rows.charge_days_columns).
charge_days = Table(
    "charge_days",
    metadata,
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), nullable=False),
    Column("day", Date, nullable=False),
    # "<execution id>\t<total>\t<source>\t<lines as JSON>" per execution, "" for None.
    Column("entries", Text, nullable=False),
    PrimaryKeyConstraint("user_id", "account_id", "day", name="pk_charge_days"),
)

# (account, instrument, IST day)s whose executions changed since their trades were computed.
projection_dirty = Table(
    "projection_dirty",
    metadata,
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), nullable=False),
    Column("instrument", String(90), nullable=False),
    Column("day", Date, nullable=False),
    Column("marked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("user_id", "account_id", "instrument", "day", name="pk_projection_dirty"),
)

# Each user's summary (per account, and for all accounts under projection.ALL_ACCOUNTS), chained
# from the daily rollups whenever they change; valid for the zone and starting balance it was
# computed with. R is added on read (it follows the annotations' initial stops).
summary_snapshots = Table(
    "summary_snapshots",
    metadata,
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("scope", UUID(as_uuid=True), nullable=False),
    Column("zone", String(64), nullable=False),
    Column("starting_balance", Numeric(), nullable=True),
    Column("body", JSONB, nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("user_id", "scope", name="pk_summary_snapshots"),
)
