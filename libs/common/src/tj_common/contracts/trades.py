"""Contracts of the trades service: its commands (``trades.commands``) and events (``trades.events``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

RECORD_EXECUTIONS = "trades.RecordExecutions"
EXECUTIONS_RECORDED = "trades.ExecutionsRecorded"
COMMAND_REJECTED = "trades.CommandRejected"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("executed_at needs a UTC offset, e.g. 2026-06-05T09:15:00+05:30")
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
