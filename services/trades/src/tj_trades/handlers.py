"""Command handlers of the trades service, applied inside the consumer's transaction (state,
offset, message ids and outbox events commit together). Each handler takes a run of messages of
its type and works set-based: a batch of 500 commands costs a handful of statements."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.consumer import Delivery, Handler, PoisonMessage
from tj_common.contracts import trades as contract
from tj_common.envelope import Envelope, derived_id
from tj_common.outbox import Outbox, OutboxMessage
from tj_common.topics import TRADES_EVENTS
from tj_trades import projection, repository, tradebook
from tj_trades.domain.charges import brokerage_plans, schedule_from_dict, schedule_to_dict
from tj_trades.domain.roundtrips import RoundTrip
from tj_trades.models import metadata

processed_messages = metadata.tables["trades.processed_messages"]


def make_handlers(outbox: Outbox) -> dict[str, Handler]:
    accounts = repository.DefaultAccounts()

    async def record_executions(session: AsyncSession, deliveries: list[Delivery]) -> None:
        commands: list[tuple[Delivery, uuid.UUID, contract.RecordExecutions]] = []
        for delivery in deliveries:
            user_id = delivery.envelope.user_id
            if user_id is None:
                raise PoisonMessage("trades.RecordExecutions without user_id")
            commands.append((delivery, user_id, contract.RecordExecutions.model_validate(delivery.envelope.payload)))

        events: list[OutboxMessage] = []
        repeats = [d for d, _, _ in commands if d.duplicate]
        if repeats:
            # Re-send the first delivery's result under the same event id: a client retrying
            # with the same Idempotency-Key gets its answer, consumers drop the repeat.
            stored = await repository.executions_of_commands(session, [d.envelope.id for d in repeats])
            for delivery in repeats:
                earlier = stored.get(delivery.envelope.id)
                if earlier:
                    events.append(_recorded(delivery, earlier[0]["account_id"], earlier))

        fresh = [(d, u, c) for d, u, c in commands if not d.duplicate]
        explicit = {(u, c.account_id) for _, u, c in fresh if c.account_id is not None}
        owned = await repository.owned_accounts(session, explicit)
        defaults = await accounts.resolve(session, {u for _, u, c in fresh if c.account_id is None})
        targets = {
            u: defaults[u] if c.account_id is None else c.account_id
            for _, u, c in fresh
            if c.account_id is None or (u, c.account_id) in owned
        }
        account_rows = await repository.accounts_by_id(session, set(targets.values()))
        recorded = await repository.recorded_broker_trade_ids(
            session,
            {
                (defaults[u] if c.account_id is None else c.account_id, e.broker_trade_id)
                for _, u, c in fresh
                for e in c.executions
                if e.broker_trade_id is not None
            },
        )

        now = datetime.now(UTC)
        claimed: set[tuple[uuid.UUID, str]] = set()  # broker trade ids taken by earlier commands of the batch
        rows: list[dict[str, Any]] = []
        accepted: list[tuple[Delivery, uuid.UUID]] = []
        for delivery, user_id, command in fresh:
            account_id = defaults[user_id] if command.account_id is None else command.account_id
            if command.account_id is not None and (user_id, command.account_id) not in owned:
                await _reject(session, [delivery], events, 404, "NotFound", "account not found")
                continue
            account = account_rows.get(account_id)
            if account is None:  # a cached default id whose creating transaction rolled back
                accounts.cache.pop(user_id, None)
                raise RuntimeError(f"default account {account_id} of user {user_id} vanished; retrying uncached")
            command_rows, problem = _execution_rows(delivery, user_id, account, command, now, recorded | claimed)
            if problem is not None:
                # The whole command is refused; the others of the batch go on.
                await _reject(session, [delivery], events, *problem)
                continue
            claimed.update((account_id, r["broker_trade_id"]) for r in command_rows if r["broker_trade_id"])
            accepted.append((delivery, account_id))
            rows.extend(command_rows)
        by_command: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for row in await repository.insert_executions(session, rows):  # their groups marked too
            by_command[row["command_id"]].append(row)
        events.extend(_recorded(d, account_id, by_command[d.envelope.id]) for d, account_id in accepted)
        await outbox.put_many(session, events)

    async def create_account(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:  # account commands are rare: one at a time, in order
            user_id = _user(delivery)
            command = contract.CreateAccount.model_validate(delivery.envelope.payload)
            account_id = derived_id(delivery.envelope.id, "account")
            if delivery.duplicate:
                found = (await repository.accounts_by_id(session, {account_id})).get(account_id)
                if found is not None and found["user_id"] == user_id:
                    events.append(_account_event(delivery, contract.ACCOUNT_CREATED, found))
                continue
            if command.brokerage_plan not in brokerage_plans():
                detail = _unknown_plan(command.brokerage_plan)
                await _reject(session, [delivery], events, 422, "ValidationError", detail)
                continue
            if await repository.account_named(session, user_id, command.name) is not None:
                await _reject(session, [delivery], events, 409, "Conflict", _name_taken(command.name))
                continue
            values = command.model_dump()
            try:
                values["commission_schedule"] = stored_schedule(values["commission_schedule"])
            except ValueError as exc:
                await _reject(session, [delivery], events, 422, "ValidationError", f"commission_schedule: {exc}")
                continue
            row = await repository.insert_account(session, {"id": account_id, "user_id": user_id, **values})
            events.append(_account_event(delivery, contract.ACCOUNT_CREATED, row))
        await outbox.put_many(session, events)

    async def update_account(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.UpdateAccount.model_validate(delivery.envelope.payload)
            found = (await repository.accounts_by_id(session, {command.account_id})).get(command.account_id)
            if found is None or found["user_id"] != user_id:
                if not delivery.duplicate:
                    await _reject(session, [delivery], events, 404, "NotFound", "account not found")
                continue
            if delivery.duplicate:
                events.append(_account_event(delivery, contract.ACCOUNT_UPDATED, found))
                continue
            changes = command.model_dump(include=command.model_fields_set - {"account_id"})
            problem = await _check_update(session, user_id, found, changes)
            if problem is not None:
                await _reject(session, [delivery], events, *problem)
                continue
            if "commission_schedule" in changes:
                try:
                    changes["commission_schedule"] = stored_schedule(changes["commission_schedule"])
                except ValueError as exc:
                    detail = f"commission_schedule: {exc}"
                    await _reject(session, [delivery], events, 422, "ValidationError", detail)
                    continue
            row = await repository.update_account(session, command.account_id, changes)
            if changes.keys() & _REPRICING:  # every trade may change
                await projection.mark_where(session, "account_id", command.account_id)
            events.append(_account_event(delivery, contract.ACCOUNT_UPDATED, row))
        await outbox.put_many(session, events)

    async def delete_account(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.DeleteAccount.model_validate(delivery.envelope.payload)
            found = (await repository.accounts_by_id(session, {command.account_id})).get(command.account_id)
            if delivery.duplicate:
                if found is None:
                    events.append(_deleted(delivery, command.account_id))
                continue
            if found is None or found["user_id"] != user_id:
                await _reject(session, [delivery], events, 404, "NotFound", "account not found")
                continue
            if found["name"] == repository.DEFAULT_ACCOUNT:
                detail = f"{_DEFAULT_ROLE}; it cannot be deleted"
                await _reject(session, [delivery], events, 409, "Conflict", detail)
                continue
            if await repository.account_has_executions(session, command.account_id):
                detail = "the account has executions; delete or move them before deleting the account"
                await _reject(session, [delivery], events, 409, "Conflict", detail)
                continue
            await repository.delete_account(session, command.account_id)
            events.append(_deleted(delivery, command.account_id))
        await outbox.put_many(session, events)

    async def annotate_trade(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        trade_ids: dict[uuid.UUID, set[uuid.UUID]] = {}  # per user; annotating changes no trade
        for delivery in deliveries:
            user_id = _user(delivery)
            command = contract.AnnotateTrade.model_validate(delivery.envelope.payload)
            if delivery.duplicate:
                found = await repository.annotations_of(session, user_id, {command.trade_id})
                if command.trade_id in found:
                    events.append(_annotated(delivery, found[command.trade_id]))
                continue
            if user_id not in trade_ids:
                trade_ids[user_id] = {t.id for t in await _trades_of(session, user_id)}
            if command.trade_id not in trade_ids[user_id]:
                await _reject(session, [delivery], events, 404, "NotFound", "trade not found")
                continue
            changes = command.model_dump(include=command.model_fields_set - {"trade_id"})
            row = await repository.annotate_trade(session, user_id, command.trade_id, changes)
            events.append(_annotated(delivery, row))
        await outbox.put_many(session, events)

    async def record_manual_trade(session: AsyncSession, deliveries: list[Delivery]) -> None:
        events: list[OutboxMessage] = []
        for delivery in deliveries:  # manual trades are rare: one at a time, in order
            user_id = _user(delivery)
            command = contract.RecordManualTrade.model_validate(delivery.envelope.payload)
            symbol = command.symbol.upper()
            if delivery.duplicate:
                stored = await repository.executions_of_command(session, delivery.envelope.id)
                if stored:
                    account_id = stored[0]["account_id"]
                    trade = _trade_with(await _trades_of(session, user_id, account_id, symbol), stored[0]["id"])
                    if trade is not None:
                        events.append(_manual_recorded(delivery, account_id, trade.id, stored))
                continue
            if command.account_id is not None:
                if not await repository.owned_accounts(session, {(user_id, command.account_id)}):
                    await _reject(session, [delivery], events, 404, "NotFound", "account not found")
                    continue
                account_id = command.account_id
            else:
                account_id = (await accounts.resolve(session, {user_id}))[user_id]
            account = (await repository.accounts_by_id(session, {account_id})).get(account_id)
            if account is None:
                accounts.cache.pop(user_id, None)
                raise RuntimeError(f"default account {account_id} of user {user_id} vanished; retrying uncached")
            if command.side == "short" and account["long_only"]:
                detail = "the account is long-only; a short trade cannot be recorded in it"
                await _reject(session, [delivery], events, 422, "ValidationError", detail)
                continue
            legs = contract.RecordExecutions(account_id=account_id, executions=command.executions())
            rows, problem = _execution_rows(delivery, user_id, account, legs, datetime.now(UTC), set())
            if problem is not None:
                await _reject(session, [delivery], events, *problem)
                continue
            stored = await repository.insert_executions(session, rows)  # their groups marked too
            trade = _trade_with(await _trades_of(session, user_id, account_id, symbol), stored[0]["id"])
            if trade is None:  # cannot happen: every execution belongs to a trade
                raise RuntimeError(f"manual trade of command {delivery.envelope.id} produced no round trip")
            annotation = command.annotation()
            if annotation:
                await repository.annotate_trade(session, user_id, trade.id, annotation)
            events.append(_manual_recorded(delivery, account_id, trade.id, stored))
        await outbox.put_many(session, events)

    return {
        contract.ANNOTATE_TRADE: annotate_trade,
        contract.RECORD_MANUAL_TRADE: record_manual_trade,
        contract.RECORD_EXECUTIONS: record_executions,
        contract.CREATE_ACCOUNT: create_account,
        contract.UPDATE_ACCOUNT: update_account,
        contract.DELETE_ACCOUNT: delete_account,
    }


Problem = tuple[int, str, str]  # status, error code, detail of a rejection

FUTURE_TOLERANCE = timedelta(minutes=5)
_DEFAULT_ROLE = "the Default account receives the executions sent without an account_id"
_NOT_NULL = ("name", "base_currency", "timezone", "long_only", "brokerage_plan")
# Account settings that change trades: their charges, P&L or day buckets.
_REPRICING = frozenset({"timezone", "brokerage_plan", "long_only", "commission_schedule"})


def stored_schedule(schedule: Mapping[str, Any] | None) -> dict[str, str] | None:
    """A commission schedule (the contract's fields) in its stored form, checked by the domain;
    ValueError if the domain refuses it."""
    if schedule is None:
        return None
    return schedule_to_dict(schedule_from_dict(schedule))


def _execution_rows(
    delivery: Delivery,
    user_id: uuid.UUID,
    account: dict[str, Any],
    command: contract.RecordExecutions,
    now: datetime,
    taken: set[tuple[uuid.UUID, str]],
) -> tuple[list[dict[str, Any]], Problem | None]:
    """The rows of a command's fills, or why the whole command is refused."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    base = account["base_currency"]
    for index, execution in enumerate(command.executions):
        where = f"executions[{index}]"
        if execution.executed_at > now + FUTURE_TOLERANCE:
            detail = f"{where}: executed_at {execution.executed_at.isoformat()} is in the future"
            return [], (422, "FutureExecution", detail)
        # A fill without a currency is in the account's base currency.
        currency = execution.currency.upper() if "currency" in execution.model_fields_set else base
        if currency != base:
            detail = f"{where}: currency {currency} does not match the account's base currency {base}"
            return [], (422, "CurrencyMismatch", detail)
        trade_id = execution.broker_trade_id
        if trade_id is not None:
            if (account["id"], trade_id) in taken or trade_id in seen:
                detail = f"{where}: broker_trade_id {trade_id!r} is already recorded in this account"
                return [], (409, "DuplicateBrokerTradeId", detail)
            seen.add(trade_id)
        rows.append(
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "account_id": account["id"],
                "command_id": delivery.envelope.id,
                "symbol": execution.symbol.upper(),
                "exchange": execution.exchange.upper(),
                "segment": execution.segment,
                "side": execution.side,
                "quantity": execution.quantity,
                "price": execution.price,
                "executed_at": execution.executed_at,
                "currency": currency,
                "broker_trade_id": trade_id,
                "broker_order_id": execution.broker_order_id,
                "product": execution.product,
                **stored_charges(execution.fees, execution.charges),
            }
        )
    return rows, None


