"""Import jobs as the API shows them, and the messages an import sends: its events on
``imports.events`` and its commands to trades (``trades.commands``)."""

from __future__ import annotations

import uuid
from typing import Any

from tj_common.contracts import imports as contract
from tj_common.contracts import trades as trades_contract
from tj_common.envelope import Envelope, derived_id
from tj_common.outbox import OutboxMessage
from tj_common.topics import IMPORTS_EVENTS, TRADES_COMMANDS
from tj_imports.repository import Row

DAY_LEVEL_NOTE = (
    "this file gives only the trade date, not the time of each fill: its executions are imported "
    "at the day level (their time is the start of the trade date in the broker's time zone)"
)


def counts(job: Row) -> contract.Counts:
    return contract.Counts(
        rows=job["rows"],
        staged=job["staged"],
        accepted=job["accepted"],
        duplicates=job["duplicates"],
        rejected=job["rejected"],
    )


def view(job: Row) -> dict[str, Any]:
    """One import as the public API answers it."""
    error = None
    if job["error_code"]:
        error = {"code": job["error_code"], "detail": job["error_detail"]}
    return {
        "id": str(job["id"]),
        "account_id": str(job["account_id"]),
        "status": job["status"],
        "file_name": job["file_name"],
        "size": job["size"],
        "sha256": job["sha256"],
        "format": job["format"],
        "format_label": job["format_label"],
        "day_level": job["day_level"],
        "note": DAY_LEVEL_NOTE if job["day_level"] else None,
        "duplicate_of": str(job["duplicate_of"]) if job["duplicate_of"] else None,
        "counts": counts(job).model_dump(),
        "error": error,
        "created_at": job["created_at"].isoformat(),
        "updated_at": job["updated_at"].isoformat(),
        "finished_at": job["finished_at"].isoformat() if job["finished_at"] else None,
    }


def event(
    job: Row, type_: str, payload: dict[str, Any], *, message_id: uuid.UUID | None = None, cause: Envelope | None = None
) -> OutboxMessage:
    envelope = Envelope(
        id=message_id or uuid.uuid4(),
        type=type_,
        user_id=job["user_id"],
        correlation_id=job["id"],
        causation_id=cause.id if cause is not None else None,
        payload=payload,
    )
    return OutboxMessage(IMPORTS_EVENTS.name, envelope)


def progressed(job: Row) -> OutboxMessage:
    payload = contract.ImportProgressed(
        import_id=job["id"],
        status=job["status"],
        format=job["format"],
        counts=counts(job),
        bytes_read=job["bytes_read"],
        size=job["size"],
    )
    return event(job, contract.IMPORT_PROGRESSED, payload.model_dump(mode="json"))


def completed(job: Row) -> OutboxMessage:
    payload = contract.ImportCompleted(
        import_id=job["id"],
        account_id=job["account_id"],
        format=job["format"],
        counts=counts(job),
        duplicate_of=job["duplicate_of"],
    )
    return event(
        job,
        contract.IMPORT_COMPLETED,
        payload.model_dump(mode="json"),
        message_id=derived_id(job["id"], contract.IMPORT_COMPLETED),
    )


def failed(job: Row) -> OutboxMessage:
    payload = contract.ImportFailed(
        import_id=job["id"],
        status=job["status"],
        error=job["error_code"] or "ImportFailed",
        detail=job["error_detail"] or "",
    )
    return event(
        job,
        contract.IMPORT_FAILED,
        payload.model_dump(mode="json"),
        message_id=derived_id(job["id"], contract.IMPORT_FAILED),
    )


def trades_command(job: Row, type_: str, payload: dict[str, Any], message_id: uuid.UUID) -> Envelope:
    """A command to trades about this import; trades' answers carry the import id as their
    correlation id, which is how the imports service finds the job they are about."""
    return Envelope(id=message_id, type=type_, user_id=job["user_id"], correlation_id=job["id"], payload=payload)


def stage_batch(job: Row, batch_no: int, columns: dict[str, list[Any]]) -> Envelope:
    """A ``trades.StageImportBatch`` of rows in columnar form (staging.ColumnBatch)."""
    payload = {
        "import_id": str(job["id"]),
        "account_id": str(job["account_id"]),
        "batch_no": batch_no,
        "columns": columns,
    }
    return trades_command(job, trades_contract.STAGE_IMPORT_BATCH, payload, derived_id(job["id"], f"batch:{batch_no}"))


def commit(job: Row) -> OutboxMessage:
    payload = trades_contract.CommitImport(
        import_id=job["id"], account_id=job["account_id"], batches=job["batches_sent"]
    )
    envelope = trades_command(
        job, trades_contract.COMMIT_IMPORT, payload.model_dump(mode="json"), derived_id(job["id"], "commit")
    )
    return OutboxMessage(TRADES_COMMANDS.name, envelope)


def discard(job: Row, reason: str) -> Envelope:
    payload = trades_contract.DiscardImport(import_id=job["id"], reason=reason[:500])
    return trades_command(
        job, trades_contract.DISCARD_IMPORT, payload.model_dump(mode="json"), derived_id(job["id"], "discard")
    )


def revert(job: Row, message_id: uuid.UUID) -> OutboxMessage:
    payload = trades_contract.RevertImport(import_id=job["id"])
    envelope = trades_command(job, trades_contract.REVERT_IMPORT, payload.model_dump(mode="json"), message_id)
    return OutboxMessage(TRADES_COMMANDS.name, envelope)
