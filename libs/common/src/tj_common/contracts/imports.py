"""Contracts of the imports service: its commands (``imports.commands``) and events
(``imports.events``).

An import runs queued → parsing → staging → committing → completed, or ends failed / cancelled;
a completed import can be reverted (→ reverting → reverted). Every message is keyed by the user
id. Progress events come at least every 5,000 rows and every second while the file is parsed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

START_IMPORT = "imports.StartImport"
CANCEL_IMPORT = "imports.CancelImport"
REVERT_IMPORT = "imports.RevertImport"
SAVE_COLUMN_MAPPING = "imports.SaveColumnMapping"

IMPORT_ACCEPTED = "imports.ImportAccepted"
IMPORT_PROGRESSED = "imports.ImportProgressed"
IMPORT_COMPLETED = "imports.ImportCompleted"
IMPORT_FAILED = "imports.ImportFailed"
IMPORT_REVERTED = "imports.ImportReverted"
COLUMN_MAPPING_SAVED = "imports.ColumnMappingSaved"
COMMAND_REJECTED = "imports.CommandRejected"

ImportStatus = Literal[
    "queued", "parsing", "staging", "committing", "completed", "failed", "cancelled", "reverting", "reverted"
]
ACTIVE_STATUSES: tuple[ImportStatus, ...] = ("queued", "parsing", "staging", "committing")
FINAL_STATUSES: tuple[ImportStatus, ...] = ("completed", "failed", "cancelled", "reverted")

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class StartImport(BaseModel):
    """The gateway stored the upload at ``object_key``; the import's id is the command's own id
    derivation (``import_id``), chosen by the gateway so it can answer 202 with it at once."""

    model_config = ConfigDict(extra="forbid")

    import_id: uuid.UUID
    account_id: uuid.UUID
    object_key: str = Field(min_length=1, max_length=512)
    file_name: str | None = Field(default=None, max_length=255)
    size: int = Field(ge=0)
    sha256: Sha256
    format: str | None = Field(default=None, max_length=64, description="a format name; detected when absent")
    timezone: str | None = Field(default=None, max_length=64, description="overrides the format's time zone")


class CancelImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    import_id: uuid.UUID


class RevertImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    import_id: uuid.UUID


# Our field (date, time or datetime, symbol, side, quantity, price, fees, broker_trade_id, ...,
# see docs/import-template.md; plus ``date_format``) -> the file's header. Checked by the imports
# service, which knows the fields.
MappingKey = Annotated[str, Field(min_length=1, max_length=64)]


class SaveColumnMapping(BaseModel):
    """A user's mapping of our fields to the headers of a file we do not recognise; later files
    with the same header (its signature) are parsed with it."""

    model_config = ConfigDict(extra="forbid")

    headers: list[Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=200)
    mapping: dict[MappingKey, Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1)
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone of the file's times")
    name: str | None = Field(default=None, max_length=100)


class ColumnMappingOut(BaseModel):
    id: uuid.UUID
    signature: str
    headers: list[str]
    mapping: dict[str, str]
    timezone: str | None = None
    name: str | None = None
    updated_at: datetime


class ColumnMappingSaved(BaseModel):
    command_id: uuid.UUID
    mapping: ColumnMappingOut


class Counts(BaseModel):
    rows: int = 0  # data rows read so far
    staged: int = 0  # rows handed to trades as new executions
    accepted: int = 0  # executions made visible by the commit
    duplicates: int = 0  # rows already in the account (or earlier in this file)
    rejected: int = 0  # rows refused: row errors in the file, or refused by trades


class ImportAccepted(BaseModel):
    command_id: uuid.UUID
    import_id: uuid.UUID
    account_id: uuid.UUID
    status: ImportStatus
    duplicate_of: uuid.UUID | None = None  # the same file was imported before into this account


class ImportProgressed(BaseModel):
    import_id: uuid.UUID
    status: ImportStatus
    format: str | None = None
    counts: Counts
    bytes_read: int = 0
    size: int = 0


class ImportCompleted(BaseModel):
    import_id: uuid.UUID
    account_id: uuid.UUID
    format: str | None = None
    counts: Counts
    duplicate_of: uuid.UUID | None = None


class ImportFailed(BaseModel):
    import_id: uuid.UUID
    status: Literal["failed", "cancelled"]
    error: str  # a typed code, e.g. "UnknownFormat", "MissingColumns", "Cancelled"
    detail: str


class ImportReverted(BaseModel):
    import_id: uuid.UUID
    removed: int


class CommandRejected(BaseModel):
    command_id: uuid.UUID
    error: str
    status: int
    detail: str
