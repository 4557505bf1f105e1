"""The one registry of Kafka topics: names, partitions and retention (DESIGN §3)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

HOUR_MS = 3_600_000

# KAFKA_TOPIC_PREFIX namespaces every topic (test runs use their own, so they never replay a
# developer's or an earlier run's messages). Read once: every process of a run shares it.
TOPIC_PREFIX = os.environ.get("KAFKA_TOPIC_PREFIX", "")


@dataclass(frozen=True)
class Topic:
    base: str
    partitions: int | None = None  # None: the settings' default
    retention_hours: int | None = None  # None: the settings' default (long enough to replay)

    @property
    def name(self) -> str:
        return f"{TOPIC_PREFIX}{self.base}"

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


TRADES_COMMANDS = Topic("trades.commands")
TRADES_EVENTS = Topic("trades.events")
IMPORTS_COMMANDS = Topic("imports.commands")
IMPORTS_EVENTS = Topic("imports.events")
BILLING_COMMANDS = Topic("billing.commands")
BILLING_EVENTS = Topic("billing.events")
BILLING_WEBHOOKS = Topic("billing.webhooks")

ALL_TOPICS: tuple[Topic, ...] = (
    TRADES_COMMANDS,
    TRADES_EVENTS,
    IMPORTS_COMMANDS,
    IMPORTS_EVENTS,
    BILLING_COMMANDS,
    BILLING_EVENTS,
    BILLING_WEBHOOKS,
)
# Topics that consumers read with the exactly-once wrapper have a dead-letter twin.
CONSUMED_TOPICS: tuple[Topic, ...] = (
    TRADES_COMMANDS,
    TRADES_EVENTS,
    IMPORTS_COMMANDS,
    BILLING_COMMANDS,
    BILLING_WEBHOOKS,
)


def topic_names(default_partitions: int) -> dict[str, int]:
    names = {t.name: t.partitions or default_partitions for t in ALL_TOPICS}
    for t in CONSUMED_TOPICS:
        names[t.dlq] = 1
    return names


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="tj-ops")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def ensure_topics(
    bootstrap: str, default_partitions: int, retention_hours: int, replication_factor: int = 1
) -> list[str]:
    """Create every declared topic that is missing; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="tj-ops")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = topic_names(default_partitions)
        by_name = {t.name: t for t in ALL_TOPICS}
        new = []
        for name, partitions in wanted.items():
            if name in existing:
                continue
            retention = by_name[name].retention_hours if name in by_name else None
            hours = retention or retention_hours
            new.append(
                NewTopic(
                    name=name,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    topic_configs={"retention.ms": str(hours * HOUR_MS), "cleanup.policy": "delete"},
                )
            )
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        return [t.name for t in new]
    finally:
        await admin.close()
