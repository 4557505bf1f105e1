"""Command handlers of the trades service, applied inside the consumer's transaction (state,
offset, message ids and outbox events commit together). Each handler takes a run of messages of
its type and works set-based: a batch of 500 commands costs a handful of statements."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.consumer import Delivery, Handler, PoisonMessage
from tj_common.contracts import trades as contract
from tj_common.envelope import Envelope, derived_id
from tj_common.outbox import Outbox, OutboxMessage
from tj_common.topics import TRADES_EVENTS
from tj_trades import repository
from tj_trades.models import metadata

processed_messages = metadata.tables["trades.processed_messages"]


def make_handlers(outbox: Outbox) -> dict[str, Handler]:
    accounts = repository.DefaultAccounts()

    async def record_executions(session: AsyncSession, deliveries: list[Delivery]) -> None:
        commands: list[tuple[Delivery, uuid.UUID, contract.RecordExecutions]] = []
        for delivery in deliveries:
            user_id = delivery.envelope.user_id
            if user_id is None:
                raise PoisonMessage("trades.RecordExecutions without user_id")
            commands.append((delivery, user_id, contract.RecordExecutions.model_validate(delivery.envelope.payload)))

        events: list[OutboxMessage] = []
        repeats = [d for d, _, _ in commands if d.duplicate]
        if repeats:
            # Re-send the first delivery's result under the same event id: a client retrying
            # with the same Idempotency-Key gets its answer, consumers drop the repeat.
            stored = await repository.executions_of_commands(session, [d.envelope.id for d in repeats])
            for delivery in repeats:
                earlier = stored.get(delivery.envelope.id)
                if earlier:
                    events.append(_recorded(delivery, earlier[0]["account_id"], earlier))

        fresh = [(d, u, c) for d, u, c in commands if not d.duplicate]
        explicit = {(u, c.account_id) for _, u, c in fresh if c.account_id is not None}
        owned = await repository.owned_accounts(session, explicit)
        defaults = await accounts.resolve(session, {u for _, u, c in fresh if c.account_id is None})

        rows: list[dict[str, Any]] = []
        accepted: list[tuple[Delivery, uuid.UUID]] = []
        rejected: list[Delivery] = []
        for delivery, user_id, command in fresh:
            account_id = defaults[user_id] if command.account_id is None else command.account_id
            if command.account_id is not None and (user_id, command.account_id) not in owned:
                rejected.append(delivery)
                continue
            accepted.append((delivery, account_id))
            rows.extend(
                {
                    "id": uuid.uuid4(),
                    "user_id": user_id,
                    "account_id": account_id,
                    "command_id": delivery.envelope.id,
                    **execution.model_dump(),
                    "symbol": execution.symbol.upper(),
                    "exchange": execution.exchange.upper(),
                    "currency": execution.currency.upper(),
                }
                for execution in command.executions
            )
        by_command: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for row in await repository.insert_executions(session, rows):
            by_command[row["command_id"]].append(row)
        events.extend(_recorded(d, account_id, by_command[d.envelope.id]) for d, account_id in accepted)
        if rejected:
            await _reject(session, rejected, events, 404, "NotFound", "account not found")
        await outbox.put_many(session, events)

    return {contract.RECORD_EXECUTIONS: record_executions}


def _recorded(delivery: Delivery, account_id: uuid.UUID, stored: list[dict[str, Any]]) -> OutboxMessage:
    command = delivery.envelope
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
    return OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context)


async def _reject(
    session: AsyncSession,
    deliveries: list[Delivery],
    events: list[OutboxMessage],
    status: int,
    error: str,
    detail: str,
) -> None:
    """A rejection the client can act on: recorded as the command's outcome and answered with an
    event, never dead-lettered."""
    await session.execute(
        update(processed_messages)
        .where(processed_messages.c.message_id.in_([d.envelope.id for d in deliveries]))
        .values(outcome="rejected", error=f"{error}: {detail}")
    )
    for delivery in deliveries:
        command: Envelope = delivery.envelope
        payload = contract.CommandRejected(command_id=command.id, error=error, status=status, detail=detail)
        event = command.caused(
            contract.COMMAND_REJECTED,
            payload.model_dump(mode="json"),
            message_id=derived_id(command.id, contract.COMMAND_REJECTED),
        )
        events.append(OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context))
