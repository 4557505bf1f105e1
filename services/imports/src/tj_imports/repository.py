"""All SQL of the imports service: import jobs, row errors, column mappings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tj_imports.formats.base import RowError
from tj_imports.models import LIVE_FILE_PREDICATE, column_mappings, import_jobs, import_row_errors

Row = dict[str, Any]
LIVE = ("queued", "parsing", "staging", "committing", "completed", "reverting")


def _row(result: Any) -> Row | None:
    found = result.mappings().first()
    return dict(found) if found is not None else None


async def job(session: AsyncSession, import_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    stmt = select(import_jobs).where(import_jobs.c.id == import_id)
    if lock:
        stmt = stmt.with_for_update()
    return _row(await session.execute(stmt))


async def job_of_user(session: AsyncSession, user_id: uuid.UUID, import_id: uuid.UUID) -> Row | None:
    stmt = select(import_jobs).where(import_jobs.c.id == import_id, import_jobs.c.user_id == user_id)
    return _row(await session.execute(stmt))


async def insert_job(session: AsyncSession, values: Row) -> Row | None:
    """Inserts a queued job; None when a live import of the same file into the same account
    exists (the partial unique index decides, so concurrent starts cannot both win)."""
    stmt = (
        pg_insert(import_jobs)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[import_jobs.c.account_id, import_jobs.c.sha256],
            # Literal, like the index's own predicate: with bound parameters PostgreSQL cannot
            # match the partial index once the prepared statement goes to a generic plan.
            index_where=text(LIVE_FILE_PREDICATE),
        )
        .returning(import_jobs)
    )
    return _row(await session.execute(stmt))


async def insert_duplicate_job(session: AsyncSession, values: Row) -> Row:
    stmt = insert(import_jobs).values(**values).returning(import_jobs)
    found = _row(await session.execute(stmt))
    assert found is not None
    return found


async def live_job_of_file(session: AsyncSession, account_id: uuid.UUID, sha256: str) -> Row | None:
    stmt = select(import_jobs).where(
        import_jobs.c.account_id == account_id,
        import_jobs.c.sha256 == sha256,
        import_jobs.c.duplicate_of.is_(None),
        import_jobs.c.status.in_(LIVE),
    )
    return _row(await session.execute(stmt))


async def update_job(
    session: AsyncSession, import_id: uuid.UUID, *, where_status: Sequence[str] | None = None, **values: Any
) -> Row | None:
    """Updates one job (optionally only in one of ``where_status``); the row after, or None."""
    stmt = update(import_jobs).where(import_jobs.c.id == import_id)
    if where_status is not None:
        stmt = stmt.where(import_jobs.c.status.in_(list(where_status)))
    stmt = stmt.values(updated_at=func.now(), **values).returning(import_jobs)
    return _row(await session.execute(stmt))


async def add_batch_results(
    session: AsyncSession, import_id: uuid.UUID, *, batches: int, staged: int, duplicates: int, rejected: int
) -> Row | None:
    stmt = (
        update(import_jobs)
        .where(import_jobs.c.id == import_id)
        .values(
            batches_acked=import_jobs.c.batches_acked + batches,
            staged=import_jobs.c.staged + staged,
            duplicates=import_jobs.c.duplicates + duplicates,
            rejected=import_jobs.c.rejected + rejected,
            updated_at=func.now(),
        )
        .returning(import_jobs)
    )
    return _row(await session.execute(stmt))


async def claim_queued(session: AsyncSession, worker: str) -> Row | None:
    """Takes the oldest queued job for this worker (replicas skip each other's locked rows)."""
    oldest = (
        select(import_jobs.c.id)
        .where(import_jobs.c.status == "queued")
        .order_by(import_jobs.c.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(import_jobs)
        .where(import_jobs.c.id == oldest)
        .values(status="parsing", worker=worker, heartbeat_at=func.now(), updated_at=func.now())
        .returning(import_jobs)
    )
    return _row(await session.execute(stmt))


async def stalled_jobs(session: AsyncSession, older_than: datetime) -> list[Row]:
    """Jobs whose worker stopped beating while it read the file: still being read, or ended
    (cancelled, failed) before the worker could tell trades to drop the staged rows. Locked,
    so one replica recovers each."""
    stmt = (
        select(import_jobs)
        .where(
            import_jobs.c.heartbeat_at < older_than,
            import_jobs.c.batches_sent.is_(None),
            import_jobs.c.discarded.is_(False),
            import_jobs.c.status.in_(("parsing", "staging", "cancelled", "failed")),
        )
        .with_for_update(skip_locked=True)
    )
    return [dict(r) for r in (await session.execute(stmt)).mappings().all()]


async def insert_row_errors(session: AsyncSession, import_id: uuid.UUID, errors: Sequence[RowError]) -> None:
    if not errors:
        return
    await session.execute(
        insert(import_row_errors),
        [
            {
                "import_id": import_id,
                "line": e.line,
                "column": (e.column or None) and e.column[:200],
                "reason": e.reason[:2000],
                "raw": None if e.raw is None else e.raw[:1000],
            }
            for e in errors
        ],
    )


async def list_jobs(
    session: AsyncSession, user_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Row]:
    stmt = select(import_jobs).where(import_jobs.c.user_id == user_id)
    if after is not None:
        stmt = stmt.where(
            (import_jobs.c.created_at < after[0])
            | and_(import_jobs.c.created_at == after[0], import_jobs.c.id < after[1])
        )
    stmt = stmt.order_by(import_jobs.c.created_at.desc(), import_jobs.c.id.desc()).limit(limit)
    return [dict(r) for r in (await session.execute(stmt)).mappings().all()]


async def row_errors(session: AsyncSession, import_id: uuid.UUID, *, after: int | None, limit: int | None) -> list[Row]:
    stmt = select(
        import_row_errors.c.id,
        import_row_errors.c.line,
        import_row_errors.c.column,
        import_row_errors.c.reason,
        import_row_errors.c.raw,
    ).where(import_row_errors.c.import_id == import_id)
    if after is not None:
        stmt = stmt.where(import_row_errors.c.id > after)
    stmt = stmt.order_by(import_row_errors.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [dict(r) for r in (await session.execute(stmt)).mappings().all()]


async def save_mapping(session: AsyncSession, values: Row) -> Row:
    base = pg_insert(column_mappings).values(**values)
    stmt = base.on_conflict_do_update(
        index_elements=[column_mappings.c.user_id, column_mappings.c.signature],
        set_={
            "headers": base.excluded.headers,
            "mapping": base.excluded.mapping,
            "timezone": base.excluded.timezone,
            "name": base.excluded.name,
            "updated_at": func.now(),
        },
    ).returning(column_mappings)
    found = _row(await session.execute(stmt))
    assert found is not None
    return found


async def mapping_for(session: AsyncSession, user_id: uuid.UUID, signature: str) -> Row | None:
    stmt = select(column_mappings).where(column_mappings.c.user_id == user_id, column_mappings.c.signature == signature)
    return _row(await session.execute(stmt))


async def list_mappings(session: AsyncSession, user_id: uuid.UUID) -> list[Row]:
    stmt = (
        select(column_mappings)
        .where(column_mappings.c.user_id == user_id)
        .order_by(column_mappings.c.updated_at.desc())
    )
    return [dict(r) for r in (await session.execute(stmt)).mappings().all()]