def stored_charges(fees: Decimal | None, charges: Mapping[Any, Decimal] | None) -> dict[str, Any]:
    """``fees`` and ``charges`` as an execution row stores them: itemised charges as decimal
    strings (JSON), and ``fees`` their total unless the broker gave a (larger) total."""
    if charges is None:
        return {"fees": fees, "charges": None}
    return {
        "fees": sum(charges.values(), Decimal(0)) if fees is None else fees,
        "charges": {line: str(amount) for line, amount in charges.items()},
    }


async def _check_update(
    session: AsyncSession, user_id: uuid.UUID, current: dict[str, Any], changes: dict[str, Any]
) -> Problem | None:
    for field in _NOT_NULL:
        if field in changes and changes[field] is None:
            return 422, "ValidationError", f"{field} cannot be null"
    name = changes.get("name")
    if name is not None and name != current["name"]:
        if current["name"] == repository.DEFAULT_ACCOUNT:
            return 409, "Conflict", f"{_DEFAULT_ROLE}; it keeps its name"
        if await repository.account_named(session, user_id, name) is not None:
            return 409, "Conflict", _name_taken(name)
    plan = changes.get("brokerage_plan")
    if plan is not None and plan not in brokerage_plans():
        return 422, "ValidationError", _unknown_plan(plan)
    currency = changes.get("base_currency")
    if (
        currency is not None
        and currency != current["base_currency"]
        and await repository.account_has_executions(session, current["id"])
    ):
        return 409, "Conflict", "the account has executions in its base currency; it cannot change"
    return None


