"""Billing's message handlers, applied inside the consumer's transaction (state, offset, message
ids, webhook deliveries and outbox events commit together).

``billing.commands`` come from the gateway (subscribe, verify checkout, cancel) and call Razorpay
through its SDK; ``billing.webhooks`` are Razorpay's deliveries, de-duplicated on their event id
in the same transaction as their effect. Every change of a user's plan writes
``billing.EntitlementsChanged`` (key = user id) with a version that grows per user.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.context import Context
from sqlalchemy.ext.asyncio import AsyncSession

from tj_billing import repository
from tj_billing.domain import (
    LIVE,
    NO_PLAN,
    SubscriptionUpdate,
    apply_subscription_update,
    effective_plan,
    payment_moves_forward,
    subscription_rank,
)
from tj_billing.metrics import ENTITLEMENTS_CHANGED, WEBHOOKS
from tj_billing.razorpay_client import PaymentProviderError, PaymentProviderUnavailable, RazorpayApi, plan_ids
from tj_common.consumer import Delivery, Handler, PoisonMessage
from tj_common.contracts import billing as contract
from tj_common.envelope import Envelope, derived_id
from tj_common.outbox import Outbox, OutboxMessage
from tj_common.settings import ServiceSettings
from tj_common.topics import BILLING_EVENTS

log = logging.getLogger(__name__)

ENTITLEMENTS_NAMESPACE = uuid.UUID("0f4e5d2c-9b8a-4c1e-8f7d-6a5b4c3d2e1f")
# How many charges a subscription runs for (Razorpay needs a total_count): ten years.
TOTAL_COUNT = {"monthly": 120, "yearly": 10}


def utc(seconds: Any) -> datetime | None:
    """Razorpay's Unix timestamps as aware datetimes."""
    if seconds is None or seconds == "":
        return None
    return datetime.fromtimestamp(int(seconds), UTC)


def _notes(entity: dict[str, Any]) -> dict[str, Any]:
    notes = entity.get("notes")
    return notes if isinstance(notes, dict) else {}  # Razorpay sends [] for "no notes"


def _user_from_notes(entity: dict[str, Any]) -> uuid.UUID | None:
    try:
        value = _notes(entity).get("user_id")
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


