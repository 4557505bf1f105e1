"""Message handlers of the imports service, applied inside the consumer's transaction: the
commands on ``imports.commands`` and trades' answers about imports on ``trades.events``.

The long work (reading the file) is not here but in :mod:`tj_imports.pipeline`; these handlers
move the job through its states and write the resulting events and trades commands to the outbox.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.consumer import DeadLetterHook, Delivery, Handler, PoisonMessage
from tj_common.contracts import imports as contract
from tj_common.contracts import trades as trades_contract
from tj_common.envelope import Envelope, derived_id
from tj_common.outbox import Outbox, OutboxMessage
from tj_common.topics import IMPORTS_EVENTS, TRADES_COMMANDS
from tj_imports import jobs, repository
from tj_imports.formats.base import RowError, norm
from tj_imports.repository import Row

log = logging.getLogger(__name__)

ACTIVE = ("queued", "parsing", "staging")
# Row errors stored per import (all are counted): enough to fix a file, bounded for a broken one.
MAX_STORED_ERRORS = 10_000


def header_signature(headers: list[str]) -> str:
    """The key of a saved column mapping: the file's header, compared as the parsers compare
    headers (case, spaces and punctuation ignored), order kept; the same key as
    ``formats.parsers.mapped.header_signature`` gives for a file with that header."""
    cells = [h.strip() for h in headers]
    while cells and not cells[-1]:
        cells.pop()
    return hashlib.sha256("\x1f".join(norm(h) for h in cells).encode()).hexdigest()


class _Handlers(dict[str, Handler]):
    """Every other event on ``trades.events`` (executions recorded, accounts...) is not about
    imports: it is consumed and ignored rather than dead-lettered as unknown."""

    def get(self, key: str, default: Any = None) -> Handler | None:  # type: ignore[override]
        found = super().get(key)
        if found is None and key.startswith("trades."):
            return _ignore
        return found if found is not None else default


async def _ignore(session: AsyncSession, deliveries: list[Delivery]) -> None:
    return None


def _user(delivery: Delivery) -> uuid.UUID:
    if delivery.envelope.user_id is None:
        raise PoisonMessage(f"{delivery.envelope.type} without user_id")
    return delivery.envelope.user_id


def _rejected(delivery: Delivery, status: int, error: str, detail: str) -> OutboxMessage:
    command = delivery.envelope
    payload = contract.CommandRejected(command_id=command.id, error=error, status=status, detail=detail)
    event = command.caused(
        contract.COMMAND_REJECTED, payload.model_dump(mode="json"), message_id=derived_id(command.id, "rejected")
    )
    return OutboxMessage(IMPORTS_EVENTS.name, event, context=delivery.context)


async def advance(session: AsyncSession, job: Row, events: list[OutboxMessage]) -> Row:
    """Commit the import once every batch is staged (or complete it when there was nothing to
    stage). Called by whichever transaction completes the picture last, the worker's final
    update or trades' last batch answer: both update the job row first, so its lock orders them
    and the later one sees the other's change."""
    if job["status"] != "staging" or job["batches_sent"] is None or job["batches_acked"] < job["batches_sent"]:
        return job
    if job["batches_sent"] == 0:
        done = await repository.update_job(session, job["id"], status="completed", finished_at=func.now())
        assert done is not None
        events.append(jobs.completed(done))
        return done
    moved = await repository.update_job(session, job["id"], where_status=("staging",), status="committing")
    if moved is None:
        return job
    events.append(jobs.commit(moved))
    events.append(jobs.progressed(moved))
    return moved


