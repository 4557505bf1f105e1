"""The health check of seed §6.1: database, redis, storage and kafka, each true or false."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[Any]]


async def _run(name: str, check: Check, timeout: float) -> bool:
    try:
        result = await asyncio.wait_for(check(), timeout=timeout)
        return result is not False
    except Exception as exc:
        log.warning("health check failed", extra={"fields": {"check": name, "error": repr(exc)[:300]}})
        return False


async def health_report(checks: dict[str, Check], timeout: float = 2.0) -> tuple[dict[str, Any], int]:
    names = list(checks)
    results = await asyncio.gather(*(_run(n, checks[n], timeout) for n in names))
    outcome = dict(zip(names, results, strict=True))
    healthy = all(outcome.values())
    body = {
        "status": "healthy" if healthy else "degraded",
        "checks": outcome,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return body, 200 if healthy else 503


async def health_response(checks: dict[str, Check], timeout: float = 2.0) -> JSONResponse:
    body, status = await health_report(checks, timeout)
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
