"""Pure pieces of the edge: refresh-token verdicts and hashing, entitlements, the ASGI middleware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tj_common.errors import install_error_handlers
from tj_common.settings import parse_duration
from tj_gateway.edge import (
    BodySizeLimitMiddleware,
    MaintenanceMiddleware,
    SecurityHeadersMiddleware,
    security_headers,
)
from tj_gateway.identity.entitlements import FREE_STATE, me_entitlements
from tj_gateway.identity.refresh import StoredToken, Verdict, hash_refresh_token, judge, new_refresh_token
from tj_gateway.settings import Settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)


def test_refresh_tokens_are_random_and_hashed() -> None:
    one, two = new_refresh_token(), new_refresh_token()
    assert one != two and len(one) >= 43
    assert hash_refresh_token(one) == hash_refresh_token(one)
    assert len(hash_refresh_token(one)) == 64 and one not in hash_refresh_token(one)


@pytest.mark.parametrize(
    ("stored", "verdict"),
    [
        (None, Verdict.UNKNOWN),
        (StoredToken(LATER, None, None), Verdict.VALID),
        (StoredToken(NOW - timedelta(seconds=1), None, None), Verdict.EXPIRED),
        (StoredToken(NOW, None, None), Verdict.EXPIRED),
        (StoredToken(LATER, NOW, None), Verdict.REUSED),
        (StoredToken(LATER, None, NOW), Verdict.REVOKED),
        (StoredToken(LATER, NOW, NOW), Verdict.REVOKED),
    ],
)
def test_judge(stored: StoredToken | None, verdict: Verdict) -> None:
    assert judge(stored, NOW) is verdict


def test_refresh_lifetime_setting() -> None:
    assert Settings().refresh_token_expires_in == parse_duration("30d")
    assert Settings(refresh_token_expires_in="12h").refresh_token_expires_in == 12 * 3600  # type: ignore[arg-type]


def test_cors_origins_setting() -> None:
    assert Settings().cors_origin_list == []
    settings = Settings(cors_origins=" https://a.test, ,https://b.test ")
    assert settings.cors_origin_list == ["https://a.test", "https://b.test"]
    assert Settings().max_request_bytes == 1024 * 1024


def test_free_plan_entitlements_follow_the_flags() -> None:
    flags = {"ENABLE_CSV_IMPORT": True, "ENABLE_API_ACCESS": False, "MAINTENANCE_MODE": False}
    free = me_entitlements(FREE_STATE, flags)
    assert free["csv_import"] is True and free["api_access"] is False
    assert me_entitlements(FREE_STATE, {**flags, "ENABLE_CSV_IMPORT": False})["csv_import"] is False
    # The free plan has no API access even when the deployment enables the feature.
    assert me_entitlements(FREE_STATE, {**flags, "ENABLE_API_ACCESS": True})["api_access"] is False
    assert free["max_accounts"] == 1


def test_hsts_only_in_production() -> None:
    assert b"strict-transport-security" not in dict(security_headers(False))
    assert dict(security_headers(True))[b"strict-transport-security"].startswith(b"max-age=")


def _app(maintenance: bool = False, max_bytes: int = 10, production: bool = False) -> httpx.AsyncClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/echo")
    async def echo(body: dict[str, str]) -> dict[str, str]:
        return body

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_bytes)
    app.add_middleware(MaintenanceMiddleware, enabled=maintenance)
    app.add_middleware(SecurityHeadersMiddleware, production=production)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_body_limit() -> None:
    async with _app(max_bytes=20) as client:
        assert (await client.post("/echo", json={"a": "b"})).status_code == 200
        response = await client.post("/echo", json={"a": "b" * 30})
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"
    assert response.headers["x-frame-options"] == "DENY"


async def test_body_limit_without_content_length() -> None:
    """A chunked body (no Content-Length) is cut off at the limit while it is read."""

    async def chunks(count: int):  # type: ignore[no-untyped-def]
        yield b'{"a": "'
        for _ in range(count):
            yield b"b" * 8
        yield b'"}'

    async with _app(max_bytes=40) as client:
        small = await client.post("/echo", content=chunks(2), headers={"content-type": "application/json"})
        assert small.status_code == 200, small.text
        big = await client.post("/echo", content=chunks(20), headers={"content-type": "application/json"})
    assert "content-length" not in big.request.headers
    assert big.status_code == 413
    assert big.json()["error"] == "PayloadTooLarge"


async def test_maintenance_spares_health() -> None:
    async with _app(maintenance=True) as client:
        response = await client.post("/echo", json={})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "300"
        assert response.json()["error"] == "ServiceUnavailable"
        assert (await client.get("/api/health")).status_code == 200


async def test_security_headers_and_hsts() -> None:
    async with _app(production=True) as production, _app() as development:
        response = await production.get("/api/health")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "max-age" in response.headers["strict-transport-security"]
        assert "strict-transport-security" not in (await development.get("/api/health")).headers
