"""Tables of the imports service (schema ``imports``): import jobs, their row errors and the
users' saved column mappings, beside the platform tables from tj_common."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from tj_common.db import service_metadata

metadata = service_metadata("imports")

STATUSES = ("queued", "parsing", "staging", "committing", "completed", "failed", "cancelled", "reverting", "reverted")

# The imports that hold their file: the same file into the same account again is a duplicate.
LIVE_FILE_PREDICATE = "duplicate_of IS NULL AND status NOT IN ('failed', 'cancelled', 'reverted')"

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("object_key", String(512), nullable=False),
    Column("file_name", String(255), nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("requested_format", String(64), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("format", String(64), nullable=True),
    Column("format_label", String(200), nullable=True),
    Column("day_level", Boolean, nullable=False, server_default=text("false")),
    # The earlier import of the same file into the same account: this one adds nothing.
    Column("duplicate_of", UUID(as_uuid=True), nullable=True),
    Column("rows", BigInteger, nullable=False, server_default="0"),
    Column("staged", BigInteger, nullable=False, server_default="0"),
    Column("accepted", BigInteger, nullable=False, server_default="0"),
    Column("duplicates", BigInteger, nullable=False, server_default="0"),
    Column("rejected", BigInteger, nullable=False, server_default="0"),
    Column("bytes_read", BigInteger, nullable=False, server_default="0"),
    # Batches handed to trades, known once the whole file is parsed; and those trades confirmed.
    Column("batches_sent", Integer, nullable=True),
    Column("batches_acked", Integer, nullable=False, server_default="0"),
    # Trades was told to drop what this import staged (after a failure or a cancel).
    Column("discarded", Boolean, nullable=False, server_default=text("false")),
    Column("error_code", String(64), nullable=True),
    Column("error_detail", Text, nullable=True),
    Column("worker", String(128), nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")",
        name="status",
    ),
    Index("ix_import_jobs_user_created", "user_id", "created_at"),
    Index("ix_import_jobs_status", "status"),
    # One live import per file and account: the same file again is answered as a duplicate.
    Index(
        "uq_import_jobs_account_file",
        "account_id",
        "sha256",
        unique=True,
        postgresql_where=text(LIVE_FILE_PREDICATE),
    ),
)

import_row_errors = Table(
    "import_row_errors",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("import_id", UUID(as_uuid=True), nullable=False),
    Column("line", Integer, nullable=False),
    Column("column", String(200), nullable=True),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=True),
    Index("ix_import_row_errors_import_line", "import_id", "line"),
)

column_mappings = Table(
    "column_mappings",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("mapping", JSONB, nullable=False),
    Column("timezone", String(64), nullable=True),
    Column("name", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("user_id", "signature", name="uq_column_mappings_user_signature"),
)
