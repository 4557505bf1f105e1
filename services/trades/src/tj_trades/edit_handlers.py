"""Handlers of the commands that remove or add to a user's record: delete a trade or an
execution (the round trips are recomputed: they are a function of the executions), the daily
journal entry, and trade attachments (metadata here; the objects are in S3, handled by the
gateway)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.consumer import Delivery, Handler
from tj_common.contracts import trades as contract
from tj_common.envelope import derived_id
from tj_common.outbox import Outbox, OutboxMessage
from tj_common.topics import TRADES_EVENTS
from tj_trades import projection, repository
from tj_trades.domain.charges.india import IST
from tj_trades.handlers import _reject, _trades_of, _user
from tj_trades.models import executions, journal_entries, trade_annotations, trade_attachments


def make_edit_handlers(outbox: Outbox) -> dict[str, Handler]:
    async def delete_trade(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.DeleteTrade.model_validate(delivery.envelope.payload)
            if delivery.duplicate:
                continue
            trades = await _trades_of(session, user_id)
            trade = next((t for t in trades if t.id == command.trade_id), None)
            if trade is None:
                await _reject(session, [delivery], events, 404, "NotFound", "trade not found")
                continue
            ids = {uuid.UUID(str(leg.execution_id)) for leg in trade.legs}
            shared = [
                t for t in trades if t.id != trade.id and any(uuid.UUID(str(g.execution_id)) in ids for g in t.legs)
            ]
            if shared:
                detail = (
                    f"an execution of this trade also belongs to trade {shared[0].id} (a flip through zero); "
                    "delete the executions instead"
                )
                await _reject(session, [delivery], events, 409, "Conflict", detail)
                continue
            await session.execute(delete(executions).where(executions.c.id.in_(ids), executions.c.user_id == user_id))
            await session.execute(delete(trade_annotations).where(trade_annotations.c.trade_id == trade.id))
            keys = await session.execute(
                delete(trade_attachments)
                .where(trade_attachments.c.trade_id == trade.id, trade_attachments.c.user_id == user_id)
                .returning(trade_attachments.c.object_key)
            )
            account_id = uuid.UUID(str(trade.account_id))
            await projection.mark(
                session,
                [(user_id, account_id, trade.symbol, leg.executed_at.astimezone(IST).date()) for leg in trade.legs],
            )
            payload = contract.TradeDeleted(
                command_id=delivery.envelope.id,
                trade_id=trade.id,
                execution_ids=sorted(ids),
                object_keys=list(keys.scalars()),
            )
            events.append(_event(delivery, contract.TRADE_DELETED, payload))
        await outbox.put_many(session, events)

    async def delete_execution(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.DeleteExecution.model_validate(delivery.envelope.payload)
            if delivery.duplicate:
                continue
            removed = (
                await session.execute(
                    delete(executions)
                    .where(
                        executions.c.id == command.execution_id,
                        executions.c.user_id == user_id,
                        repository.visible(user_id),
                    )
                    .returning(
                        executions.c.account_id, executions.c.exchange, executions.c.symbol, executions.c.executed_at
                    )
                )
            ).first()
            if removed is None:
                await _reject(session, [delivery], events, 404, "NotFound", "execution not found")
                continue
            await projection.mark(session, projection.groups_of_rows(user_id, [dict(removed._mapping)]))
            payload = contract.ExecutionDeleted(
                command_id=delivery.envelope.id, execution_id=command.execution_id, account_id=removed.account_id
            )
            events.append(_event(delivery, contract.EXECUTION_DELETED, payload))
        await outbox.put_many(session, events)

    async def put_journal_entry(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.PutJournalEntry.model_validate(delivery.envelope.payload)
            if not delivery.duplicate:
                now = datetime.now(UTC)
                statement = pg_insert(journal_entries).values(
                    user_id=user_id, day=command.day, body=command.body, updated_at=now
                )
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=[journal_entries.c.user_id, journal_entries.c.day],
                        set_={"body": command.body, "updated_at": now},
                    )
                )
            entry = await journal_entry(session, user_id, command.day)
            if entry is not None:
                payload = contract.JournalEntrySaved(command_id=delivery.envelope.id, entry=entry)
                events.append(_event(delivery, contract.JOURNAL_ENTRY_SAVED, payload))
        await outbox.put_many(session, events)

    async def add_attachment(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.AddAttachment.model_validate(delivery.envelope.payload)
            attachment_id = derived_id(delivery.envelope.id, "attachment")
            if delivery.duplicate:
                found = await attachment(session, user_id, attachment_id)
                if found is not None:
                    events.append(_attachment_event(delivery, contract.ATTACHMENT_ADDED, found))
                continue
            if not any(t.id == command.trade_id for t in await _trades_of(session, user_id)):
                await _reject(session, [delivery], events, 404, "NotFound", "trade not found")
                continue
            count = await session.scalar(
                select(func.count()).where(
                    trade_attachments.c.user_id == user_id, trade_attachments.c.trade_id == command.trade_id
                )
            )
            if (count or 0) >= contract.ATTACHMENTS_PER_TRADE:
                detail = f"a trade has at most {contract.ATTACHMENTS_PER_TRADE} attachments"
                await _reject(session, [delivery], events, 409, "Conflict", detail)
                continue
            row = (
                await session.execute(
                    trade_attachments.insert()
                    .values(
                        id=attachment_id,
                        user_id=user_id,
                        trade_id=command.trade_id,
                        filename=command.filename,
                        content_type=command.content_type,
                        size=command.size,
                        object_key=f"attachments/{user_id}/{command.trade_id}/{attachment_id}",
                    )
                    .returning(*trade_attachments.c)
                )
            ).one()
            events.append(_attachment_event(delivery, contract.ATTACHMENT_ADDED, dict(row._mapping)))
        await outbox.put_many(session, events)

    async def confirm_attachment(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.ConfirmAttachment.model_validate(delivery.envelope.payload)
            row = (
                await session.execute(
                    update(trade_attachments)
                    .where(trade_attachments.c.id == command.attachment_id, trade_attachments.c.user_id == user_id)
                    .values(status="uploaded", size=command.size)
                    .returning(*trade_attachments.c)
                )
            ).first()
            if row is None:
                if not delivery.duplicate:
                    await _reject(session, [delivery], events, 404, "NotFound", "attachment not found")
                continue
            events.append(_attachment_event(delivery, contract.ATTACHMENT_CONFIRMED, dict(row._mapping)))
        await outbox.put_many(session, events)

    async def delete_attachment(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.DeleteAttachment.model_validate(delivery.envelope.payload)
            if delivery.duplicate:
                continue
            row = (
                await session.execute(
                    delete(trade_attachments)
                    .where(trade_attachments.c.id == command.attachment_id, trade_attachments.c.user_id == user_id)
                    .returning(*trade_attachments.c)
                )
            ).first()
            if row is None:
                await _reject(session, [delivery], events, 404, "NotFound", "attachment not found")
                continue
            events.append(_attachment_event(delivery, contract.ATTACHMENT_DELETED, dict(row._mapping)))
        await outbox.put_many(session, events)

    return {
        contract.DELETE_TRADE: delete_trade,
        contract.DELETE_EXECUTION: delete_execution,
        contract.PUT_JOURNAL_ENTRY: put_journal_entry,
        contract.ADD_ATTACHMENT: add_attachment,
        contract.CONFIRM_ATTACHMENT: confirm_attachment,
        contract.DELETE_ATTACHMENT: delete_attachment,
    }


async def journal_entry(session: AsyncSession, user_id: uuid.UUID, day: Any) -> contract.JournalEntryOut | None:
    row = (
        await session.execute(
            select(journal_entries.c.day, journal_entries.c.body, journal_entries.c.updated_at).where(
                journal_entries.c.user_id == user_id, journal_entries.c.day == day
            )
        )
    ).first()
    return None if row is None else contract.JournalEntryOut.model_validate(dict(row._mapping))


async def attachment(session: AsyncSession, user_id: uuid.UUID, attachment_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(trade_attachments).where(
                trade_attachments.c.id == attachment_id, trade_attachments.c.user_id == user_id
            )
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def attachments_of(session: AsyncSession, user_id: uuid.UUID, trade_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(trade_attachments)
        .where(trade_attachments.c.user_id == user_id, trade_attachments.c.trade_id == trade_id)
        .order_by(trade_attachments.c.created_at, trade_attachments.c.id)
    )
    return [contract.AttachmentOut.model_validate(dict(r._mapping)).model_dump(mode="json") for r in rows]


def _event(delivery: Delivery, type_: str, payload: BaseModel) -> OutboxMessage:
    command = delivery.envelope
    event = command.caused(type_, payload.model_dump(mode="json"), message_id=derived_id(command.id, type_))
    return OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context)


def _attachment_event(delivery: Delivery, type_: str, row: dict[str, Any]) -> OutboxMessage:
    out = contract.AttachmentOut.model_validate(row)
    payload: BaseModel
    if type_ == contract.ATTACHMENT_ADDED:
        payload = contract.AttachmentAdded(command_id=delivery.envelope.id, attachment=out)
    elif type_ == contract.ATTACHMENT_CONFIRMED:
        payload = contract.AttachmentConfirmed(command_id=delivery.envelope.id, attachment=out)
    else:
        payload = contract.AttachmentDeleted(command_id=delivery.envelope.id, attachment=out)
    return _event(delivery, type_, payload)
