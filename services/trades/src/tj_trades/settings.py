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
    # The background refresher recomputes one user at most once in this many seconds: a user's
    # stream of writes is projected every few seconds, each time with everything since, not once a
    # second (a refresh costs about the same for one new fill as for many). Reads never wait for
    # it: a query refreshes what it needs itself.
    projection_user_interval: float = Field(default=5.0, ge=0)
    # A large refresh's windows of at least this many executions have their round trips computed
    # in a child process forked for each (tj_trades.projection.FORK_ROWS): on a second core while
    # the refresher reads and prices the next window. 0: never fork (all in the refresher's
    # threads). The child lives for one window's computation and shares the refresher's memory
    # until it writes to it: ~200 MiB more at the peak of a 200,000-execution import.
    projection_fork_rows: int = Field(default=10_000, ge=0)
