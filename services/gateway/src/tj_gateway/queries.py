"""The gateway's client of the services' internal query APIs."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from tj_common.errors import AppError, NotFound, ServiceUnavailable

log = logging.getLogger(__name__)


class QueryClient:
    def __init__(self, client: httpx.AsyncClient, base_url: str, service: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.service = service

    async def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        clean = {k: v for k, v in params.items() if v is not None}
        url = f"{self.base_url}{path}"
        try:
            try:
                response = await self.client.get(url, params=clean)
            except httpx.TransportError as exc:
                if isinstance(exc, httpx.TimeoutException):
                    raise
                # A pooled connection the service closed (a restart, a replica gone): a read is
                # safe to ask again, once, on a fresh connection.
                log.info("query retried", extra={"fields": {"target": self.service, "error": repr(exc)[:200]}})
                response = await self.client.get(url, params=clean)
        except httpx.HTTPError as exc:
            log.warning(
                "query failed", extra={"fields": {"target": self.service, "path": path, "error": repr(exc)[:200]}}
            )
            raise ServiceUnavailable(f"the {self.service} service is not reachable", retry_after=5) from exc
        if response.status_code == 404:
            raise NotFound("not found")
        if response.status_code >= 500:
            raise ServiceUnavailable(f"the {self.service} service failed to answer", retry_after=5)
        if response.status_code >= 400:
            body = response.json()
            error = AppError(str(body.get("detail", "bad request")), code=body.get("error"))
            error.status_code = response.status_code
            raise error
        data: dict[str, Any] = response.json()
        return data
