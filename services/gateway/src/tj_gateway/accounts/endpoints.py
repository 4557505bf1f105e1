"""Broker accounts: writes publish ``trades.CreateAccount`` / ``UpdateAccount`` / ``DeleteAccount``
(201 / 200 / 204 once trades confirms, 202 with a status URL otherwise); ``GET`` reads through
the trades service."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tj_common.contracts import trades as contract
from tj_common.envelope import Envelope
from tj_gateway.commands import COMMAND_RESPONSES, send_trades_command
from tj_gateway.executions.endpoints import IdempotencyKey, accepted, command_outcome
from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.identity.limits import accounts_quota
from tj_gateway.queries import QueryClient

router = APIRouter(prefix="/api/v1", tags=["accounts"])

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMAND_RESPONSES,
    404: {"description": "No such account of yours"},
    409: {"description": "The name is taken, or the account cannot be changed that way"},
    422: {"description": "Invalid field (currency, time zone, brokerage plan)"},
}
PLAN_LIMIT: dict[int | str, dict[str, Any]] = {
    402: {"description": "PlanLimitReached: your plan's max_accounts (the Default account is not counted)"}
}


class CreateAccountIn(contract.CreateAccount):
    model_config = {
        "json_schema_extra": {
            "examples": [{"name": "Zerodha equity", "broker": "zerodha", "base_currency": "INR", "long_only": True}]
        }
    }


class AccountChangesIn(contract.AccountChanges):
    model_config = {
        "json_schema_extra": {
            "examples": [{"name": "Zerodha F&O", "brokerage_plan": "zerodha", "starting_balance": "250000.00"}]
        }
    }


def _account(command_id: uuid.UUID, event: Envelope, status: int) -> JSONResponse:
    command_outcome(command_id, event)  # raises the rejection, if it is one
    return JSONResponse(event.payload["account"], status_code=status)


@router.get("/accounts", summary="Your broker accounts")
async def list_accounts(request: Request, user: CurrentUser) -> dict[str, Any]:
    client: QueryClient = request.app.state.trades_queries
    return await client.get("/internal/accounts", {"user_id": str(user.user_id)})


@router.post(
    "/accounts",
    status_code=201,
    summary="Create a broker account",
    responses={201: {"description": "Created: the account"}, **PLAN_LIMIT, **WRITE_RESPONSES},
)
async def create_account(
    body: CreateAccountIn, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    async with accounts_quota(request, user.user_id, idempotency_key) as write:
        command_id, event = await send_trades_command(
            request, user.user_id, contract.CREATE_ACCOUNT, body.model_dump(mode="json"), idempotency_key
        )
        write.sent(command_id, event)
    if event is None:
        return accepted(command_id)
    return _account(command_id, event, 201)


@router.patch(
    "/accounts/{account_id}",
    summary="Change an account (fields left out keep their value)",
    responses={200: {"description": "Updated: the account"}, **WRITE_RESPONSES},
)
async def update_account(
    account_id: uuid.UUID,
    body: AccountChangesIn,
    request: Request,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    payload = {"account_id": str(account_id), **body.model_dump(mode="json", exclude_unset=True)}
    command_id, event = await send_trades_command(
        request, user.user_id, contract.UPDATE_ACCOUNT, payload, idempotency_key
    )
    if event is None:
        return accepted(command_id)
    return _account(command_id, event, 200)


@router.delete(
    "/accounts/{account_id}",
    status_code=204,
    summary="Delete an account that has no executions",
    responses={204: {"description": "Deleted"}, **WRITE_RESPONSES},
)
async def delete_account(
    account_id: uuid.UUID, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> Response:
    command_id, event = await send_trades_command(
        request, user.user_id, contract.DELETE_ACCOUNT, {"account_id": str(account_id)}, idempotency_key
    )
    if event is None:
        return accepted(command_id)
    command_outcome(command_id, event)
    return Response(status_code=204)
