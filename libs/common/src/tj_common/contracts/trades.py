"""Contracts of the trades service: its commands (``trades.commands``) and events (``trades.events``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

RECORD_EXECUTIONS = "trades.RecordExecutions"
EXECUTIONS_RECORDED = "trades.ExecutionsRecorded"
COMMAND_REJECTED = "trades.CommandRejected"
CREATE_ACCOUNT = "trades.CreateAccount"
UPDATE_ACCOUNT = "trades.UpdateAccount"
DELETE_ACCOUNT = "trades.DeleteAccount"
ACCOUNT_CREATED = "trades.AccountCreated"
ACCOUNT_UPDATED = "trades.AccountUpdated"
ACCOUNT_DELETED = "trades.AccountDeleted"
ANNOTATE_TRADE = "trades.AnnotateTrade"
TRADE_ANNOTATED = "trades.TradeAnnotated"
RECORD_MANUAL_TRADE = "trades.RecordManualTrade"
MANUAL_TRADE_RECORDED = "trades.ManualTradeRecorded"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("executed_at needs a UTC offset, e.g. 2026-06-05T09:15:00+05:30")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}, e.g. Asia/Kolkata") from None
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Money = Annotated[Decimal, Field(max_digits=20, decimal_places=8)]
Symbol = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9&._\-: ]+$")]

# The charge lines of a fill as a broker's contract note itemises them (the trades service's
# ChargeBreakdown lines, in contract-note order; ``unitemised`` is what a total leaves unexplained).
ChargeLine = Literal[
    "brokerage",
    "stt",
    "exchange_txn",
    "ipft",
    "sebi",
    "stamp_duty",
    "gst",
    "dp",
    "commission",
    "regulatory_fees",
    "other",
    "unitemised",
]
CHARGE_LINES: tuple[str, ...] = get_args(ChargeLine)
ChargeAmount = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=8)]
ChargeLines = Annotated[
    dict[ChargeLine, ChargeAmount],
    Field(
        description="the charges the broker itemised for this fill, by line (amounts not negative, in the "
        "fill's currency); `fees`, when also given, is their total and may exceed them (the rest is unitemised)",
        examples=[{"brokerage": "20", "stt": "7", "exchange_txn": "0.88", "sebi": "0.03", "gst": "3.76"}],
    ),
]


def check_fees_cover_charges(fees: Decimal | None, charges: Mapping[Any, Decimal] | None) -> None:
    """A total smaller than its itemised lines is inconsistent (a larger one leaves a rest unitemised)."""
    if fees is not None and charges:
        itemised = sum(charges.values(), Decimal(0))
        if fees < itemised:
            raise ValueError(f"fees {fees} are less than the sum of the itemised charges {itemised}")


class ExecutionIn(BaseModel):
    """One fill as a client or an import sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    symbol: Symbol
    exchange: str = Field(default="NSE", max_length=16)
    segment: Literal["equity", "futures", "options", "currency", "commodity"] | None = None
    side: Literal["buy", "sell"]
    quantity: Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=8)]
    price: Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=8)]
    executed_at: AwareDatetime
    fees: Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=8)] | None = None
    charges: ChargeLines | None = None
    currency: str = Field(default="INR", min_length=3, max_length=3)
    broker_trade_id: str | None = Field(default=None, max_length=128)
    broker_order_id: str | None = Field(default=None, max_length=128)
    product: Literal["MIS", "CNC", "NRML"] | None = None

    @model_validator(mode="after")
    def _fees_cover_charges(self) -> ExecutionIn:
        check_fees_cover_charges(self.fees, self.charges)
        return self


class RecordExecutions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID | None = None
    executions: list[ExecutionIn] = Field(min_length=1, max_length=1000)


class ExecutionOut(ExecutionIn):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    account_id: uuid.UUID
    recorded_at: datetime


