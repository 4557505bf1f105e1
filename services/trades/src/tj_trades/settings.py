"""Settings of the trades service."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tj_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "trades"

    # Where the background projection refresher runs (tj_trades.projector): a child process of
    # the service (default), in the service process itself, or nowhere (a separate deployment
    # runs ``python -m tj_trades.projector``).
    projection_worker: Literal["process", "inline", "off"] = "process"
    # The child's scheduling priority below the service's (nice increment): commands first.
    projection_nice: int = Field(default=10, ge=0, le=19)
