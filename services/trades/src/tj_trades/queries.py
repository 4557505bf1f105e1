"""The trades service's internal query API (DESIGN §2): reads for the gateway, scoped by user.
Not exposed publicly; the gateway adds authentication, tenancy and caching."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from tj_common.contracts import trades as contract
from tj_common.errors import BadRequest, NotFound
from tj_common.runtime import Runtime
from tj_trades import repository
from tj_trades.models import metadata

processed_messages = metadata.tables["trades.processed_messages"]

router = APIRouter(prefix="/internal", tags=["internal"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def encode_cursor(executed_at: datetime, execution_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{executed_at.isoformat()}|{execution_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, ident = raw.split("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("invalid cursor") from exc


@router.get("/executions")
async def list_executions(
    request: Request,
    user_id: uuid.UUID,
    account_id: uuid.UUID | None = None,
    symbol: str | None = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    runtime = _runtime(request)
    after = decode_cursor(cursor) if cursor else None
    async with runtime.sessionmaker() as session:
        rows = await repository.list_executions(
            session,
            user_id,
            account_id=account_id,
            symbol=symbol,
            since=since,
            until=until,
            after=after,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [contract.ExecutionOut.model_validate(r).model_dump(mode="json") for r in rows]
    next_cursor = encode_cursor(rows[-1]["executed_at"], rows[-1]["id"]) if more and rows else None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/commands/{command_id}")
async def command_status(request: Request, command_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any]:
    """What became of a command: pending (not applied yet), completed, rejected or failed."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session:
        processed = (
            await session.execute(
                select(processed_messages).where(
                    processed_messages.c.message_id == command_id, processed_messages.c.user_id == user_id
                )
            )
        ).first()
        if processed is None:
            return {"id": str(command_id), "status": "pending"}
        stored = await repository.executions_of_command(session, command_id)
    if processed.outcome == "applied" and stored:
        result = contract.ExecutionsRecorded(
            command_id=command_id,
            account_id=stored[0]["account_id"],
            executions=[contract.ExecutionOut.model_validate(r) for r in stored],
        )
        return {"id": str(command_id), "status": "completed", "result": result.model_dump(mode="json")}
    if processed.outcome == "rejected":
        return {"id": str(command_id), "status": "rejected", "error": processed.error}
    if processed.outcome == "dead_lettered":
        return {"id": str(command_id), "status": "failed", "error": processed.error}
    raise NotFound("command not found")