class Rejected(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class Billing:
    """The handlers and what they share: settings, the outbox, Razorpay, the plan catalogue."""

    def __init__(self, settings: ServiceSettings, outbox: Outbox, razorpay: RazorpayApi) -> None:
        self.settings = settings
        self.outbox = outbox
        self.razorpay = razorpay
        self.grace = timedelta(seconds=settings.billing_grace_period)
        self.razorpay_plans = plan_ids(settings)
        self.our_plans = {v: k for k, v in self.razorpay_plans.items()}
        self._plans: dict[str, repository.Plan] | None = None
        # Razorpay subscriptions created per command id: a batch retried after a rollback must not
        # create a second one at Razorpay for the same command (bounded; newest kept).
        self._razorpay_created: OrderedDict[uuid.UUID, dict[str, Any]] = OrderedDict()

    def handlers(self) -> dict[str, Handler]:
        return {
            contract.CREATE_SUBSCRIPTION: self.create_subscription,
            contract.VERIFY_CHECKOUT: self.verify_checkout,
            contract.CANCEL_SUBSCRIPTION: self.cancel_subscription,
            contract.WEBHOOK_RECEIVED: self.webhooks,
        }

    async def plans(self, session: AsyncSession) -> dict[str, repository.Plan]:
        if self._plans is None:
            self._plans = await repository.all_plans(session)
        return self._plans

    # -- commands -------------------------------------------------------------------------------
    async def create_subscription(self, session: AsyncSession, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            events: list[OutboxMessage] = []
            user_id = _user(delivery)
            command = contract.CreateSubscription.model_validate(delivery.envelope.payload)
            existing = await repository.subscription_of_command(session, delivery.envelope.id)
            if existing is not None:  # a repeat: answer it again
                events.append(self._reply(delivery, contract.SUBSCRIPTION_CREATED, self._created(existing)))
                await self.outbox.put_many(session, events)
                continue
            try:
                row = await self._subscribe(session, delivery, user_id, command)
                events.append(self._reply(delivery, contract.SUBSCRIPTION_CREATED, self._created(row)))
            except Rejected as exc:
                events.append(self._rejection(delivery, exc.status, exc.error, exc.detail))
            await self.outbox.put_many(session, events)

    async def _subscribe(
        self, session: AsyncSession, delivery: Delivery, user_id: uuid.UUID, command: contract.CreateSubscription
    ) -> Any:
        plans = await self.plans(session)
        plan = plans.get(command.plan_id)
        if plan is None or plan.period is None:
            paid = ", ".join(p for p, v in plans.items() if v.period)
            raise Rejected(404, "NotFound", f"no paid plan {command.plan_id!r}; plans: {paid}")
        mine = await repository.subscriptions_of_user(session, user_id)
        for row in mine:
            if row.status in LIVE:
                raise Rejected(
                    409, "Conflict", f"you already have a subscription ({row.id}, {row.status}); cancel it first"
                )
        for row in mine:
            if row.status == "created" and row.plan_id == plan.id and row.command_id is not None:
                return row  # checkout was opened before and never paid: the same subscription again
        entity = self._razorpay_created.get(delivery.envelope.id)
        try:
            entity = entity or await self.razorpay.create_subscription(
                {
                    "plan_id": self.razorpay_plans[plan.id],
                    "total_count": TOTAL_COUNT.get(plan.period, 12),
                    "quantity": 1,
                    "customer_notify": 1,
                    "notes": {"user_id": str(user_id), "plan_id": plan.id, "command_id": str(delivery.envelope.id)},
                }
            )
        except (PaymentProviderUnavailable, PaymentProviderError) as exc:
            raise Rejected(exc.status, exc.error, str(exc)) from exc
        self._razorpay_created[delivery.envelope.id] = entity
        while len(self._razorpay_created) > 1000:
            self._razorpay_created.popitem(last=False)
        return await repository.insert_subscription(
            session,
            {
                "id": entity["id"],
                "user_id": user_id,
                "plan_id": plan.id,
                "status": entity.get("status") or "created",
                "short_url": entity.get("short_url"),
                "command_id": delivery.envelope.id,
                "current_start": utc(entity.get("current_start")),
                "current_end": utc(entity.get("current_end")),
            },
        )

    def _created(self, row: Any) -> dict[str, Any]:
        return contract.SubscriptionCreated(
            subscription=subscription_body(row), key_id=self.settings.razorpay_key_id, short_url=row.short_url
        ).model_dump(mode="json")

    async def verify_checkout(self, session: AsyncSession, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.VerifyCheckout.model_validate(delivery.envelope.payload)
            events: list[OutboxMessage] = []
            row = await repository.subscription(session, command.razorpay_subscription_id, lock=True)
            if row is None or row.user_id != user_id:
                events.append(self._rejection(delivery, 404, "NotFound", "no such subscription of yours"))
            elif not checkout_signature_ok(
                self.settings.razorpay_key_secret.get_secret_value(),
                command.razorpay_payment_id,
                command.razorpay_subscription_id,
                command.razorpay_signature,
            ):
                events.append(
                    self._rejection(delivery, 400, "InvalidSignature", "the checkout signature does not match")
                )
            else:
                if not delivery.duplicate:
                    await self._refresh_from_razorpay(session, row)
                    await repository.claim_payments_for(session, user_id, row.id, [command.razorpay_payment_id])
                    events.extend(await self.refresh_plans(session, [user_id], cause=delivery))
                row = await repository.subscription(session, row.id)
                body = contract.CheckoutVerified(
                    subscription=subscription_body(row), payment_id=command.razorpay_payment_id
                )
                events.append(self._reply(delivery, contract.CHECKOUT_VERIFIED, body.model_dump(mode="json")))
            await self.outbox.put_many(session, events)

    async def _refresh_from_razorpay(self, session: AsyncSession, row: Any) -> None:
        """After checkout, Razorpay's own view of the subscription (the webhooks may lag). If
        Razorpay cannot say now, the webhooks will."""
        state = repository.state_of(row)
        try:
            entity = await self.razorpay.fetch_subscription(row.id)
        except (PaymentProviderUnavailable, PaymentProviderError):
            entity = {"status": "authenticated"}
        status = entity.get("status") or "authenticated"
        if subscription_rank(status) < subscription_rank("authenticated"):
            status = "authenticated"  # a verified checkout signature means the mandate is in place
        update = self._update_from_entity(entity, status, datetime.now(UTC))
        new, _ = apply_subscription_update(state, update)
        await repository.save_state(session, row.id, new)

    async def cancel_subscription(self, session: AsyncSession, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.CancelSubscription.model_validate(delivery.envelope.payload)
            events: list[OutboxMessage] = []
            mine = await repository.subscriptions_of_user(session, user_id)
            current = next((r for r in mine if r.status in LIVE or r.status == "created"), None)
            if current is None:
                if delivery.duplicate and mine:
                    body = contract.SubscriptionCancelled(subscription=subscription_body(mine[0]))
                    events.append(self._reply(delivery, contract.SUBSCRIPTION_CANCELLED, body.model_dump(mode="json")))
                else:
                    events.append(self._rejection(delivery, 404, "NotFound", "you have no subscription to cancel"))
                await self.outbox.put_many(session, events)
                continue
            if current.cancel_at_cycle_end and command.at_cycle_end:
                body = contract.SubscriptionCancelled(subscription=subscription_body(current))
                events.append(self._reply(delivery, contract.SUBSCRIPTION_CANCELLED, body.model_dump(mode="json")))
                await self.outbox.put_many(session, events)
                continue
            # Razorpay cancels at cycle end only what has a cycle; an unpaid one ends now.
            at_cycle_end = command.at_cycle_end and current.status not in ("created", "authenticated")
            try:
                entity = await self.razorpay.cancel_subscription(current.id, at_cycle_end)
            except (PaymentProviderUnavailable, PaymentProviderError) as exc:
                events.append(self._rejection(delivery, exc.status, exc.error, str(exc)))
                await self.outbox.put_many(session, events)
                continue
            row = await repository.subscription(session, current.id, lock=True)
            assert row is not None
            state = replace(repository.state_of(row), cancel_at_cycle_end=at_cycle_end)
            status = entity.get("status") or row.status
            if status != row.status:
                update = self._update_from_entity(entity, status, datetime.now(UTC))
                state, _ = apply_subscription_update(state, update)
            await repository.save_state(session, row.id, state)
            events.extend(await self.refresh_plans(session, [user_id], cause=delivery))
            row = await repository.subscription(session, current.id)
            body = contract.SubscriptionCancelled(subscription=subscription_body(row))
            events.append(self._reply(delivery, contract.SUBSCRIPTION_CANCELLED, body.model_dump(mode="json")))
            await self.outbox.put_many(session, events)

    # -- webhooks -------------------------------------------------------------------------------
    async def webhooks(self, session: AsyncSession, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            received = contract.WebhookReceived.model_validate(delivery.envelope.payload)
            outcome = await self._webhook(session, delivery, received)
            WEBHOOKS.labels(received.event, outcome).inc()

    async def _webhook(self, session: AsyncSession, delivery: Delivery, received: contract.WebhookReceived) -> str:
        secret = self.settings.razorpay_webhook_secret.get_secret_value()
        if not webhook_signature_ok(secret, received.body.encode(), received.signature):
            # Verified at the edge already; a message that fails here did not come from it.
            log.warning("webhook with a bad signature on billing.webhooks", extra={"fields": {"event": received.event}})
            return "rejected"
        try:
            body = json.loads(received.body)
            payload = body.get("payload") or {}
            event_at = utc(body.get("created_at")) or received.received_at
        except (ValueError, AttributeError, TypeError) as exc:
            raise PoisonMessage(f"webhook body is not Razorpay's JSON: {exc}") from exc
        entity_id = entity_key(payload)
        if not await repository.claim_delivery(
            session, received.event_id, received.event, entity_id, event_at, received.received_at
        ):
            return "duplicate"
        users: set[uuid.UUID] = set()
        outcome = await self._apply_event(session, received.event, payload, event_at, users)
        if outcome != "applied":  # claimed as applied: most deliveries need no second statement
            await repository.set_delivery_outcome(session, received.event_id, outcome)
        if users:
            await self.outbox.put_many(session, await self.refresh_plans(session, users, cause=delivery))
        return outcome

    async def _apply_event(
        self, session: AsyncSession, event: str, payload: dict[str, Any], event_at: datetime, users: set[uuid.UUID]
    ) -> str:
        sub_entity = (payload.get("subscription") or {}).get("entity")
        pay_entity = (payload.get("payment") or {}).get("entity")
        inv_entity = (payload.get("invoice") or {}).get("entity")
        refund_entity = (payload.get("refund") or {}).get("entity")
        outcomes: list[str] = []
        user_id: uuid.UUID | None = None
        subscription_id: str | None = None
        if sub_entity:
            user_id, result = await self._subscription_event(session, sub_entity, event_at)
            subscription_id = sub_entity.get("id")
            outcomes.append(result)
            if user_id is not None and result == "applied":
                users.add(user_id)  # only a subscription's state decides a plan
        if inv_entity:
            user_id, result = await self._invoice(session, inv_entity, user_id)
            subscription_id = subscription_id or inv_entity.get("subscription_id")
            outcomes.append(result)
        if pay_entity:
            user_id, result = await self._payment(session, pay_entity, user_id, subscription_id)
            outcomes.append(result)
        if refund_entity:
            outcomes.append(await self._refund(session, refund_entity))
        if not outcomes:
            return "ignored"
        for outcome in ("applied", "stale"):
            if outcome in outcomes:
                return outcome
        return outcomes[0]

    async def _subscription_event(
        self, session: AsyncSession, entity: dict[str, Any], event_at: datetime
    ) -> tuple[uuid.UUID | None, str]:
        subscription_id = str(entity.get("id") or "")
        status = str(entity.get("status") or "")
        if not subscription_id or not status:
            return None, "ignored"
        row = await repository.subscription(session, subscription_id, lock=True)
        if row is None:
            # Not created through us (or its command is still in flight): adopt it when Razorpay
            # carries our user and a plan we know.
            user_id = _user_from_notes(entity)
            plan_id = self.our_plans.get(str(entity.get("plan_id"))) or _notes(entity).get("plan_id")
            if user_id is None or plan_id not in await self.plans(session):
                return None, "ignored"
            row = await repository.insert_subscription(
                session,
                {"id": subscription_id, "user_id": user_id, "plan_id": plan_id, "status": "created"},
            )
            row = await repository.subscription(session, subscription_id, lock=True)
            assert row is not None
        state = repository.state_of(row)
        new, _ = apply_subscription_update(state, self._update_from_entity(entity, status, event_at))
        if new != state:
            await repository.save_state(session, subscription_id, new)
        # Stale: a late or replayed event that changed nothing (its status lost to a newer one).
        return row.user_id, "applied" if new != state else "stale"

    def _update_from_entity(self, entity: dict[str, Any], status: str, event_at: datetime) -> SubscriptionUpdate:
        return SubscriptionUpdate(
            status=status,
            event_at=event_at,
            plan_id=self.our_plans.get(str(entity.get("plan_id"))),
            current_start=utc(entity.get("current_start")),
            current_end=utc(entity.get("current_end")),
            paid_count=int(entity.get("paid_count") or 0),
            ended_at=utc(entity.get("ended_at")),
        )

    async def _owner_of(self, session: AsyncSession, subscription_id: str | None) -> uuid.UUID | None:
        if not subscription_id:
            return None
        row = await repository.subscription(session, subscription_id)
        return row.user_id if row is not None else None

    async def _invoice(
        self, session: AsyncSession, entity: dict[str, Any], user_id: uuid.UUID | None
    ) -> tuple[uuid.UUID | None, str]:
        invoice_id = entity.get("id")
        if not invoice_id:
            return user_id, "ignored"
        subscription_id = entity.get("subscription_id")
        user_id = user_id or await self._owner_of(session, subscription_id) or _user_from_notes(entity)
        before = await repository.invoice(session, invoice_id, lock=True)
        await repository.upsert_invoice(
            session,
            {
                "id": invoice_id,
                "user_id": user_id,
                "subscription_id": subscription_id,
                "payment_id": entity.get("payment_id"),
                "status": entity.get("status") or "issued",
                "amount_paise": int(entity.get("amount") or 0),
                "amount_paid_paise": int(entity.get("amount_paid") or 0),
                "currency": entity.get("currency") or "INR",
                "billing_start": utc(entity.get("billing_start")),
                "billing_end": utc(entity.get("billing_end")),
                "paid_at": utc(entity.get("paid_at")),
                "short_url": entity.get("short_url"),
                "created_at": utc(entity.get("created_at")) or datetime.now(UTC),
            },
        )
        if user_id is not None:
            await repository.claim_payments_for(session, user_id, subscription_id, [entity.get("payment_id") or ""])
        stale = before is not None and before.status == "paid"
        return user_id, "stale" if stale else "applied"

    async def _payment(
        self, session: AsyncSession, entity: dict[str, Any], user_id: uuid.UUID | None, subscription_id: str | None
    ) -> tuple[uuid.UUID | None, str]:
        payment_id = entity.get("id")
        status = entity.get("status")
        if not payment_id or not status:
            return user_id, "ignored"
        invoice_id = entity.get("invoice_id")
        if user_id is None and invoice_id:
            invoice_row = await repository.invoice(session, invoice_id)
            if invoice_row is not None:
                user_id, subscription_id = invoice_row.user_id, subscription_id or invoice_row.subscription_id
        user_id = user_id or _user_from_notes(entity)
        values = {
            "user_id": user_id,
            "subscription_id": subscription_id,
            "invoice_id": invoice_id,
            "order_id": entity.get("order_id"),
            "amount_paise": int(entity.get("amount") or 0),
            "amount_refunded_paise": int(entity.get("amount_refunded") or 0),
            "currency": entity.get("currency") or "INR",
            "status": status,
            "method": entity.get("method"),
            "error_code": entity.get("error_code"),
            "error_description": entity.get("error_description"),
            "created_at": utc(entity.get("created_at")) or datetime.now(UTC),
        }
        if await repository.insert_payment(session, {"id": payment_id, **values}):
            return user_id, "applied"
        row = await repository.payment(session, payment_id, lock=True)
        assert row is not None
        changes: dict[str, Any] = {}
        for field in ("user_id", "subscription_id", "invoice_id", "order_id", "method"):
            if getattr(row, field) is None and values[field] is not None:
                changes[field] = values[field]
        moved = payment_moves_forward(row.status, status)
        if moved:
            changes.update(
                status=status,
                error_code=values["error_code"],
                error_description=values["error_description"],
                amount_refunded_paise=max(row.amount_refunded_paise, values["amount_refunded_paise"]),
            )
        if changes:
            await repository.update_payment(session, payment_id, changes)
        return user_id or row.user_id, "applied" if moved else "stale"

    async def _refund(self, session: AsyncSession, entity: dict[str, Any]) -> str:
        refund_id, payment_id = entity.get("id"), entity.get("payment_id")
        if not refund_id or not payment_id:
            return "ignored"
        inserted = await repository.insert_refund(
            session,
            {
                "id": refund_id,
                "payment_id": payment_id,
                "amount_paise": int(entity.get("amount") or 0),
                "currency": entity.get("currency") or "INR",
                "status": entity.get("status") or "processed",
                "created_at": utc(entity.get("created_at")) or datetime.now(UTC),
            },
        )
        if not inserted:
            return "stale"
        row = await repository.payment(session, payment_id, lock=True)
        if row is not None:
            total = await repository.refunded_total(session, payment_id)
            changes: dict[str, Any] = {"amount_refunded_paise": max(total, row.amount_refunded_paise)}
            if changes["amount_refunded_paise"] >= row.amount_paise and payment_moves_forward(row.status, "refunded"):
                changes["status"] = "refunded"
            await repository.update_payment(session, payment_id, changes)
        return "applied"

    # -- entitlements ---------------------------------------------------------------------------
    async def refresh_plans(
        self,
        session: AsyncSession,
        user_ids: Iterable[uuid.UUID],
        *,
        cause: Delivery | None = None,
        now: datetime | None = None,
    ) -> list[OutboxMessage]:
        """Re-evaluates each user's plan; an EntitlementsChanged for each one that changed."""
        now = now or datetime.now(UTC)
        plans = await self.plans(session)
        tiers = {p.id: p.tier for p in plans.values()}
        messages: list[OutboxMessage] = []
        for user_id in sorted(set(user_ids)):
            stored = await repository.stored_plan(session, user_id, lock=True)
            rows = await repository.subscriptions_of_user(session, user_id)
            current = effective_plan(((r.id, repository.state_of(r)) for r in rows), tiers, now, self.grace)
            before = stored.plan if stored else NO_PLAN
            if current.same_as(before):
                continue
            version = (stored.version if stored else 0) + 1
            await repository.save_plan(session, user_id, current, version)
            plan = plans[current.plan_id]
            event = contract.EntitlementsChanged(
                user_id=user_id,
                plan_id=plan.id,
                plan_name=plan.name,
                status=current.status,
                entitlements=plan.entitlements,
                valid_until=current.valid_until,
                version=version,
            )
            message_id = uuid.uuid5(ENTITLEMENTS_NAMESPACE, f"{user_id}:{version}")
            if cause is not None:
                envelope = cause.envelope.caused(
                    contract.ENTITLEMENTS_CHANGED, event.model_dump(mode="json"), message_id=message_id
                )
                envelope = envelope.model_copy(update={"user_id": user_id})
            else:
                envelope = Envelope(
                    id=message_id,
                    type=contract.ENTITLEMENTS_CHANGED,
                    user_id=user_id,
                    payload=event.model_dump(mode="json"),
                )
            ENTITLEMENTS_CHANGED.labels(plan.id).inc()
            messages.append(
                OutboxMessage(BILLING_EVENTS.name, envelope, key=str(user_id).encode(), context=_context(cause))
            )
        return messages

    # -- replies --------------------------------------------------------------------------------
    def _reply(self, delivery: Delivery, type_: str, payload: dict[str, Any]) -> OutboxMessage:
        envelope = delivery.envelope.caused(type_, payload, message_id=derived_id(delivery.envelope.id, "reply"))
        return OutboxMessage(BILLING_EVENTS.name, envelope, context=delivery.context)

    def _rejection(self, delivery: Delivery, status: int, error: str, detail: str) -> OutboxMessage:
        body = contract.CommandRejected(status=status, error=error, detail=detail)
        return self._reply(delivery, contract.COMMAND_REJECTED, body.model_dump(mode="json"))


def _context(cause: Delivery | None) -> Context | None:
    return cause.context if cause is not None else None


def _user(delivery: Delivery) -> uuid.UUID:
    if delivery.envelope.user_id is None:
        raise PoisonMessage(f"{delivery.envelope.type} without user_id")
    return delivery.envelope.user_id


def subscription_body(row: Any) -> contract.Subscription:
    return contract.Subscription(
        id=row.id,
        plan_id=row.plan_id,
        status=row.status,
        current_start=row.current_start,
        current_end=row.current_end,
        cancel_at_cycle_end=row.cancel_at_cycle_end,
        ended_at=row.ended_at,
        short_url=row.short_url,
        created_at=row.created_at,
    )


def entity_key(payload: dict[str, Any]) -> str | None:
    """The id a delivery is about: its subscription, else its payment (the Kafka key, DESIGN §3)."""
    for name in ("subscription", "payment", "invoice", "refund"):
        entity = (payload.get(name) or {}).get("entity") or {}
        if entity.get("id"):
            return str(entity["id"])
    return None


def webhook_signature_ok(secret: str, body: bytes, signature: str) -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def checkout_signature_ok(key_secret: str, payment_id: str, subscription_id: str, signature: str) -> bool:
    """Razorpay Checkout's signature of a subscription payment: HMAC-SHA256 of
    ``payment_id|subscription_id`` with the API key secret."""
    expected = hmac.new(key_secret.encode(), f"{payment_id}|{subscription_id}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
