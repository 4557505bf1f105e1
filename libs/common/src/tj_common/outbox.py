"""Transactional outbox: events are written in the same transaction as the state they describe,
and a relay publishes them in order with the trace context they were written under."""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from sqlalchemy import BigInteger, Table, all_, any_, bindparam, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tj_common.envelope import Envelope
from tj_common.kafka import cancel_task
from tj_common.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED
from tj_common.telemetry import extract_context, inject_headers

log = logging.getLogger(__name__)

# Handing a batch to Kafka slower than this is logged as a warning (the broker is struggling).
SLOW_PUBLISH_SECONDS = 1.0
_DEFERRED = "tj_common.outbox.deferred"  # session.info key of the rows Outbox.defer collects


class Outbox:
    """Writes messages into a service's outbox table inside the caller's transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def defer(self, session: AsyncSession) -> list[dict[str, Any]]:
        """From now on in this session, :meth:`put_many` collects its rows in the list returned
        instead of inserting them: the caller writes them in its transaction with
        :meth:`insert_deferred_sql` (the exactly-once consumer, together with its offsets, in
        one statement)."""
        rows: list[dict[str, Any]] = []
        session.info[_DEFERRED] = rows
        return rows

    def insert_deferred_sql(self) -> str:
        """The INSERT of rows :meth:`defer` collected, in their order (ids follow it), for a
        WITH clause; its parameters are :meth:`deferred_params`."""
        return (
            f"INSERT INTO {self.table.fullname} (topic, message_key, message_id, message_type, body, headers) "  # noqa: S608
            "SELECT t, k, i, m, b, h::jsonb FROM unnest(CAST(:e_topics AS text[]), CAST(:e_keys AS bytea[]), "
            "CAST(:e_ids AS uuid[]), CAST(:e_types AS text[]), CAST(:e_bodies AS bytea[]), CAST(:e_headers AS text[])) "
            "AS e(t, k, i, m, b, h)"
        )

    @staticmethod
    def deferred_params(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
        return {
            "e_topics": [r["topic"] for r in rows],
            "e_keys": [r["message_key"] for r in rows],
            "e_ids": [r["message_id"] for r in rows],
            "e_types": [r["message_type"] for r in rows],
            "e_bodies": [r["body"] for r in rows],
            "e_headers": [json.dumps(r["headers"]) for r in rows],
        }

    async def put(
        self,
        session: AsyncSession,
        topic: str,
        envelope: Envelope,
        *,
        key: bytes | None = None,
        body: bytes | None = None,
        extra_headers: dict[str, str] | None = None,
        context: Context | None = None,
    ) -> None:
        await self.put_many(
            session, [OutboxMessage(topic, envelope, key=key, body=body, headers=extra_headers, context=context)]
        )

    async def put_many(self, session: AsyncSession, messages: Sequence[OutboxMessage]) -> None:
        """One multi-row insert. Each row keeps the trace context it was caused under (its
        ``context``, or the current one), which the relay restores when it publishes."""
        if not messages:
            return
        rows = []
        for m in messages:
            headers = inject_headers(m.context)
            headers.update(m.headers or {})
            rows.append(
                {
                    "topic": m.topic,
                    "message_key": m.key if m.key is not None else m.envelope.key(),
                    "message_id": m.envelope.id,
                    "message_type": m.envelope.type,
                    "body": m.body if m.body is not None else m.envelope.encode(),
                    "headers": headers,
                }
            )
        deferred = session.info.get(_DEFERRED)
        if deferred is not None:
            deferred.extend(rows)
            return
        await session.execute(insert(self.table), rows)


@dataclass(frozen=True)
class OutboxMessage:
    topic: str
    envelope: Envelope
    key: bytes | None = None
    body: bytes | None = None
    headers: dict[str, str] | None = None
    context: Context | None = None


class OutboxRelay:
    """Publishes outbox rows in id order. One relay per service is active at a time (a PostgreSQL
    advisory lock elects it), which keeps the order per key across replicas."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        table: Table,
        broker: KafkaBroker,
        batch_size: int = 500,
        poll_interval: float = 0.2,
    ) -> None:
        self.engine = engine
        self.table = table
        self.broker = broker
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.lock_key = zlib.crc32(f"outbox:{table.fullname}".encode())
        # Reads and removals need no BEGIN and COMMIT round trips: each is one statement.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._ids = ids = bindparam("ids", type_=ARRAY(BigInteger))
        self._oldest = select(table).order_by(table.c.id).limit(batch_size)
        self._remove = delete(table).where(table.c.id == any_(ids))
        # The rows published last time removed, and the oldest others read, in one statement (the
        # SELECT sees the rows as they were before the DELETE: it leaves those out itself).
        self._remove_and_next = (
            select(table)
            .add_cte(self._remove.cte("removed"))
            .where(table.c.id != all_(ids))
            .order_by(table.c.id)
            .limit(batch_size)
        )
        self._sent: list[int] = []  # published and acknowledged, not removed yet
        self.is_leader = False

    def notify(self) -> None:
        """Called after a transaction that wrote to the outbox commits."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.table.fullname}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await cancel_task(self._task)

    async def _remove_sent(self) -> None:
        """Remove what was published and not removed yet (on losing or leaving the lead; a row
        left behind is only sent again)."""
        sent, self._sent = self._sent, []
        if not sent:
            return
        try:
            async with self._autocommit.connect() as conn:
                await conn.execute(self._remove, {"ids": sent})
        except Exception:
            log.warning("outbox rows published but not removed; they will be sent again", exc_info=True)

    async def backlog(self) -> int:
        """Rows not published yet: the table's, but for those this relay published and has yet
        to remove (at most one pass's)."""
        query = select(func.count()).select_from(self.table)
        if self._sent:
            query = query.where(self.table.c.id != all_(self._ids))
        async with self.engine.connect() as conn:
            count = (await conn.execute(query, {"ids": self._sent})).scalar_one()
        OUTBOX_BACKLOG.set(count)
        return int(count)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                async with self.engine.connect() as lock_conn:
                    got = (
                        await lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.lock_key})
                    ).scalar_one()
                    await lock_conn.commit()
                    if not got:
                        self.is_leader = False
                        await asyncio.sleep(1.0)
                        continue
                    self.is_leader = True
                    try:
                        await self._lead(lock_conn)
                    finally:
                        self.is_leader = False
                        await self._remove_sent()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1.0)

    async def _lead(self, lock_conn: Any) -> None:
        loop = asyncio.get_running_loop()
        last_lock_check = loop.time()
        while not self._stopping:
            started = loop.time()
            published = await self.publish_pending()
            if loop.time() - started > SLOW_PUBLISH_SECONDS:
                log.warning(
                    "slow outbox publish",
                    extra={"fields": {"rows": published, "seconds": round(loop.time() - started, 3)}},
                )
            if published >= self.batch_size:
                continue  # more may be waiting; a shorter read took everything committed before it
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            now = loop.time()
            if now - last_lock_check > 5:
                # Keeps the lock connection alive, and notices when it was lost.
                await lock_conn.execute(text("SELECT 1"))
                await lock_conn.commit()
                last_lock_check = now

    async def publish_pending(self) -> int:
        """Read the oldest rows and publish them; once Kafka has acknowledged every one, they are
        removed by the next read's statement (one statement a pass, in autocommit: no BEGIN and
        COMMIT round trips, no transaction held open while Kafka answers). The relay passes at
        least every ``poll_interval`` seconds, so rows wait at most that long to be removed.

        Only the elected relay reads and removes rows, so what it read is still there to remove.
        A failure (or a crash) before the removal leaves the rows to be sent again: delivery is
        at least once, and consumers drop a message id they have already applied."""
        async with self._autocommit.connect() as conn:
            if self._sent:
                rows = (await conn.execute(self._remove_and_next, {"ids": self._sent})).all()
                self._sent = []
            else:
                rows = (await conn.execute(self._oldest)).all()
            if not rows:
                OUTBOX_BACKLOG.set(0)
                return 0
            pending = []
            for row in rows:
                token = otel_context.attach(extract_context(row.headers))
                try:
                    headers = {k: v for k, v in row.headers.items() if k not in ("traceparent", "tracestate")}
                    headers["message-type"] = row.message_type
                    headers["message-id"] = str(row.message_id)
                    # Sent without waiting one by one; the idempotent producer keeps per-partition order.
                    pending.append(
                        await self.broker.publish(
                            row.body,
                            topic=row.topic,
                            key=row.message_key,
                            headers=headers,
                            correlation_id=str(row.message_id),
                            no_confirm=True,
                        )
                    )
                finally:
                    otel_context.detach(token)
            await asyncio.gather(*pending)
        self._sent = [row.id for row in rows]
        if len(rows) < self.batch_size:
            OUTBOX_BACKLOG.set(0)  # the read took every row committed before it
        for row in rows:
            OUTBOX_PUBLISHED.labels(row.topic).inc()
        return len(rows)
