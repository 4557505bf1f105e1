"""Contracts of the trades service: its commands (``trades.commands``) and events (``trades.events``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

RECORD_EXECUTIONS = "trades.RecordExecutions"
EXECUTIONS_RECORDED = "trades.ExecutionsRecorded"
COMMAND_REJECTED = "trades.CommandRejected"
CREATE_ACCOUNT = "trades.CreateAccount"
UPDATE_ACCOUNT = "trades.UpdateAccount"
DELETE_ACCOUNT = "trades.DeleteAccount"
ACCOUNT_CREATED = "trades.AccountCreated"
ACCOUNT_UPDATED = "trades.AccountUpdated"
ACCOUNT_DELETED = "trades.AccountDeleted"


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
    currency: str = Field(default="INR", min_length=3, max_length=3)
    broker_trade_id: str | None = Field(default=None, max_length=128)
    broker_order_id: str | None = Field(default=None, max_length=128)
    product: Literal["MIS", "CNC", "NRML"] | None = None


class RecordExecutions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID | None = None
    executions: list[ExecutionIn] = Field(min_length=1, max_length=1000)


class ExecutionOut(ExecutionIn):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    account_id: uuid.UUID
    recorded_at: datetime


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


class CreateAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: AccountName
    broker: str | None = Field(default=None, max_length=64)
    base_currency: CurrencyCode = "INR"
    timezone: TimeZoneName = "Asia/Kolkata"
    long_only: bool = False
    brokerage_plan: PlanName = "zerodha"
    starting_balance: Balance | None = None


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
