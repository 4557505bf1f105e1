"""The import worker: takes queued jobs, streams each file from S3 to a temporary file, detects
its format, parses it (row by row, or ordinary rows a block at a time), and hands the rows to
trades in staged batches.

No transaction spans the file: each chunk of rows ends in a short transaction that records the
counts, the row errors and a progress event, beats the job's heartbeat and notices a cancel.
Batches go straight to ``trades.commands`` with the service's producer under ids derived from
the import id, so a batch sent twice is staged once. Once the file is read, the last batch
answer from trades (or this worker, whichever comes last) commits the import.

Crash safety: a job whose worker stops beating (the process died) is failed by any replica's
sweep, and trades is told to drop what was staged; staged rows are invisible until the commit,
so half an import is never seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func

from tj_common.envelope import Envelope
from tj_common.kafka import cancel_task
from tj_common.outbox import OutboxMessage
from tj_common.runtime import Runtime
from tj_common.topics import TRADES_COMMANDS
from tj_imports import handlers, jobs, repository
from tj_imports.formats import registry
from tj_imports.formats.base import FormatParser, ImportFileError, ParseOptions, Source, StreamItem, UnknownFormat
from tj_imports.models import import_jobs
from tj_imports.repository import Row
from tj_imports.staging import Batcher

log = logging.getLogger(__name__)

CHUNK_ROWS = 5_000  # rows between progress updates (the issue asks for at least every 5,000)
PROGRESS_SECONDS = 1.0
MAX_IN_FLIGHT = 8  # staged batches sent and not yet acknowledged by Kafka (~5 MB)
SWEEP_SECONDS = 5.0
MAPPED_FORMAT = "mapped"  # the generic parser that reads a file through a saved column mapping


def _lap(timings: dict[str, float], phase: str, since: float) -> float:
    now = time.monotonic()
    timings[phase] += now - since
    return now


class Stopped(Exception):
    """The job was cancelled or failed elsewhere while this worker read it."""


class ImportWorker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.worker_id = f"{runtime.settings.instance_id}-{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        settings = runtime.settings
        self.stall_seconds = float(getattr(settings, "import_stall_seconds", 60.0))
        self.concurrency = int(getattr(settings, "import_concurrency", 2))

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="import-worker")

    async def stop(self) -> None:
        await cancel_task(self._task)
        for task in list(self._running):
            await cancel_task(task)

    async def _run(self) -> None:
        next_sweep = 0.0
        while True:
            try:
                now = time.monotonic()
                if now >= next_sweep:
                    await self.recover_stalled()
                    next_sweep = now + SWEEP_SECONDS
                while len(self._running) < self.concurrency:
                    job = await self._claim()
                    if job is None:
                        break
                    task = asyncio.create_task(self.run_job(job), name=f"import-{job['id']}")
                    self._running.add(task)
                    task.add_done_callback(self._done)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("import worker loop failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.5)
            self._wake.clear()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    async def _claim(self) -> Row | None:
        async with self.runtime.sessionmaker() as session, session.begin():
            return await repository.claim_queued(session, self.worker_id)

    async def recover_stalled(self) -> int:
        """Fail the jobs of dead workers and have trades drop what they staged."""
        older_than = datetime.now(UTC) - timedelta(seconds=self.stall_seconds)
        async with self.runtime.sessionmaker() as session, session.begin():
            stalled = await repository.stalled_jobs(session, older_than)
            messages = []
            for job in stalled:
                if job["status"] in ("parsing", "staging"):
                    ended = await repository.update_job(
                        session,
                        job["id"],
                        status="failed",
                        error_code="Interrupted",
                        error_detail="the import was interrupted (the service restarted); nothing was imported, "
                        "upload the file again",
                        finished_at=func.now(),
                        discarded=True,
                    )
                    assert ended is not None
                    messages.append(jobs.failed(ended))
                else:
                    ended = await repository.update_job(session, job["id"], discarded=True)
                    assert ended is not None
                messages.append(OutboxMessage(TRADES_COMMANDS.name, jobs.discard(ended, "interrupted")))
                log.warning("import recovered from a dead worker", extra={"fields": {"import_id": str(job["id"])}})
            await self.runtime.outbox.put_many(session, messages)
        if stalled:
            self.runtime.relay.notify()
        return len(stalled)

    # -- one import ---------------------------------------------------------------------------
    async def run_job(self, job: Row) -> None:
        published = 0
        with tempfile.TemporaryDirectory(prefix="tj-import-") as folder:
            path = Path(folder) / "upload"
            began = time.monotonic()
            try:
                await asyncio.to_thread(
                    self.runtime.s3.download_file, self.runtime.settings.s3_bucket, job["object_key"], str(path)
                )
                parser, results = await self._open(job, path)
                job = await self._update(
                    job,
                    status="staging",
                    format=parser.name,
                    format_label=parser.label,
                    day_level=parser.day_level,
                )
                batcher = Batcher(results)
                clock = time.monotonic()
                timings = {"download_and_detect": clock - began, "read": 0.0, "publish": 0.0, "checkpoint": 0.0}
                rows = rejected = stored_errors = 0
                in_flight: list[asyncio.Future[Any]] = []
                done = False
                day_level = parser.day_level
                while not done:
                    chunk = await asyncio.to_thread(batcher.take, CHUNK_ROWS, PROGRESS_SECONDS)
                    clock = _lap(timings, "read", clock)
                    done = chunk.done
                    # Sent without waiting for each acknowledgement (the idempotent producer
                    # keeps their order); all are confirmed before the file counts as read.
                    for batch in chunk.batches:
                        in_flight.append(await self._send(jobs.stage_batch(job, published, batch)))
                        published += 1
                    if done or len(in_flight) >= MAX_IN_FLIGHT:
                        await asyncio.gather(*in_flight)
                        in_flight.clear()
                    clock = _lap(timings, "publish", clock)
                    rows += chunk.rows
                    rejected += len(chunk.errors)
                    keep = chunk.errors[: max(handlers.MAX_STORED_ERRORS - stored_errors, 0)]
                    stored_errors += len(keep)
                    changes: dict[str, Any] = {
                        "rows": import_jobs.c.rows + chunk.rows,
                        "rejected": import_jobs.c.rejected + len(chunk.errors),
                    }
                    if chunk.day_level and not day_level:
                        day_level = True
                        changes["day_level"] = True
                    if done:
                        changes["batches_sent"] = published
                        changes["bytes_read"] = job["size"]
                    # A chunk is at most CHUNK_ROWS rows and about a second of parsing: each
                    # ends in a progress event.
                    job = await self._checkpoint(job, changes, keep)
                    clock = _lap(timings, "checkpoint", clock)
                log.info(
                    "import read",
                    extra={
                        "fields": {
                            "import_id": str(job["id"]),
                            "rows": rows,
                            "batches": published,
                            "rejected": rejected,
                            "seconds": {k: round(v, 2) for k, v in timings.items()},
                        }
                    },
                )
            except Stopped:
                await self._discard(job, "cancelled", published)
            except ImportFileError as exc:
                await self._fail(job, exc.code, exc.detail, published)
            except asyncio.CancelledError:
                raise  # shutting down: the sweep of a live replica (or this one, restarted) fails it
            except Exception as exc:
                log.exception("import failed", extra={"fields": {"import_id": str(job["id"])}})
                detail = f"the import failed unexpectedly ({type(exc).__name__})"
                await self._fail(job, "InternalError", detail, published)

    async def _open(self, job: Row, path: Path) -> tuple[FormatParser, Iterator[StreamItem]]:
        options = ParseOptions(timezone=job["timezone"])
        try:
            return await asyncio.to_thread(registry.stream_file, path, options, job["requested_format"])
        except UnknownFormat as exc:
            if job["requested_format"]:
                raise
            mapping = await self._saved_mapping(job, path, exc)
            if mapping is None:
                raise
            options = ParseOptions(timezone=mapping["timezone"] or job["timezone"], mapping=mapping["mapping"])
            return await asyncio.to_thread(registry.stream_file, path, options, MAPPED_FORMAT)

    async def _saved_mapping(self, job: Row, path: Path, exc: UnknownFormat) -> Row | None:
        """The user's saved mapping for this file's header, if any."""
        if MAPPED_FORMAT not in registry.all_parsers():
            return None
        from tj_imports.formats.parsers.mapped import header_signature

        source = await asyncio.to_thread(Source.open, path)
        signature = header_signature(source)
        async with self.runtime.sessionmaker() as session:
            return await repository.mapping_for(session, job["user_id"], signature)

    async def _send(self, envelope: Envelope) -> asyncio.Future[Any]:
        """Hands the command to the producer; the future resolves when Kafka acknowledged it."""
        return await self.runtime.broker.publish(
            envelope.encode(),
            topic=TRADES_COMMANDS.name,
            key=envelope.key(),
            headers={"message-type": envelope.type, "message-id": str(envelope.id)},
            correlation_id=str(envelope.id),
            no_confirm=True,
        )

    async def _publish(self, envelope: Envelope) -> None:
        await (await self._send(envelope))

    async def _update(self, job: Row, **values: Any) -> Row:
        async with self.runtime.sessionmaker() as session, session.begin():
            updated = await repository.update_job(
                session, job["id"], where_status=("parsing", "staging"), heartbeat_at=func.now(), **values
            )
            if updated is None:
                raise Stopped
            await self.runtime.outbox.put_many(session, [jobs.progressed(updated)])
        self.runtime.relay.notify()
        return updated

    async def _checkpoint(self, job: Row, changes: dict[str, Any], errors: list[Any]) -> Row:
        async with self.runtime.sessionmaker() as session, session.begin():
            updated = await repository.update_job(
                session, job["id"], where_status=("staging",), heartbeat_at=func.now(), **changes
            )
            if updated is None:
                raise Stopped
            await repository.insert_row_errors(session, job["id"], errors)
            events: list[OutboxMessage] = []
            if updated["batches_sent"] is not None:
                updated = await handlers.advance(session, updated, events)
            if updated["status"] == "staging":
                events.append(jobs.progressed(updated))
            await self.runtime.outbox.put_many(session, events)
        self.runtime.relay.notify()
        return updated

    async def _fail(self, job: Row, code: str, detail: str, published: int) -> None:
        async with self.runtime.sessionmaker() as session, session.begin():
            failed = await repository.update_job(
                session,
                job["id"],
                where_status=("parsing", "staging"),
                status="failed",
                error_code=code,
                error_detail=detail[:2000],
                finished_at=func.now(),
            )
            if failed is not None:
                await self.runtime.outbox.put_many(session, [jobs.failed(failed)])
        self.runtime.relay.notify()
        await self._discard(job, f"{code}: {detail}", published)

    async def _discard(self, job: Row, reason: str, published: int) -> None:
        """Trades drops what this import staged; sent by the producer that sent the batches, so
        it reaches trades after the last of them."""
        if published:
            await self._publish(jobs.discard(job, reason))
        async with self.runtime.sessionmaker() as session, session.begin():
            await repository.update_job(session, job["id"], discarded=True)
