"""Command handlers of the trades service: one per command type, applied inside the consumer's
transaction (state, offset, message id and outbox events commit together)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.consumer import Delivery, Handler, PoisonMessage
from tj_common.contracts import trades as contract
from tj_common.envelope import Envelope, derived_id
from tj_common.outbox import Outbox
from tj_common.topics import TRADES_EVENTS
from tj_trades import repository
from tj_trades.models import metadata

processed_messages = metadata.tables["trades.processed_messages"]


def make_handlers(outbox: Outbox) -> dict[str, Handler]:
    async def record_executions(session: AsyncSession, delivery: Delivery) -> None:
        envelope = delivery.envelope
        if envelope.user_id is None:
            raise PoisonMessage("trades.RecordExecutions without user_id")
        command = contract.RecordExecutions.model_validate(envelope.payload)
        if delivery.duplicate:
            # Re-send the first delivery's result under the same event id: a client retrying
            # with the same Idempotency-Key gets its answer, consumers drop the repeat.
            stored = await repository.executions_of_command(session, envelope.id)
            if stored:
                await _recorded(session, outbox, envelope, stored[0]["account_id"], stored)
            return
        user_id = envelope.user_id
        if command.account_id is not None:
            account_id = await repository.account_of_user(session, user_id, command.account_id)
            if account_id is None:
                await _reject(session, outbox, envelope, 404, "NotFound", "account not found")
                return
        else:
            account_id = await repository.default_account(session, user_id)
        rows = [
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "account_id": account_id,
                "command_id": envelope.id,
                **execution.model_dump(),
                "symbol": execution.symbol.upper(),
                "exchange": execution.exchange.upper(),
                "currency": execution.currency.upper(),
            }
            for execution in command.executions
        ]
        stored = await repository.insert_executions(session, rows)
        await _recorded(session, outbox, envelope, account_id, stored)

    return {contract.RECORD_EXECUTIONS: record_executions}


async def _recorded(
    session: AsyncSession, outbox: Outbox, command: Envelope, account_id: uuid.UUID, stored: list[dict[str, Any]]
) -> None:
    payload = contract.ExecutionsRecorded(
        command_id=command.id,
        account_id=account_id,
        executions=[contract.ExecutionOut.model_validate(row) for row in stored],
    )
    event = command.caused(
        contract.EXECUTIONS_RECORDED,
        payload.model_dump(mode="json"),
        message_id=derived_id(command.id, contract.EXECUTIONS_RECORDED),
    )
    await outbox.put(session, TRADES_EVENTS.name, event)


async def _reject(
    session: AsyncSession, outbox: Outbox, command: Envelope, status: int, error: str, detail: str
) -> None:
    await session.execute(
        update(processed_messages)
        .where(processed_messages.c.message_id == command.id)
        .values(outcome="rejected", error=f"{error}: {detail}")
    )
    payload = contract.CommandRejected(command_id=command.id, error=error, status=status, detail=detail)
    event = command.caused(
        contract.COMMAND_REJECTED,
        payload.model_dump(mode="json"),
        message_id=derived_id(command.id, contract.COMMAND_REJECTED),
    )
    await outbox.put(session, TRADES_EVENTS.name, event)
