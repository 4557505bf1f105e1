"""``/api/v1/billing``: plans, subscribing, checkout verification, the current subscription,
cancelling, payments and invoices. Writes travel as ``billing.commands`` through the command bus
(the gateway waits for billing's reply); reads go to billing's internal query API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from tj_common.contracts import billing as contract
from tj_common.envelope import Envelope, command_id_for
from tj_common.errors import AppError
from tj_common.settings import ServiceSettings
from tj_common.topics import BILLING_COMMANDS, BILLING_EVENTS
from tj_gateway.billing.webhooks import router as webhooks_router
from tj_gateway.commands import COMMAND_RESPONSES, CommandBus
from tj_gateway.executions.endpoints import IdempotencyKey
from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.queries import QueryClient

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMAND_RESPONSES,
    502: {"description": "Razorpay refused the request (PaymentProviderError)"},
    503: {"description": "Razorpay or the message broker is unreachable; nothing changed. Retry shortly."},
}


def install_billing(app: FastAPI, commands: CommandBus, http: Any, settings: ServiceSettings) -> None:
    """Mounts the billing routes and the webhook intake, and lets the command bus hear billing's
    replies (called from the gateway's ``create_app`` before the bus starts)."""
    if BILLING_EVENTS.name not in commands.reply_topics:
        commands.reply_topics.append(BILLING_EVENTS.name)
    app.include_router(router)
    app.include_router(webhooks_router)
    app.state.billing_queries = QueryClient(http, settings.billing_query_url, "billing")


def _queries(request: Request) -> QueryClient:
    client: QueryClient = request.app.state.billing_queries
    return client


def reply_deadline(settings: ServiceSettings) -> float:
    """Long enough for billing to try Razorpay every time it may (timeouts and backoff)."""
    attempts = max(1, settings.razorpay_max_attempts)
    backoff = sum(settings.razorpay_retry_backoff * 2**i for i in range(attempts - 1))
    return float(max(settings.command_reply_timeout, settings.razorpay_timeout * attempts + backoff + 2.0))


async def send_billing_command(
    request: Request, user_id: uuid.UUID, type_: str, payload: dict[str, Any], idempotency_key: str | None
) -> tuple[uuid.UUID, Envelope | None]:
    command_id = command_id_for(user_id, idempotency_key)
    command = Envelope(id=command_id, type=type_, user_id=user_id, correlation_id=command_id, payload=payload)
    bus: CommandBus = request.app.state.commands
    settings: ServiceSettings = request.app.state.runtime.settings
    return command_id, await bus.send(BILLING_COMMANDS.name, command, wait=reply_deadline(settings))


def outcome(command_id: uuid.UUID, event: Envelope | None, status: int) -> JSONResponse:
    if event is None:
        # Still running (Razorpay slow): the subscription endpoint shows the result when it lands.
        return JSONResponse(
            {"id": str(command_id), "status": "pending", "status_url": "/api/v1/billing/subscription"},
            status_code=202,
            headers={"Location": "/api/v1/billing/subscription", "Retry-After": "2"},
        )
    if event.type == contract.COMMAND_REJECTED:
        rejected = contract.CommandRejected.model_validate(event.payload)
        error = AppError(rejected.detail, code=rejected.error)
        error.status_code = rejected.status
        if rejected.status == 503:
            error.headers = {"Retry-After": "30"}
        raise error
    return JSONResponse(event.payload, status_code=status)


@router.get("/plans", summary="Plans, prices in INR and what each allows")
async def list_plans(request: Request) -> dict[str, Any]:
    return await _queries(request).get("/internal/plans", {})


class SubscribeIn(contract.CreateSubscription):
    model_config = {"json_schema_extra": {"examples": [{"plan_id": "pro_monthly"}]}}


@router.post(
    "/subscriptions",
    status_code=201,
    summary="Subscribe to a paid plan: creates the Razorpay subscription; returns what Checkout needs",
    responses={
        201: {"description": "Created: subscription id, key id and short URL for Checkout"},
        404: {"description": "No such paid plan"},
        409: {"description": "You already have a live subscription"},
        **WRITE_RESPONSES,
    },
)
async def subscribe(
    body: SubscribeIn, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    command_id, event = await send_billing_command(
        request, user.user_id, contract.CREATE_SUBSCRIPTION, body.model_dump(mode="json"), idempotency_key
    )
    return outcome(command_id, event, 201)


class VerifyCheckoutIn(contract.VerifyCheckout):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "razorpay_payment_id": "pay_NJmFjqQxMvZzWb",
                    "razorpay_subscription_id": "sub_NJmF2zTg5nCqUd",
                    "razorpay_signature": "9ef4dffbfd84f1318f6739a3ce19f9d85851857ae648f114332d8401e0949a3d",
                }
            ]
        }
    }


class CancelIn(contract.CancelSubscription):
    model_config = {"json_schema_extra": {"examples": [{"at_cycle_end": True}, {"at_cycle_end": False}]}}


@router.post(
    "/subscriptions/verify",
    summary="Check Checkout's payment signature (payment_id|subscription_id, HMAC-SHA256 with the key secret)",
    responses={
        200: {"description": "Verified: the subscription"},
        400: {"description": "The signature does not match (InvalidSignature)"},
        404: {"description": "No such subscription of yours"},
        **COMMAND_RESPONSES,
    },
)
async def verify_checkout(
    body: VerifyCheckoutIn, request: Request, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    command_id, event = await send_billing_command(
        request, user.user_id, contract.VERIFY_CHECKOUT, body.model_dump(mode="json"), idempotency_key
    )
    return outcome(command_id, event, 200)


@router.get("/subscription", summary="Your current subscription and the plan it gives you now")
async def current_subscription(request: Request, user: CurrentUser) -> dict[str, Any]:
    return await _queries(request).get("/internal/subscription", {"user_id": str(user.user_id)})


@router.post(
    "/subscription/cancel",
    summary="Cancel your subscription; by default at the end of the paid period (access stays until then)",
    responses={
        200: {"description": "Cancelled (or scheduled to end with the period): the subscription"},
        404: {"description": "You have no subscription to cancel"},
        **WRITE_RESPONSES,
    },
)
async def cancel(
    request: Request,
    user: CurrentUser,
    body: Annotated[CancelIn | None, Body(description="Optional; without it, at the end of the paid period")] = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    payload = (body or CancelIn()).model_dump(mode="json")
    command_id, event = await send_billing_command(
        request, user.user_id, contract.CANCEL_SUBSCRIPTION, payload, idempotency_key
    )
    return outcome(command_id, event, 200)


@router.get("/payments", summary="Your payments, newest first")
async def list_payments(
    request: Request,
    user: CurrentUser,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    params = {"user_id": str(user.user_id), "cursor": cursor, "limit": limit}
    return await _queries(request).get("/internal/payments", params)


@router.get("/invoices", summary="Your invoices, newest first")
async def list_invoices(
    request: Request,
    user: CurrentUser,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    params = {"user_id": str(user.user_id), "cursor": cursor, "limit": limit}
    return await _queries(request).get("/internal/invoices", params)
