"""The imports service's internal query API (DESIGN §2): reads for the gateway, scoped by user.
Not exposed publicly; the gateway adds authentication, tenancy and the CSV rendering."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from tj_common.errors import BadRequest, NotFound
from tj_common.runtime import Runtime
from tj_imports import jobs, repository
from tj_imports.handlers import header_signature, mapping_out

router = APIRouter(prefix="/internal", tags=["internal"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _cursor(position: str, ident: str) -> str:
    return base64.urlsafe_b64encode(f"{position}|{ident}".encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> tuple[str, str]:
    try:
        position, ident = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        return position, ident
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("invalid cursor") from exc


@router.get("/imports")
async def list_imports(
    request: Request,
    user_id: uuid.UUID,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    after = None
    if cursor:
        position, ident = _uncursor(cursor)
        try:
            after = (datetime.fromisoformat(position), uuid.UUID(ident))
        except ValueError as exc:
            raise BadRequest("invalid cursor") from exc
    async with _runtime(request).sessionmaker() as session:
        rows = await repository.list_jobs(session, user_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _cursor(rows[-1]["created_at"].isoformat(), str(rows[-1]["id"])) if more and rows else None
    return {"items": [jobs.view(r) for r in rows], "next_cursor": next_cursor}


@router.get("/imports/{import_id}")
async def get_import(request: Request, import_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any]:
    async with _runtime(request).sessionmaker() as session:
        job = await repository.job_of_user(session, user_id, import_id)
    if job is None:
        raise NotFound("import not found")
    return jobs.view(job)


@router.get("/imports/{import_id}/errors")
async def import_errors(
    request: Request,
    import_id: uuid.UUID,
    user_id: uuid.UUID,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    after = None
    if cursor:
        try:
            after = int(_uncursor(cursor)[1])
        except ValueError as exc:
            raise BadRequest("invalid cursor") from exc
    async with _runtime(request).sessionmaker() as session:
        job = await repository.job_of_user(session, user_id, import_id)
        if job is None:
            raise NotFound("import not found")
        rows = await repository.row_errors(session, import_id, after=after, limit=None if limit is None else limit + 1)
    more = limit is not None and len(rows) > limit
    rows = rows[:limit]
    items = [{"line": r["line"], "column": r["column"], "reason": r["reason"], "raw": r["raw"]} for r in rows]
    next_cursor = _cursor("e", str(rows[-1]["id"])) if more and rows else None
    return {"import_id": str(import_id), "total": job["rejected"], "items": items, "next_cursor": next_cursor}


@router.get("/mappings")
async def list_mappings(request: Request, user_id: uuid.UUID) -> dict[str, Any]:
    async with _runtime(request).sessionmaker() as session:
        rows = await repository.list_mappings(session, user_id)
    return {"items": [mapping_out(r).model_dump(mode="json") for r in rows]}


@router.get("/mappings/signature")
async def signature_of(headers: Annotated[list[str], Query(max_length=200)]) -> dict[str, str]:
    """The signature a header row is saved under (the gateway shows it before saving)."""
    return {"signature": header_signature(headers)}


@router.get("/formats")
async def list_formats() -> dict[str, Any]:
    """Every format the service reads (the ``format`` an upload may name)."""
    from tj_imports.formats import registry

    return {
        "items": [
            {"name": p.name, "label": p.label, "broker": p.broker, "family": p.family, "day_level": p.day_level}
            for p in registry.all_parsers().values()
        ]
    }