def make_handlers(outbox: Outbox, wake_worker: Callable[[], None]) -> dict[str, Handler]:
    async def start_import(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            if delivery.duplicate:
                continue
            user_id = _user(delivery)
            command = contract.StartImport.model_validate(delivery.envelope.payload)
            if await repository.job(session, command.import_id) is not None:
                continue  # the same import started twice (a retried upload with its Idempotency-Key)
            values: dict[str, Any] = {
                "id": command.import_id,
                "user_id": user_id,
                "account_id": command.account_id,
                "status": "queued",
                "object_key": command.object_key,
                "file_name": command.file_name,
                "size": command.size,
                "sha256": command.sha256,
                "requested_format": command.format,
                "timezone": command.timezone,
            }
            job = await repository.insert_job(session, values)
            if job is None:
                first = await repository.live_job_of_file(session, command.account_id, command.sha256)
                if first is None:  # the live one ended between the insert and this read: try again
                    raise RuntimeError(f"import {command.import_id}: conflicting import vanished; retrying")
                done = first["status"] == "completed"
                job = await repository.insert_duplicate_job(
                    session,
                    {
                        **values,
                        "status": "completed",
                        "duplicate_of": first["id"],
                        "format": first["format"],
                        "format_label": first["format_label"],
                        "day_level": first["day_level"],
                        "rows": first["rows"] if done else 0,
                        "duplicates": first["accepted"] + first["duplicates"] if done else 0,
                        "rejected": first["rejected"] if done else 0,
                        "finished_at": func.now(),
                    },
                )
            accepted = contract.ImportAccepted(
                command_id=delivery.envelope.id,
                import_id=job["id"],
                account_id=job["account_id"],
                status=job["status"],
                duplicate_of=job["duplicate_of"],
            )
            events.append(
                jobs.event(
                    job,
                    contract.IMPORT_ACCEPTED,
                    accepted.model_dump(mode="json"),
                    message_id=derived_id(delivery.envelope.id, contract.IMPORT_ACCEPTED),
                    cause=delivery.envelope,
                )
            )
            if job["status"] == "completed":
                events.append(jobs.completed(job))
        await outbox.put_many(session, events)
        wake_worker()

    async def cancel_import(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            if delivery.duplicate:
                continue
            user_id = _user(delivery)
            command = contract.CancelImport.model_validate(delivery.envelope.payload)
            job = await repository.job(session, command.import_id, lock=True)
            if job is None or job["user_id"] != user_id:
                events.append(_rejected(delivery, 404, "NotFound", "import not found"))
                continue
            if job["status"] not in ACTIVE:
                detail = f"the import is {job['status']}; only a queued or running import can be cancelled"
                events.append(_rejected(delivery, 409, "Conflict", detail))
                continue
            # While the worker still reads the file it sends the discard itself, after its last
            # batch (same producer, same partition: trades sees them in that order).
            discard_now = job["status"] == "queued" or job["batches_sent"] is not None
            cancelled = await repository.update_job(
                session,
                job["id"],
                status="cancelled",
                error_code="Cancelled",
                error_detail="cancelled by the user; nothing was imported",
                finished_at=func.now(),
                discarded=discard_now,
            )
            assert cancelled is not None
            if discard_now:
                events.append(OutboxMessage(TRADES_COMMANDS.name, jobs.discard(cancelled, "cancelled")))
            events.append(jobs.failed(cancelled))
        await outbox.put_many(session, events)

    async def revert_import(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            if delivery.duplicate:
                continue
            user_id = _user(delivery)
            command = contract.RevertImport.model_validate(delivery.envelope.payload)
            job = await repository.job(session, command.import_id, lock=True)
            if job is None or job["user_id"] != user_id:
                events.append(_rejected(delivery, 404, "NotFound", "import not found"))
                continue
            if job["status"] != "completed":
                detail = f"the import is {job['status']}; only a completed import can be reverted"
                events.append(_rejected(delivery, 409, "Conflict", detail))
                continue
            if job["duplicate_of"] is not None or (job["accepted"] == 0 and job["staged"] == 0):
                # It added nothing: reverting it is only a change of state.
                reverted = await repository.update_job(session, job["id"], status="reverted", finished_at=func.now())
                assert reverted is not None
                payload = contract.ImportReverted(import_id=job["id"], removed=0)
                events.append(jobs.event(reverted, contract.IMPORT_REVERTED, payload.model_dump(mode="json")))
                continue
            reverting = await repository.update_job(session, job["id"], status="reverting")
            assert reverting is not None
            events.append(jobs.revert(reverting, derived_id(delivery.envelope.id, "revert")))
            events.append(jobs.progressed(reverting))
        await outbox.put_many(session, events)

    async def save_column_mapping(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.SaveColumnMapping.model_validate(delivery.envelope.payload)
            problem = mapping_problem(command.mapping)
            if problem is not None:
                if not delivery.duplicate:
                    events.append(_rejected(delivery, 422, "InvalidMapping", problem))
                continue
            signature = header_signature(command.headers)
            row = await repository.save_mapping(
                session,
                {
                    "id": derived_id(delivery.envelope.id, "mapping"),
                    "user_id": user_id,
                    "signature": signature,
                    "headers": command.headers,
                    "mapping": command.mapping,
                    "timezone": command.timezone,
                    "name": command.name,
                },
            )
            saved = contract.ColumnMappingSaved(command_id=delivery.envelope.id, mapping=mapping_out(row))
            event = delivery.envelope.caused(
                contract.COLUMN_MAPPING_SAVED,
                saved.model_dump(mode="json"),
                message_id=derived_id(delivery.envelope.id, contract.COLUMN_MAPPING_SAVED),
            )
            events.append(OutboxMessage(IMPORTS_EVENTS.name, event, context=delivery.context))
        await outbox.put_many(session, events)

    # -- trades' answers -----------------------------------------------------------------------
    async def batch_staged(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        totals: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        errors: dict[uuid.UUID, list[RowError]] = defaultdict(list)
        for delivery in deliveries:
            if delivery.duplicate:
                continue
            staged = trades_contract.ImportBatchStaged.model_validate(delivery.envelope.payload)
            total = totals[staged.import_id]
            total[0] += 1
            total[1] += staged.staged
            total[2] += staged.duplicates
            total[3] += len(staged.rejected)
            errors[staged.import_id].extend(RowError(r.line, None, r.reason) for r in staged.rejected)
        for import_id, (batches, staged_rows, duplicates, rejected) in totals.items():
            job = await repository.add_batch_results(
                session, import_id, batches=batches, staged=staged_rows, duplicates=duplicates, rejected=rejected
            )
            if job is None:
                continue  # not an import of this service's (or long gone)
            stored = job["rejected"] - rejected
            room = max(MAX_STORED_ERRORS - stored, 0)
            await repository.insert_row_errors(session, import_id, errors[import_id][:room])
            if job["status"] in ("staging", "parsing"):
                job = await advance(session, job, events)
                if job["status"] == "staging":
                    events.append(jobs.progressed(job))
        await outbox.put_many(session, events)

    async def import_committed(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            if delivery.duplicate:
                continue
            committed = trades_contract.ImportCommitted.model_validate(delivery.envelope.payload)
            job = await repository.update_job(
                session,
                committed.import_id,
                where_status=("committing",),
                status="completed",
                accepted=committed.accepted,
                duplicates=committed.duplicates,
                finished_at=func.now(),
            )
            if job is not None:
                events.append(jobs.completed(job))
        await outbox.put_many(session, events)

    async def import_reverted(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            if delivery.duplicate:
                continue
            reverted = trades_contract.ImportReverted.model_validate(delivery.envelope.payload)
            job = await repository.update_job(
                session, reverted.import_id, where_status=("reverting",), status="reverted", finished_at=func.now()
            )
            if job is not None:
                payload = contract.ImportReverted(import_id=job["id"], removed=reverted.removed)
                events.append(
                    jobs.event(
                        job,
                        contract.IMPORT_REVERTED,
                        payload.model_dump(mode="json"),
                        message_id=derived_id(job["id"], contract.IMPORT_REVERTED),
                    )
                )
        await outbox.put_many(session, events)

    async def trades_rejected(session: AsyncSession, deliveries: list[Delivery]) -> None:
        """Trades refused a command of an import (its account is not the user's, the commit
        found batches missing, ...): the import fails and trades drops what it staged."""
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            if delivery.duplicate or delivery.envelope.correlation_id is None:
                continue
            job = await repository.job(session, delivery.envelope.correlation_id, lock=True)
            if job is None or job["user_id"] != delivery.envelope.user_id:
                continue  # a rejection of some other command
            rejected = trades_contract.CommandRejected.model_validate(delivery.envelope.payload)
            if job["status"] == "reverting":
                back = await repository.update_job(
                    session, job["id"], status="completed", error_code=rejected.error, error_detail=rejected.detail
                )
                assert back is not None
                events.append(jobs.progressed(back))
                continue
            if job["status"] not in ("queued", "parsing", "staging", "committing"):
                continue
            worker_done = job["status"] == "committing" or job["batches_sent"] is not None
            failed = await repository.update_job(
                session,
                job["id"],
                status="failed",
                error_code=rejected.error,
                error_detail=rejected.detail,
                finished_at=func.now(),
                discarded=worker_done,
            )
            assert failed is not None
            if worker_done:
                events.append(OutboxMessage(TRADES_COMMANDS.name, jobs.discard(failed, rejected.detail)))
            events.append(jobs.failed(failed))
        await outbox.put_many(session, events)

    return _Handlers(
        {
            contract.START_IMPORT: start_import,
            contract.CANCEL_IMPORT: cancel_import,
            contract.REVERT_IMPORT: revert_import,
            contract.SAVE_COLUMN_MAPPING: save_column_mapping,
            trades_contract.IMPORT_BATCH_STAGED: batch_staged,
            trades_contract.IMPORT_COMMITTED: import_committed,
            trades_contract.IMPORT_REVERTED: import_reverted,
            trades_contract.COMMAND_REJECTED: trades_rejected,
        }
    )


def mapping_problem(mapping: dict[str, str]) -> str | None:
    """Why a column mapping cannot be used, or None (the mapped parser's own check)."""
    from tj_imports.formats.base import ImportFileError
    from tj_imports.formats.parsers.mapped import validate_mapping

    try:
        validate_mapping(mapping)
    except ImportFileError as exc:
        return exc.detail
    return None


def mapping_out(row: Row) -> contract.ColumnMappingOut:
    return contract.ColumnMappingOut(
        id=row["id"],
        signature=row["signature"],
        headers=row["headers"],
        mapping=row["mapping"],
        timezone=row["timezone"],
        name=row["name"],
        updated_at=row["updated_at"],
    )


def make_dead_letter_hooks(outbox: Outbox) -> dict[str, DeadLetterHook]:
    """What the imports service records when a command is dead-lettered."""

    async def start_import_failed(session: AsyncSession, envelope: Envelope, reason: str) -> None:
        """A StartImport that kept failing: the gateway already answered 202 with its import id,
        so the import is recorded as failed (``NotStarted``, the reason in the detail) and
        ``ImportFailed`` published, instead of the id answering 404 for ever. Read leniently: the
        payload may be what failed."""
        payload = envelope.payload if isinstance(envelope.payload, dict) else {}
        try:
            import_id = uuid.UUID(str(payload.get("import_id")))
            account_id = uuid.UUID(str(payload.get("account_id")))
        except ValueError:
            return  # no import the trader could know of
        if envelope.user_id is None or await repository.job(session, import_id) is not None:
            return
        size = payload.get("size")
        file_name = payload.get("file_name")
        job = await repository.insert_job(
            session,
            {
                "id": import_id,
                "user_id": envelope.user_id,
                "account_id": account_id,
                "status": "failed",
                "object_key": str(payload.get("object_key") or "")[:512],
                "file_name": file_name[:255] if isinstance(file_name, str) else None,
                "size": size if isinstance(size, int) and size >= 0 else 0,
                "sha256": str(payload.get("sha256") or "")[:64],
                "error_code": "NotStarted",
                "error_detail": f"the import could not be started: {reason}"[:2000],
                "finished_at": func.now(),
            },
        )
        if job is not None:
            await outbox.put_many(session, [jobs.failed(job)])

    return {contract.START_IMPORT: start_import_failed}
