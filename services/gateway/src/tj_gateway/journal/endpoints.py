"""The trader's daily journal: one markdown entry per day. ``PUT`` is the command
``trades.PutJournalEntry``; ``GET`` reads through the trades service."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tj_common.contracts import trades as contract
from tj_gateway.commands import COMMAND_RESPONSES, send_trades_command
from tj_gateway.executions.endpoints import IdempotencyKey, accepted, command_outcome
from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.queries import QueryClient

# Included by the trades router (prefix /api/v1).
router = APIRouter(tags=["journal"])


class JournalEntryBody(contract.JournalEntryIn):
    model_config = {"json_schema_extra": {"examples": [{"body": "Followed the plan. **No** revenge trades."}]}}


@router.get("/journal/{day}", summary="The day's journal entry (404 when none is written)")
async def get_entry(day: date, request: Request, user: CurrentUser) -> dict[str, Any]:
    client: QueryClient = request.app.state.trades_queries
    return await client.get(f"/internal/journal/{day.isoformat()}", {"user_id": str(user.user_id)})


@router.put(
    "/journal/{day}",
    summary="Write the day's journal entry (markdown; replaces the day's entry)",
    responses={
        200: {"description": "Saved: the entry"},
        422: {"description": "Invalid date or too long"},
        **COMMAND_RESPONSES,
    },
)
async def put_entry(
    day: date, body: JournalEntryBody, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    payload = {"day": day.isoformat(), "body": body.body}
    command_id, event = await send_trades_command(
        request, user.user_id, contract.PUT_JOURNAL_ENTRY, payload, idempotency_key
    )
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)
    saved = contract.JournalEntrySaved.model_validate(event.payload)
    return JSONResponse(saved.entry.model_dump(mode="json"), status_code=200)
