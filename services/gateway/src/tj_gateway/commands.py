"""Commands from the edge: publish to Kafka, then wait briefly for the owning service's answer.

Every gateway replica reads the result events itself (no consumer group, from the end), so the
replica that holds the waiting request sees the answer wherever the command was applied
(DESIGN §5). No answer within the deadline means 202 with a status URL; the command still runs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from fastapi import Request
from opentelemetry.trace import SpanKind

from tj_common.envelope import Envelope, command_id_for
from tj_common.errors import ServiceUnavailable
from tj_common.kafka import cancel_task, stop_consumer
from tj_common.metrics import COMMANDS_PUBLISHED
from tj_common.runtime import Runtime
from tj_common.telemetry import extract_context
from tj_common.topics import TRADES_COMMANDS

log = logging.getLogger(__name__)

# What every write endpoint may answer besides its own confirmation (OpenAPI).
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Accepted; not confirmed within the deadline. Poll status_url."},
    503: {"description": "The message broker is unreachable; nothing was accepted"},
}


class CommandBus:
    def __init__(self, runtime: Runtime, reply_topics: list[str]) -> None:
        self.runtime = runtime
        self.reply_topics = reply_topics
        self.waiters: dict[uuid.UUID, list[asyncio.Future[Envelope]]] = defaultdict(list)
        self.listener: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.tracer = runtime.tracer_provider.get_tracer("tj_gateway.commands")
        # Awaited with every fetch's events, before any of its waiting requests is answered (the
        # read cache bumps the users' versions here, so a write's 201 never precedes the
        # invalidation).
        self.on_events: list[Callable[[list[Envelope]], Awaitable[None]]] = []

    async def start(self) -> None:
        settings = self.runtime.settings
        self.listener = AIOKafkaConsumer(
            *self.reply_topics,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=None,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            # A fetch in flight when the broker stalls (a pause, a network blip) is given up after
            # 5 s, not the default 40 s: until then no reply is seen and every write answers 202.
            request_timeout_ms=5000,
            client_id=f"tj-gateway-replies-{settings.instance_id}",
        )
        await self.listener.start()
        # Resolve the starting position now, so no answer to a command sent after start is missed.
        for _ in range(100):
            if self.listener.assignment():
                break
            await asyncio.sleep(0.05)
        for tp in self.listener.assignment():
            await self.listener.position(tp)
        self._task = asyncio.create_task(self._listen(), name="gateway-replies")

    async def stop(self) -> None:
        await cancel_task(self._task)
        if self.listener:
            await stop_consumer(self.listener)

    async def _listen(self) -> None:
        assert self.listener is not None
        while True:
            try:
                batches = await self.listener.getmany(timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reply listener fetch failed")
                await asyncio.sleep(1.0)
                continue
            events = [
                (record, event) for records in batches.values() for record in records if (event := _decoded(record))
            ]
            if not events:
                continue
            # The hooks (the read cache's invalidation) see the whole fetch at once, and before any
            # waiter is answered: a client reading after its 201 never gets a stale cached answer.
            await self._notify([event for _, event in events])
            for record, event in events:
                self._resolve(record, event)

    async def _notify(self, events: list[Envelope]) -> None:
        for hook in self.on_events:
            try:
                await hook(events)
            except Exception:
                log.exception("event hook failed")

    def _resolve(self, record: object, event: Envelope) -> None:
        if event.causation_id is None or event.causation_id not in self.waiters:
            return
        with self.tracer.start_as_current_span(
            f"{getattr(record, 'topic', '')} reply",
            context=extract_context(dict(getattr(record, "headers", None) or ())),
            kind=SpanKind.CONSUMER,
        ):
            for future in self.waiters.pop(event.causation_id, []):
                if not future.done():
                    future.set_result(event)

    async def send(self, topic: str, command: Envelope, *, wait: float | None = None) -> Envelope | None:
        """Publish ``command``; its result event, or None if none came within the deadline.

        Raises ServiceUnavailable (503) when Kafka did not take the command: never report success
        for a command that was not handed over. A publish that timed out may still land later;
        clients retry with the same Idempotency-Key and the repeat is applied once.
        """
        settings = self.runtime.settings
        if not self.runtime.kafka_ready.is_set():
            COMMANDS_PUBLISHED.labels(command.type, "unavailable").inc()
            raise ServiceUnavailable("the message broker is not reachable; try again shortly", retry_after=5)
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self.waiters[command.id].append(future)
        try:
            try:
                await asyncio.wait_for(
                    self.runtime.broker.publish(
                        command.encode(),
                        topic=topic,
                        key=command.key(),
                        headers={"message-type": command.type, "message-id": str(command.id)},
                        correlation_id=str(command.id),
                    ),
                    timeout=settings.kafka_publish_timeout,
                )
            except (TimeoutError, KafkaError, OSError) as exc:
                COMMANDS_PUBLISHED.labels(command.type, "unavailable").inc()
                log.warning("command publish failed", extra={"fields": {"error": repr(exc)[:300]}})
                raise ServiceUnavailable(
                    "the message broker did not accept the command; retry with the same Idempotency-Key",
                    retry_after=5,
                ) from exc
            COMMANDS_PUBLISHED.labels(command.type, "published").inc()
            try:
                return await asyncio.wait_for(
                    asyncio.shield(future), timeout=settings.command_reply_timeout if wait is None else wait
                )
            except TimeoutError:
                log.info("command not answered within the deadline", extra={"fields": {"command_id": str(command.id)}})
                return None
        finally:
            waiting = self.waiters.get(command.id)
            if waiting is not None:
                if future in waiting:
                    waiting.remove(future)
                if not waiting:
                    self.waiters.pop(command.id, None)


async def send_trades_command(
    request: Request, user_id: uuid.UUID, type_: str, payload: dict[str, Any], idempotency_key: str | None
) -> tuple[uuid.UUID, Envelope | None]:
    """Send a command to the trades service for the calling user; its id (deterministic with an
    Idempotency-Key) and the result event, or None when none came within the deadline."""
    command_id = command_id_for(user_id, idempotency_key)
    command = Envelope(id=command_id, type=type_, user_id=user_id, correlation_id=command_id, payload=payload)
    bus: CommandBus = request.app.state.commands
    event = await bus.send(TRADES_COMMANDS.name, command)
    if event is None:
        # Answered 202: its sender may ask after it before trades has applied it. A command
        # answered 201 is applied, and trades itself tells whose it is.
        await remember_command_owner(bus, command_id, user_id)
    return command_id, event


# Who sent a command answered 202, so ``GET /api/v1/commands/{id}`` can tell "yours, not applied
# yet" (pending) from "not yours or never sent" (404) before the owning service has applied it.
COMMAND_OWNER_TTL_SECONDS = 7 * 24 * 3600


def command_owner_key(command_id: uuid.UUID) -> str:
    return f"tj:command-owner:{command_id}"


async def remember_command_owner(bus: CommandBus, command_id: uuid.UUID, user_id: uuid.UUID) -> None:
    try:
        await bus.runtime.redis.set(command_owner_key(command_id), str(user_id), ex=COMMAND_OWNER_TTL_SECONDS)
    except Exception:  # Redis down must not refuse the write; the status then stays "pending"
        log.warning("could not record the owner of command %s", command_id, exc_info=True)


async def sent_by(bus: CommandBus, command_id: uuid.UUID, user_id: uuid.UUID) -> bool | None:
    """True/False when Redis knows who sent ``command_id``; None when Redis cannot say."""
    try:
        owner = await bus.runtime.redis.get(command_owner_key(command_id))
    except Exception:
        log.warning("could not read the owner of command %s", command_id, exc_info=True)
        return None
    if owner is None:
        return False
    text = owner.decode() if isinstance(owner, bytes) else str(owner)
    return text == str(user_id)


def _decoded(record: object) -> Envelope | None:
    """The event a fetched record carries (None for an empty or unreadable one)."""
    value = getattr(record, "value", None)
    if not value:
        return None
    try:
        return Envelope.decode(value)
    except ValueError:
        return None