def _instant(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text  # pydantic's form of UTC


def execution_out_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """``ExecutionOut.model_validate(row).model_dump(mode="json")`` of an execution the trades
    service has stored (valid by construction), without validating it again: ~3 µs instead of
    ~15 µs a fill, which was most of a 1,000-fill RecordExecutions' cost. Tested equal."""
    fees, charges = row["fees"], row["charges"]
    return {
        "symbol": row["symbol"],
        "exchange": row["exchange"],
        "segment": row["segment"],
        "side": row["side"],
        "quantity": str(row["quantity"]),
        "price": str(row["price"]),
        "executed_at": _instant(row["executed_at"]),
        "fees": None if fees is None else str(fees),
        "charges": None if charges is None else {line: str(amount) for line, amount in charges.items()},
        "currency": row["currency"],
        "broker_trade_id": row["broker_trade_id"],
        "broker_order_id": row["broker_order_id"],
        "product": row["product"],
        "id": str(row["id"]),
        "account_id": str(row["account_id"]),
        "recorded_at": _instant(row["recorded_at"]),
    }


class ExecutionsRecorded(BaseModel):
    command_id: uuid.UUID
    account_id: uuid.UUID
    executions: list[ExecutionOut]


class CommandRejected(BaseModel):
    """A command the owning service refused for a reason the client can fix."""

    command_id: uuid.UUID
    error: str  # the error code of DESIGN §11, e.g. "NotFound"
    status: int
    detail: str


# Accounts. The brokerage plan is checked against the trades service's plans when applied
# (422 ValidationError), the rest here.
AccountName = Annotated[str, Field(min_length=1, max_length=100)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217"), AfterValidator(str.upper)]
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64, description="IANA"), AfterValidator(_timezone)]
PlanName = Annotated[str, Field(min_length=1, max_length=32)]
Balance = Annotated[Decimal, Field(max_digits=20, decimal_places=8)]


Rate = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=8)]


class CommissionSchedule(BaseModel):
    """What a broker outside India charges per executed order (fills of one order share it):
    ``per_share`` x shares (``per_contract`` x contracts for futures and options) + ``per_order``
    + ``pct_of_value`` % of the order's value, raised to ``min_per_order``, then capped by
    ``max_per_order`` and ``max_pct_of_value`` % of the value (the caps win), rounded half-up to
    ``quantum`` (a cent by default; 1 for a currency without minor units). It prices the
    account's executions that carry no charges of their own on non-Indian markets."""

    model_config = ConfigDict(extra="forbid")

    per_share: Rate = Decimal(0)
    per_contract: Rate = Decimal(0)
    per_order: Rate = Decimal(0)
    pct_of_value: Rate = Field(default=Decimal(0), description="percent, e.g. 0.05 for 0.05 %")
    min_per_order: Rate | None = None
    max_per_order: Rate | None = None
    max_pct_of_value: Rate | None = Field(default=None, description="percent of the order's value")
    quantum: Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=8)] = Decimal("0.01")

    @model_validator(mode="after")
    def _limits(self) -> CommissionSchedule:
        if (
            self.min_per_order is not None
            and self.max_per_order is not None
            and self.min_per_order > self.max_per_order
        ):
            raise ValueError("min_per_order must not exceed max_per_order")
        return self


COMMISSION_EXAMPLE = {"per_share": "0.005", "min_per_order": "1", "max_pct_of_value": "1"}
CommissionScheduleField = Annotated[
    CommissionSchedule,
    Field(
        description="commission schedule for executions outside India without charges of their own (e.g. "
        "IBKR fixed: 0.005 USD a share, at least 1 USD and at most 1 % of the value per order)",
        examples=[COMMISSION_EXAMPLE],
    ),
]


class CreateAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: AccountName
    broker: str | None = Field(default=None, max_length=64)
    base_currency: CurrencyCode = "INR"
    timezone: TimeZoneName = "Asia/Kolkata"
    long_only: bool = False
    brokerage_plan: PlanName = "zerodha"
    starting_balance: Balance | None = None
    commission_schedule: CommissionScheduleField | None = None