def _name_taken(name: str) -> str:
    return f"an account named {name!r} already exists"


def _unknown_plan(name: str) -> str:
    return f"unknown brokerage_plan {name!r}; known: {', '.join(sorted(brokerage_plans()))}"


def _user(delivery: Delivery) -> uuid.UUID:
    user_id = delivery.envelope.user_id
    if user_id is None:
        raise PoisonMessage(f"{delivery.envelope.type} without user_id")
    return user_id


def _account_event(delivery: Delivery, type_: str, row: dict[str, Any]) -> OutboxMessage:
    command = delivery.envelope
    body = {"command_id": command.id, "account": contract.AccountOut.model_validate(row)}
    payload = (contract.AccountCreated if type_ == contract.ACCOUNT_CREATED else contract.AccountUpdated)(**body)
    event = command.caused(type_, payload.model_dump(mode="json"), message_id=derived_id(command.id, type_))
    return OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context)


def _deleted(delivery: Delivery, account_id: uuid.UUID) -> OutboxMessage:
    command = delivery.envelope
    payload = contract.AccountDeleted(command_id=command.id, account_id=account_id)
    type_ = contract.ACCOUNT_DELETED
    event = command.caused(type_, payload.model_dump(mode="json"), message_id=derived_id(command.id, type_))
    return OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context)


