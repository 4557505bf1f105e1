"""Handlers of the staged-import commands (semantics: tj_common.contracts.trades and staging.py).

Every command of an import is keyed by its user, so one import's batches, its commit and any
revert arrive in order on one partition: the checks below see everything before them applied.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.consumer import Delivery, Handler
from tj_common.contracts import trades as contract
from tj_common.envelope import derived_id
from tj_common.outbox import Outbox, OutboxMessage
from tj_common.topics import TRADES_EVENTS
from tj_trades import pgarrays, projection, repository, staging
from tj_trades.handlers import _reject, _user
from tj_trades.models import import_batches, imports

# A batch whose rows were checked: its delivery, header, accepted rows and rejections.
_Checked = tuple[Delivery, staging.BatchHeader, staging.Columns, list[Any]]


def make_import_handlers(outbox: Outbox) -> dict[str, Handler]:
    async def stage_batch(session: AsyncSession, deliveries: list[Delivery]) -> None:
        """Stage each batch, in order. First every batch is looked at (its header, whether it is
        staged already, its account and import), then the accepted ones are stored one after the
        other, pipelined: a batch's rows are checked and its parameters made (CPU) while the
        previous batch's INSERT runs in the database."""
        events: list[OutboxMessage] = []
        now = datetime.now(UTC)
        accounts: dict[uuid.UUID, dict[str, Any] | None] = {}
        known: dict[uuid.UUID, dict[str, Any] | None] = {}
        committed: dict[uuid.UUID, list[uuid.UUID]] = {}
        planned: dict[tuple[uuid.UUID, int], int] = {}  # batch -> its place in ``work``
        work: list[tuple[Delivery, staging.BatchHeader, dict[str, Any]]] = []
        repeats: list[tuple[Delivery, staging.BatchHeader, int]] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            try:
                command = staging.BatchHeader.model_validate(delivery.envelope.payload)
            except ValidationError as exc:
                if not delivery.duplicate:
                    await _reject(session, [delivery], events, 422, "ValidationError", _first_error(exc))
                continue
            key = (command.import_id, command.batch_no)
            if key in planned:  # the same batch twice in this delivery: the first one's answer
                repeats.append((delivery, command, planned[key]))
                continue
            stored = await staging.batch_row(session, command.import_id, command.batch_no)
            if stored is not None:  # a repeated delivery, or the same batch sent again: no new rows
                events.append(_batch_staged(delivery, command, stored))
                continue
            if delivery.duplicate:
                continue  # its rejection was answered the first time
            if command.account_id not in accounts:
                found_accounts = await repository.accounts_by_id(session, {command.account_id})
                accounts[command.account_id] = found_accounts.get(command.account_id)
            account = accounts[command.account_id]
            if account is None or account["user_id"] != user_id:
                await _reject(session, [delivery], events, 404, "NotFound", "account not found")
                continue
            if command.import_id not in known:
                known[command.import_id] = await staging.import_row(session, command.import_id)
            found = known[command.import_id]
            if found is None:
                await session.execute(
                    pg_insert(imports)
                    .values(import_id=command.import_id, user_id=user_id, account_id=command.account_id)
                    .on_conflict_do_nothing(index_elements=[imports.c.import_id])
                )
                known[command.import_id] = {"user_id": user_id, "account_id": command.account_id, "status": "staged"}
            elif found["user_id"] != user_id or found["account_id"] != command.account_id:
                await _reject(session, [delivery], events, 409, "Conflict", "the import belongs to another account")
                continue
            elif found["status"] != "staged":
                detail = f"the import is {found['status']}; no more batches can be staged"
                await _reject(session, [delivery], events, 409, "Conflict", detail)
                continue
            if command.account_id not in committed:
                committed[command.account_id] = await staging.committed_imports(session, command.account_id)
            planned[key] = len(work)
            work.append((delivery, command, account))

        rows: list[dict[str, Any]] = []
        groups: dict[uuid.UUID, set[tuple[str, date]]] = {}
        if work:
            connection = await pgarrays.driver(session)
            pending: asyncio.Future[str] | None = None
            previous: _Checked | None = None

            async def finish(status: str, done: _Checked) -> None:
                delivery, command, columns, rejected = done
                count = int(status.rsplit(" ", 1)[-1])
                row = {
                    "import_id": command.import_id,
                    "batch_no": command.batch_no,
                    "command_id": delivery.envelope.id,
                    "staged": count,
                    "duplicates": len(columns) - count,
                    "rejected": [r.model_dump() for r in rejected],
                }
                rows.append(row)
                events.append(_batch_staged(delivery, command, row))

            for delivery, command, account in work:
                # All of a batch's CPU work (checks, projection groups, parameters) is done while
                # the previous batch's INSERT runs in the database.
                columns, rejected = command.check(account["base_currency"], now)
                statement = (columns.stage_sql(), columns.params(), columns.groups()) if len(columns) else None
                if pending is not None and previous is not None:
                    await finish(await pending, previous)
                    pending = None
                previous = (delivery, command, columns, rejected)
                if statement is not None:
                    sql, params, batch_groups = statement
                    groups.setdefault(command.import_id, set()).update(batch_groups)
                    pending = asyncio.ensure_future(
                        connection.execute(
                            sql,
                            _user(delivery),
                            command.account_id,
                            delivery.envelope.id,
                            command.import_id,
                            [*committed[command.account_id], command.import_id],
                            *params,
                        )
                    )
                    await asyncio.sleep(0)  # the INSERT goes out before the next batch is checked
                else:
                    await finish("INSERT 0 0", previous)
                    previous = None
            if pending is not None and previous is not None:
                await finish(await pending, previous)
            await session.execute(import_batches.insert(), rows)
            for import_id, found_groups in groups.items():
                await staging.store_groups(session, import_id, found_groups)
        for delivery, command, place in repeats:
            events.append(_batch_staged(delivery, command, rows[place]))
        await outbox.put_many(session, events)

    async def commit_import(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.CommitImport.model_validate(delivery.envelope.payload)
            found = await staging.import_row(session, command.import_id)
            if found is not None and found["user_id"] != user_id:
                found = None
            if found is not None and found["status"] == "committed":
                events.append(_committed(delivery, found))  # a repeat: the same answer
                continue
            if delivery.duplicate:
                continue
            if found is None:
                account = (await repository.accounts_by_id(session, {command.account_id})).get(command.account_id)
                if account is None or account["user_id"] != user_id:
                    await _reject(session, [delivery], events, 404, "NotFound", "account not found")
                    continue
                if command.batches:
                    detail = f"0 of {command.batches} batches of the import are staged"
                    await _reject(session, [delivery], events, 409, "Conflict", detail)
                    continue
                # An import with nothing to stage (every row rejected by the parser) commits empty.
                found = {"import_id": command.import_id, "user_id": user_id, "account_id": command.account_id}
                await session.execute(imports.insert().values(**found))
                found = await staging.import_row(session, command.import_id)
                assert found is not None
            if found["account_id"] != command.account_id:
                await _reject(session, [delivery], events, 409, "Conflict", "the import belongs to another account")
                continue
            if found["status"] != "staged":
                await _reject(session, [delivery], events, 409, "Conflict", f"the import is {found['status']}")
                continue
            staged_batches, staged_rows, duplicates = await staging.batch_totals(session, command.import_id)
            if staged_batches < command.batches:
                detail = f"{staged_batches} of {command.batches} batches of the import are staged; commit again later"
                await _reject(session, [delivery], events, 409, "Conflict", detail)
                continue
            removed = await staging.remove_collisions(session, found)
            duplicates += removed
            accepted = staged_rows - removed
            result = await session.execute(
                update(imports)
                .where(imports.c.import_id == command.import_id)
                .values(
                    status="committed",
                    accepted=accepted,
                    duplicates=duplicates,
                    committed_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
                .returning(*imports.c)
            )
            row = dict(result.one()._mapping)
            if accepted:  # the projection follows the rows that became visible
                await projection.mark_import(session, command.import_id)
            await staging.forget_groups(session, command.import_id)
            events.append(_committed(delivery, row))
        await outbox.put_many(session, events)

    async def discard_import(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.DiscardImport.model_validate(delivery.envelope.payload)
            found = await staging.import_row(session, command.import_id)
            if found is not None and found["user_id"] != user_id:
                found = None
            if found is None:  # nothing was ever staged (or it is not this user's): nothing to remove
                if not delivery.duplicate:
                    events.append(_discarded(delivery, command.import_id, 0))
                continue
            if found["status"] == "discarded":
                events.append(_discarded(delivery, command.import_id, found["removed"] or 0))
                continue
            if delivery.duplicate:
                continue
            if found["status"] != "staged":
                detail = f"the import is {found['status']}; revert it instead"
                await _reject(session, [delivery], events, 409, "Conflict", detail)
                continue
            removed = await staging.delete_rows(session, command.import_id)
            await staging.forget_groups(session, command.import_id)
            await _set_status(session, command.import_id, "discarded", removed)
            events.append(_discarded(delivery, command.import_id, removed))
        await outbox.put_many(session, events)

    async def revert_import(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.RevertImport.model_validate(delivery.envelope.payload)
            found = await staging.import_row(session, command.import_id)
            if found is not None and found["user_id"] != user_id:
                found = None
            if found is not None and found["status"] in ("reverted", "discarded"):
                events.append(_reverted(delivery, command.import_id, found["removed"] or 0))
                continue
            if delivery.duplicate:
                continue
            if found is None:
                await _reject(session, [delivery], events, 404, "NotFound", "import not found")
                continue
            if found["status"] == "committed":
                await projection.mark_where(session, "import_id", command.import_id)
            removed = await staging.delete_rows(session, command.import_id)
            await _set_status(session, command.import_id, "reverted", removed)
            events.append(_reverted(delivery, command.import_id, removed))
        await outbox.put_many(session, events)

    return {
        contract.STAGE_IMPORT_BATCH: stage_batch,
        contract.COMMIT_IMPORT: commit_import,
        contract.DISCARD_IMPORT: discard_import,
        contract.REVERT_IMPORT: revert_import,
    }


async def _set_status(session: AsyncSession, import_id: uuid.UUID, status: str, removed: int) -> None:
    await session.execute(
        update(imports)
        .where(imports.c.import_id == import_id)
        .values(status=status, removed=removed, updated_at=datetime.now(UTC))
    )


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or 'payload'}: {first['msg']}"


def _event(delivery: Delivery, type_: str, payload: BaseModel) -> OutboxMessage:
    command = delivery.envelope
    event = command.caused(type_, payload.model_dump(mode="json"), message_id=derived_id(command.id, type_))
    return OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context)


def _batch_staged(delivery: Delivery, command: staging.BatchHeader, row: dict[str, Any]) -> OutboxMessage:
    payload = contract.ImportBatchStaged(
        command_id=delivery.envelope.id,
        import_id=command.import_id,
        batch_no=command.batch_no,
        staged=row["staged"],
        duplicates=row["duplicates"],
        rejected=[contract.StagedRowRejected.model_validate(r) for r in row["rejected"]],
    )
    return _event(delivery, contract.IMPORT_BATCH_STAGED, payload)


def _committed(delivery: Delivery, row: dict[str, Any]) -> OutboxMessage:
    payload = contract.ImportCommitted(
        command_id=delivery.envelope.id,
        import_id=row["import_id"],
        account_id=row["account_id"],
        accepted=row["accepted"] or 0,
        duplicates=row["duplicates"] or 0,
    )
    return _event(delivery, contract.IMPORT_COMMITTED, payload)


def _discarded(delivery: Delivery, import_id: uuid.UUID, removed: int) -> OutboxMessage:
    payload = contract.ImportDiscarded(command_id=delivery.envelope.id, import_id=import_id, removed=removed)
    return _event(delivery, contract.IMPORT_DISCARDED, payload)


def _reverted(delivery: Delivery, import_id: uuid.UUID, removed: int) -> OutboxMessage:
    payload = contract.ImportReverted(command_id=delivery.envelope.id, import_id=import_id, removed=removed)
    return _event(delivery, contract.IMPORT_REVERTED, payload)