class AccountChanges(BaseModel):
    """The fields to change; a field left out keeps its value (``null`` clears an optional one)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: AccountName | None = None
    broker: str | None = Field(default=None, max_length=64)
    base_currency: CurrencyCode | None = None
    timezone: TimeZoneName | None = None
    long_only: bool | None = None
    brokerage_plan: PlanName | None = None
    starting_balance: Balance | None = None
    commission_schedule: CommissionScheduleField | None = None


class UpdateAccount(AccountChanges):
    account_id: uuid.UUID


class DeleteAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID


class AccountOut(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    name: str
    broker: str | None
    base_currency: str
    timezone: str
    long_only: bool
    brokerage_plan: str
    starting_balance: Decimal | None
    commission_schedule: CommissionSchedule | None = None
    created_at: datetime


class AccountCreated(BaseModel):
    command_id: uuid.UUID
    account: AccountOut


class AccountUpdated(BaseModel):
    command_id: uuid.UUID
    account: AccountOut


class AccountDeleted(BaseModel):
    command_id: uuid.UUID
    account_id: uuid.UUID


# Trade annotations: the trader's plan and review of a round trip (trade ids are stable).
NOTES_MAX_CHARS = 20_000
TAGS_MAX = 50
TagKind = Literal["setup", "mistake", "custom"]
Price = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=8)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=8)]
Fees = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=8)]
SetupName = Annotated[str, Field(min_length=1, max_length=100)]
Notes = Annotated[str, Field(max_length=NOTES_MAX_CHARS, description="markdown")]


class Tag(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=64)]
    kind: TagKind = "custom"


class TradeAnnotationChanges(BaseModel):
    """The annotation fields to change; a field left out keeps its value, ``null`` clears it
    (``tags`` replaces the whole list)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    initial_stop: Price | None = None
    target: Price | None = None
    setup: SetupName | None = None
    notes: Notes | None = None
    tags: Annotated[list[Tag], Field(max_length=TAGS_MAX)] | None = None


class AnnotateTrade(TradeAnnotationChanges):
    trade_id: uuid.UUID


class TradeAnnotationOut(BaseModel):
    trade_id: uuid.UUID
    initial_stop: Decimal | None = None
    target: Decimal | None = None
    setup: str | None = None
    notes: str | None = None
    tags: list[Tag] = []
    updated_at: datetime | None = None


# Round trips as the query API answers them (GET /api/v1/trades and /trades/{id}); the trades
# service derives them from the executions (tradebook.trade_json).
ExecutionChargesSource = Literal["broker", "estimated", "none"]
TradeChargesSource = Literal["broker", "estimated", "mixed", "none"]
ChargeBreakdownOut = Annotated[
    dict[ChargeLine, Decimal],
    Field(
        description="charges by line (the lines that apply; amounts in the account currency); they add up to `charges`",
        examples=[{"brokerage": "20.00", "stt": "7", "exchange_txn": "0.88", "sebi": "0.03", "gst": "3.76"}],
    ),
]


