"""Settings of the imports service."""

from __future__ import annotations

from typing import ClassVar

from tj_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "imports"

    # An import whose worker has not beaten its heartbeat for this long belongs to a dead process:
    # any replica fails it and has trades drop what it staged (a live worker beats every second).
    import_stall_seconds: float = 60.0
    # Imports read at once by one process.
    import_concurrency: int = 2
