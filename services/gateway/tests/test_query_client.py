"""The gateway's client of the internal query APIs: a read that met a dropped connection is asked
again once; a timeout or a second failure is a 503, never a retry storm."""

from __future__ import annotations

import httpx
import pytest

from tj_common.errors import ServiceUnavailable
from tj_gateway.queries import QueryClient


def client_failing(times: int, error: type[Exception]) -> tuple[QueryClient, list[int]]:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= times:
            raise error("boom", request=request)  # type: ignore[call-arg]
        return httpx.Response(200, json={"items": []})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return QueryClient(http, "http://trades", "trades"), calls


async def test_a_dropped_connection_is_retried_once() -> None:
    queries, calls = client_failing(1, httpx.RemoteProtocolError)
    assert await queries.get("/internal/executions", {"user_id": "u"}) == {"items": []}
    assert len(calls) == 2


async def test_two_failures_are_a_503() -> None:
    queries, calls = client_failing(2, httpx.ConnectError)
    with pytest.raises(ServiceUnavailable):
        await queries.get("/internal/executions", {})
    assert len(calls) == 2


async def test_a_timeout_is_not_retried() -> None:
    queries, calls = client_failing(1, httpx.ReadTimeout)
    with pytest.raises(ServiceUnavailable):
        await queries.get("/internal/executions", {})
    assert len(calls) == 1