class TradeOut(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    symbol: str
    exchange: str
    side: Literal["long", "short"]
    status: Literal["open", "closed", "unmatched"]
    opened_at: datetime
    closed_at: datetime | None
    quantity: Decimal
    max_position: Decimal
    open_quantity: Decimal
    average_entry_price: Decimal | None
    average_exit_price: Decimal | None
    gross_pnl: Decimal | None
    charges: Decimal
    charges_source: TradeChargesSource = Field(
        description="where the legs' charges come from: the broker's file (or the client), estimated (India "
        "charges engine, or the account's commission schedule), none known, or mixed when the legs differ"
    )
    charges_breakdown: ChargeBreakdownOut
    net_pnl: Decimal | None
    holding_seconds: float | None
    initial_stop: Decimal | None
    target: Decimal | None
    setup: str | None
    notes: str | None
    tags: list[Tag]
    annotated_at: datetime | None
    r_multiple: Decimal | None


class TradeLegOut(BaseModel):
    """The part of one execution a trade uses (a fill shared by two trades, a flip, is split pro rata)."""

    execution_id: uuid.UUID
    role: Literal["open", "close", "unmatched"]
    side: Literal["buy", "sell"]
    quantity: Decimal
    price: Decimal
    executed_at: datetime
    charges: Decimal
    charges_source: ExecutionChargesSource | None
    charges_breakdown: ChargeBreakdownOut


class TradeAttachmentOut(BaseModel):
    id: uuid.UUID
    trade_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    status: Literal["pending", "uploaded"]
    created_at: datetime
    download_url: str | None


class TradeDetailOut(TradeOut):
    executions: list[TradeLegOut]
    attachments: list[TradeAttachmentOut] = []


class TradePage(BaseModel):
    items: list[TradeOut]
    next_cursor: str | None


class TradeAnnotated(BaseModel):
    command_id: uuid.UUID
    annotation: TradeAnnotationOut


class RecordManualTrade(TradeAnnotationChanges):
    """A round trip typed in by hand: its entry (and exit, if given) become executions, the rest
    its annotation; applied in one transaction. ``fees`` are the trade's total charges,
    ``charges`` the same itemised by line (either or both)."""

    account_id: uuid.UUID | None = None
    symbol: Symbol
    exchange: str = Field(default="NSE", min_length=1, max_length=16)
    segment: Literal["equity", "futures", "options", "currency", "commodity"] | None = None
    product: Literal["MIS", "CNC", "NRML"] | None = None
    side: Literal["long", "short"]
    quantity: Quantity
    entry_price: Price
    entered_at: AwareDatetime
    exit_price: Price | None = None
    exited_at: AwareDatetime | None = None
    fees: Fees | None = None
    charges: ChargeLines | None = None

    @model_validator(mode="after")
    def _exit(self) -> RecordManualTrade:
        if (self.exit_price is None) != (self.exited_at is None):
            raise ValueError("exit_price and exited_at go together")
        if self.exited_at is not None and self.exited_at <= self.entered_at:
            raise ValueError("exited_at must be after entered_at")
        check_fees_cover_charges(self.fees, self.charges)
        return self

    def executions(self) -> list[ExecutionIn]:
        """The legs as fills; the fees and charges go on the entry (the exit then carries none:
        zero fees, and no line when the charges are itemised)."""
        opening: Literal["buy", "sell"] = "buy" if self.side == "long" else "sell"
        closing: Literal["buy", "sell"] = "sell" if self.side == "long" else "buy"

        def leg(
            side: Literal["buy", "sell"],
            price: Decimal,
            at: datetime,
            fees: Decimal | None,
            charges: dict[ChargeLine, Decimal] | None,
        ) -> ExecutionIn:
            return ExecutionIn(
                symbol=self.symbol,
                exchange=self.exchange,
                segment=self.segment,
                product=self.product,
                side=side,
                quantity=self.quantity,
                price=price,
                executed_at=at,
                fees=fees,
                charges=charges,
            )

        legs = [leg(opening, self.entry_price, self.entered_at, self.fees, self.charges)]
        if self.exit_price is not None and self.exited_at is not None:
            given = self.fees is not None or self.charges is not None
            exit_charges: dict[ChargeLine, Decimal] | None = {} if self.charges is not None else None
            legs.append(leg(closing, self.exit_price, self.exited_at, Decimal(0) if given else None, exit_charges))
        return legs

    def annotation(self) -> dict[str, object]:
        """The annotation fields the client set."""
        return self.model_dump(include=self.model_fields_set & set(TradeAnnotationChanges.model_fields))


class ManualTradeRecorded(BaseModel):
    command_id: uuid.UUID
    account_id: uuid.UUID
    trade_id: uuid.UUID
    executions: list[ExecutionOut]


# Staged imports (DESIGN §4: an import is all-or-nothing). The imports service stages batches
# under its import id; staged executions are invisible to queries and analytics until
# ``CommitImport`` makes the whole import visible in one transaction. ``DiscardImport`` drops a
# staged (uncommitted) import after a fatal error or a cancel; ``RevertImport`` removes a
# committed one. Every message is keyed by the user id, so one user's batches and their commit
# arrive in order on one partition.
STAGE_IMPORT_BATCH = "trades.StageImportBatch"
IMPORT_BATCH_STAGED = "trades.ImportBatchStaged"
COMMIT_IMPORT = "trades.CommitImport"
IMPORT_COMMITTED = "trades.ImportCommitted"
DISCARD_IMPORT = "trades.DiscardImport"
IMPORT_DISCARDED = "trades.ImportDiscarded"
REVERT_IMPORT = "trades.RevertImport"
IMPORT_REVERTED = "trades.ImportReverted"

# Largest batch the imports service may send: ~300 bytes of JSON per row keeps a batch well
# under Kafka's default 1 MB message limit.
MAX_STAGE_BATCH = 2000


# The fingerprint of an imported row with a broker trade id: this prefix and the id.
TRADE_KEY = "t:"


class StagedExecutionIn(ExecutionIn):
    """A parsed import row: an execution plus where it came from and its de-duplication key."""

    # Per-execution fingerprint (imports issue): "t:<broker trade id>" when the broker gives one,
    # else "h:<sha256 of the normalised row>:<occurrence index>". Unique per account. A row with a
    # broker trade id is keyed by it: the trades service stores "t:<broker trade id>" (stripped)
    # whatever fingerprint it came with, and refuses a "t:" fingerprint on a row without one.
    fingerprint: str = Field(min_length=3, max_length=160)
    line: int = Field(ge=1, description="1-based line (or row) in the source file")
    source_timezone: str | None = Field(default=None, max_length=64, description="IANA zone of the file's times")
    day_level: bool = Field(default=False, description="the source gives only the trade date, no time")

    @model_validator(mode="after")
    def _trade_key(self) -> StagedExecutionIn:
        if self.broker_trade_id is None and self.fingerprint.startswith(TRADE_KEY):
            raise ValueError(
                f"fingerprint: a '{TRADE_KEY}' fingerprint keys a row by its broker_trade_id, which it lacks"
            )
        return self


# The fields of StagedExecutionIn, which are also the column names of a columnar batch.
STAGED_FIELDS = tuple(StagedExecutionIn.model_fields)


def check_batch_form(executions: list[Any] | None, columns: Mapping[str, list[Any]] | None) -> None:
    """ValueError unless a batch has exactly one of its two forms, and its columns (if that is
    the form) a right shape: names that are fields of StagedExecutionIn, the same length, 1 to
    MAX_STAGE_BATCH rows."""
    if (executions is None) == (columns is None):
        raise ValueError("a batch has either executions (rows) or columns")
    if columns is None:
        return
    unknown = sorted(set(columns) - set(STAGED_FIELDS))
    if unknown:
        raise ValueError(f"unknown columns: {', '.join(unknown)}")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise ValueError("the columns must all have the same length")
    rows = lengths.pop()
    if not 1 <= rows <= MAX_STAGE_BATCH:
        raise ValueError(f"a batch has 1 to {MAX_STAGE_BATCH} rows, not {rows}")


def staged_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Rows (field -> value) as the ``columns`` of a batch: null where a row has no value."""
    names = sorted({name for row in rows for name in row})
    return {name: [row.get(name) for row in rows] for name in names}


def staged_rows(columns: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """The ``columns`` of a batch as rows; a null is an absent field (so an absent exchange is NSE)."""
    names = list(columns)
    return [
        {name: value for name, value in zip(names, values, strict=True) if value is not None}
        for values in zip(*columns.values(), strict=True)
    ]


class StageImportBatch(BaseModel):
    """A batch of parsed rows, in one of two forms: ``executions``, a list of StagedExecutionIn
    objects, or ``columns``, the same rows column by column: each key a field of
    StagedExecutionIn, each value a list with one entry per row (``null`` where a row has no
    value; a field left out is absent in every row). The imports service sends columns: about
    half the bytes, and trades checks a whole column at a time."""

    model_config = ConfigDict(extra="forbid")

    import_id: uuid.UUID
    account_id: uuid.UUID
    batch_no: int = Field(ge=0)
    executions: list[StagedExecutionIn] | None = Field(default=None, min_length=1, max_length=MAX_STAGE_BATCH)
    columns: dict[str, list[Any]] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> StageImportBatch:
        check_batch_form(self.executions, self.columns)
        return self


class StagedRowRejected(BaseModel):
    line: int
    reason: str


class ImportBatchStaged(BaseModel):
    command_id: uuid.UUID
    import_id: uuid.UUID
    batch_no: int
    staged: int  # new executions staged by this batch
    duplicates: int  # fingerprints already in the account (committed) or earlier in this import
    rejected: list[StagedRowRejected] = Field(default_factory=list)  # e.g. currency mismatch


class CommitImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    import_id: uuid.UUID
    account_id: uuid.UUID
    batches: int = Field(ge=0, description="batches sent; the commit is refused until all are staged")


class ImportCommitted(BaseModel):
    command_id: uuid.UUID
    import_id: uuid.UUID
    account_id: uuid.UUID
    accepted: int  # executions made visible
    duplicates: int  # rows skipped over the whole import


class DiscardImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    import_id: uuid.UUID
    reason: str = Field(default="cancelled", max_length=500)


class ImportDiscarded(BaseModel):
    command_id: uuid.UUID
    import_id: uuid.UUID
    removed: int


class RevertImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    import_id: uuid.UUID


class ImportReverted(BaseModel):
    command_id: uuid.UUID
    import_id: uuid.UUID
    removed: int  # executions removed; the affected round trips are recomputed


# Deleting trades and executions: the round trips are recomputed from what remains.
DELETE_TRADE = "trades.DeleteTrade"
TRADE_DELETED = "trades.TradeDeleted"
DELETE_EXECUTION = "trades.DeleteExecution"
EXECUTION_DELETED = "trades.ExecutionDeleted"


class DeleteTrade(BaseModel):
    """Delete a round trip's executions (refused with 409 when one is shared with another trade,
    i.e. a flip through zero: delete executions one by one then)."""

    model_config = ConfigDict(extra="forbid")

    trade_id: uuid.UUID


class TradeDeleted(BaseModel):
    command_id: uuid.UUID
    trade_id: uuid.UUID
    execution_ids: list[uuid.UUID]
    # The trade's attachments went with it: the gateway removes these S3 objects.
    object_keys: list[str] = Field(default_factory=list)


class DeleteExecution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    execution_id: uuid.UUID


class ExecutionDeleted(BaseModel):
    command_id: uuid.UUID
    execution_id: uuid.UUID
    account_id: uuid.UUID


# The trader's journal: one markdown entry per user and day.
PUT_JOURNAL_ENTRY = "trades.PutJournalEntry"
JOURNAL_ENTRY_SAVED = "trades.JournalEntrySaved"
JOURNAL_MAX_CHARS = 50_000


class JournalEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, Field(max_length=JOURNAL_MAX_CHARS, description="markdown")]


class PutJournalEntry(JournalEntryIn):
    day: date


class JournalEntryOut(BaseModel):
    day: date
    body: str
    updated_at: datetime


class JournalEntrySaved(BaseModel):
    command_id: uuid.UUID
    entry: JournalEntryOut


# Attachments: screenshots stored in S3. The gateway hands out a presigned PUT for the declared
# type and size, checks the stored object on confirm (type, size) and deletes it on delete.
ADD_ATTACHMENT = "trades.AddAttachment"
ATTACHMENT_ADDED = "trades.AttachmentAdded"
CONFIRM_ATTACHMENT = "trades.ConfirmAttachment"
ATTACHMENT_CONFIRMED = "trades.AttachmentConfirmed"
DELETE_ATTACHMENT = "trades.DeleteAttachment"
ATTACHMENT_DELETED = "trades.AttachmentDeleted"
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
ATTACHMENTS_PER_TRADE = 20
ImageType = Literal["image/png", "image/jpeg", "image/gif", "image/webp"]


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    filename: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f]+$")]
    content_type: ImageType
    size: Annotated[int, Field(gt=0, le=ATTACHMENT_MAX_BYTES, description="bytes")]


class AddAttachment(AttachmentIn):
    trade_id: uuid.UUID


class AttachmentOut(BaseModel):
    id: uuid.UUID
    trade_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    object_key: str
    status: Literal["pending", "uploaded"]
    created_at: datetime


class AttachmentAdded(BaseModel):
    command_id: uuid.UUID
    attachment: AttachmentOut


class ConfirmAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attachment_id: uuid.UUID
    size: int = Field(gt=0, le=ATTACHMENT_MAX_BYTES)


class AttachmentConfirmed(BaseModel):
    command_id: uuid.UUID
    attachment: AttachmentOut


class DeleteAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attachment_id: uuid.UUID


class AttachmentDeleted(BaseModel):
    command_id: uuid.UUID
    attachment: AttachmentOut
