"""The trades service's internal query API (DESIGN §2): reads for the gateway, scoped by user.
Not exposed publicly; the gateway adds authentication, tenancy and caching."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, select

from tj_common.contracts import trades as contract
from tj_common.errors import BadRequest, NotFound
from tj_common.runtime import Runtime
from tj_trades import edit_handlers, models, repository, tradebook
from tj_trades.domain.roundtrips import RoundTrip
from tj_trades.models import metadata

processed_messages = metadata.tables["trades.processed_messages"]

router = APIRouter(prefix="/internal", tags=["internal"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def encode_cursor(position: str, item_id: str) -> str:
    """A keyset cursor: the (sort value, id) of the last item of a page."""
    return base64.urlsafe_b64encode(f"{position}|{item_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        position, ident = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        return position, str(uuid.UUID(ident))
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
    after = None
    if cursor:
        position, ident = decode_cursor(cursor)
        try:
            after = (datetime.fromisoformat(position), uuid.UUID(ident))
        except ValueError as exc:
            raise BadRequest("invalid cursor") from exc
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
    next_cursor = encode_cursor(rows[-1]["executed_at"].isoformat(), str(rows[-1]["id"])) if more and rows else None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/accounts")
async def list_accounts(request: Request, user_id: uuid.UUID) -> dict[str, Any]:
    async with _runtime(request).sessionmaker() as session:
        rows = await repository.list_accounts(session, user_id)
    return {"items": [contract.AccountOut.model_validate(r).model_dump(mode="json") for r in rows]}


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
    if processed.outcome == "applied":  # an account command: its result is the account's current state
        return {"id": str(command_id), "status": "completed"}
    if processed.outcome == "rejected":
        return {"id": str(command_id), "status": "rejected", "error": processed.error}
    if processed.outcome == "dead_lettered":
        return {"id": str(command_id), "status": "failed", "error": processed.error}
    raise NotFound("command not found")


Annotations = dict[uuid.UUID, dict[str, Any]]


async def book_of(
    request: Request, user_id: uuid.UUID, account_id: uuid.UUID | None, symbol: str | None
) -> tuple[tradebook.Book, Annotations, dict[uuid.UUID, dict[str, Any]]]:
    """The user's round trips with their charges, the annotations by trade id, and the settings
    of the user's accounts."""
    async with _runtime(request).sessionmaker() as session:
        rows = await repository.executions_for_trades(session, user_id, account_id=account_id, symbol=symbol)
        accounts = await repository.account_settings(session, user_id)
        annotations = await repository.annotations_of(session, user_id)
    return tradebook.book(rows, accounts), annotations, accounts


async def round_trips_of(
    request: Request, user_id: uuid.UUID, account_id: uuid.UUID | None, symbol: str | None
) -> tuple[
    list[RoundTrip], dict[uuid.UUID, tradebook.TradeChargesSource], Annotations, dict[uuid.UUID, dict[str, Any]]
]:
    """The user's round trips, each one's charges source, the annotations by trade id, and the
    settings of the user's accounts."""
    book, annotations, accounts = await book_of(request, user_id, account_id, symbol)
    return book.trades, book.sources, annotations, accounts


@router.get("/trades")
async def list_trades(
    request: Request,
    user_id: uuid.UUID,
    account_id: uuid.UUID | None = None,
    symbol: str | None = None,
    status: Literal["open", "closed", "unmatched"] | None = None,
    side: Literal["long", "short"] | None = None,
    tag: str | None = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Round trips, newest opened first, keyset-paginated on (opened_at, id)."""
    since, until = utc(since), utc(until)
    book, annotations, _ = await book_of(request, user_id, account_id, symbol)
    selected = [
        t
        for t in book.trades
        if tradebook.has_tag(annotations.get(t.id), tag)
        and (status is None or t.status == status)
        and (side is None or t.side == side)
        and (since is None or t.opened_at >= since)
        and (until is None or t.opened_at < until)
    ]
    items = sorted(
        (tradebook.trade_json(t, book.sources[t.id], annotations.get(t.id), charges=book) for t in selected),
        key=lambda j: (j["opened_at"], j["id"]),
    )
    items.reverse()
    if cursor:
        at, last = decode_cursor(cursor)
        items = [j for j in items if (j["opened_at"], j["id"]) < (at, last)]
    page = items[:limit]
    more = len(items) > limit
    return {"items": page, "next_cursor": encode_cursor(page[-1]["opened_at"], page[-1]["id"]) if more else None}


@router.get("/trades/{trade_id}")
async def get_trade(request: Request, trade_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any]:
    book, annotations, _ = await book_of(request, user_id, None, None)
    for trade in book.trades:
        if trade.id == trade_id:
            body = tradebook.trade_json(
                trade, book.sources[trade.id], annotations.get(trade.id), legs=True, charges=book
            )
            async with _runtime(request).sessionmaker() as session:
                body["attachments"] = await edit_handlers.attachments_of(session, user_id, trade_id)
            return body
    raise NotFound("trade not found")


@router.get("/attachments/{attachment_id}")
async def get_attachment(request: Request, attachment_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any]:
    async with _runtime(request).sessionmaker() as session:
        found = await edit_handlers.attachment(session, user_id, attachment_id)
    if found is None:
        raise NotFound("attachment not found")
    return contract.AttachmentOut.model_validate(found).model_dump(mode="json")


@router.get("/journal/{day}")
async def get_journal_entry(request: Request, day: date, user_id: uuid.UUID) -> dict[str, Any]:
    async with _runtime(request).sessionmaker() as session:
        entry = await edit_handlers.journal_entry(session, user_id, day)
    if entry is None:
        raise NotFound(f"no journal entry for {day.isoformat()}")
    return entry.model_dump(mode="json")


def utc(value: datetime | None) -> datetime | None:
    """A time without an offset is read as UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.get("/usage")
async def usage(
    request: Request,
    user_id: uuid.UUID,
    executions_since: datetime | None = None,
    executions_cap: Annotated[int, Query(ge=0, le=10_000_000)] = 1_000_000,
) -> dict[str, Any]:
    """What the gateway's plan limits count: the user's visible executions recorded since
    ``executions_since`` (counted up to ``executions_cap``; null without it) and the bytes of
    their attachments (a pending one at its declared size)."""
    recorded: int | None = None
    async with _runtime(request).sessionmaker() as session:
        if executions_since is not None:
            # Per account: ix_executions_account (account_id, recorded_at) reads only this month.
            mine = select(models.accounts.c.id).where(models.accounts.c.user_id == user_id)
            capped = (
                select(models.executions.c.id)
                .where(
                    models.executions.c.account_id.in_(mine),
                    models.executions.c.user_id == user_id,
                    models.executions.c.recorded_at >= utc(executions_since),
                    repository.visible(user_id),
                )
                .limit(executions_cap)
                .subquery()
            )
            recorded = int((await session.execute(select(func.count()).select_from(capped))).scalar_one())
        stored = select(func.coalesce(func.sum(models.trade_attachments.c.size), 0)).where(
            models.trade_attachments.c.user_id == user_id
        )
        attachment_bytes = int((await session.execute(stored)).scalar_one())
    return {"executions_recorded": recorded, "attachment_bytes": attachment_bytes}