async def _trades_of(
    session: AsyncSession, user_id: uuid.UUID, account_id: uuid.UUID | None = None, symbol: str | None = None
) -> list[RoundTrip]:
    """The user's round trips as the query API derives them (same transaction: own writes seen)."""
    rows = await repository.executions_for_trades(session, user_id, account_id=account_id, symbol=symbol)
    trades, _ = tradebook.round_trips(rows, await repository.account_settings(session, user_id))
    return trades


def _trade_with(trades: list[RoundTrip], execution_id: uuid.UUID) -> RoundTrip | None:
    for trade in trades:
        if any(str(leg.execution_id) == str(execution_id) for leg in trade.legs):
            return trade
    return None


def _annotated(delivery: Delivery, row: dict[str, Any]) -> OutboxMessage:
    command = delivery.envelope
    payload = contract.TradeAnnotated(command_id=command.id, annotation=contract.TradeAnnotationOut.model_validate(row))
    type_ = contract.TRADE_ANNOTATED
    event = command.caused(type_, payload.model_dump(mode="json"), message_id=derived_id(command.id, type_))
    return OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context)


def _manual_recorded(
    delivery: Delivery, account_id: uuid.UUID, trade_id: uuid.UUID, stored: list[dict[str, Any]]
) -> OutboxMessage:
    command = delivery.envelope
    payload = {
        "command_id": str(command.id),
        "account_id": str(account_id),
        "trade_id": str(trade_id),
        "executions": [contract.execution_out_json(row) for row in stored],
    }  # contract.ManualTradeRecorded
    type_ = contract.MANUAL_TRADE_RECORDED
    event = command.caused(type_, payload, message_id=derived_id(command.id, type_))
    return OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context)


