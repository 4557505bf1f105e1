"""The message envelope every command and event travels in (DESIGN §3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Fixed namespace: the same (user, Idempotency-Key) always yields the same command id.
IDEMPOTENCY_NAMESPACE = uuid.UUID("7b0c1f5e-3d1a-4c55-9a8e-2f6f0c9d4b11")


def command_id_for(user_id: uuid.UUID, idempotency_key: str | None) -> uuid.UUID:
    """A deterministic id for a client's Idempotency-Key, a fresh one without it."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}:{idempotency_key}")


def derived_id(source_id: uuid.UUID, kind: str) -> uuid.UUID:
    """The id of a message caused by ``source_id``; re-deriving it gives the same id, so
    a re-emitted result is de-duplicated downstream like any other repeat."""
    return uuid.uuid5(source_id, kind)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    user_id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    def key(self) -> bytes | None:
        """Kafka key: the user id, so one user's messages keep their order (DESIGN §3)."""
        return str(self.user_id).encode() if self.user_id else None

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)

    def caused(self, type_: str, payload: dict[str, Any], *, message_id: uuid.UUID | None = None) -> Envelope:
        """An event or command that this message causes, in the same correlation."""
        return Envelope(
            id=message_id or uuid.uuid4(),
            type=type_,
            user_id=self.user_id,
            correlation_id=self.correlation_id or self.id,
            causation_id=self.id,
            payload=payload,
        )