def _recorded(delivery: Delivery, account_id: uuid.UUID, stored: list[dict[str, Any]]) -> OutboxMessage:
    command = delivery.envelope
    payload = {
        "command_id": str(command.id),
        "account_id": str(account_id),
        "executions": [contract.execution_out_json(row) for row in stored],
    }  # contract.ExecutionsRecorded
    event = command.caused(
        contract.EXECUTIONS_RECORDED, payload, message_id=derived_id(command.id, contract.EXECUTIONS_RECORDED)
    )
    return OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context)


async def _reject(
    session: AsyncSession,
    deliveries: list[Delivery],
    events: list[OutboxMessage],
    status: int,
    error: str,
    detail: str,
) -> None:
    """A rejection the client can act on: recorded as the command's outcome and answered with an
    event, never dead-lettered."""
    await session.execute(
        update(processed_messages)
        .where(processed_messages.c.message_id.in_([d.envelope.id for d in deliveries]))
        .values(outcome="rejected", error=f"{error}: {detail}")
    )
    for delivery in deliveries:
        command: Envelope = delivery.envelope
        payload = contract.CommandRejected(command_id=command.id, error=error, status=status, detail=detail)
        event = command.caused(
            contract.COMMAND_REJECTED,
            payload.model_dump(mode="json"),
            message_id=derived_id(command.id, contract.COMMAND_REJECTED),
        )
        events.append(OutboxMessage(TRADES_EVENTS.name, event, context=delivery.context))
