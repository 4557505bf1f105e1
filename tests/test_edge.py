"""The gateway's edge against the real stack: refresh-token rotation and reuse detection, logout,
/me, security headers, the body size limit, maintenance mode and CORS (DESIGN §6, §11)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness import ServiceProcess, auth, free_port, signup

ORIGIN = "https://app.example.test"


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_signup_and_login_return_a_refresh_token(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    assert user["refresh_token"] and user["token_type"] == "bearer"
    login = await client.post(
        "/api/v1/auth/login", json={"email": user["user"]["email"], "password": "a-long-password-1"}
    )
    assert login.status_code == 200, login.text
    assert login.json()["refresh_token"] not in ("", user["refresh_token"])


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    response = await refresh(client, user["refresh_token"])
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["refresh_token"] != user["refresh_token"]
    assert pair["user"]["id"] == user["user"]["id"]
    me = await client.get("/api/v1/me", headers=auth(pair["access_token"]))
    assert me.status_code == 200
    # The new refresh token works in turn.
    assert (await refresh(client, pair["refresh_token"])).status_code == 200


async def test_reuse_of_a_spent_token_revokes_the_family(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    first = user["refresh_token"]
    second = (await refresh(client, first)).json()["refresh_token"]
    third = (await refresh(client, second)).json()["refresh_token"]

    reused = await refresh(client, first)
    assert reused.status_code == 401
    assert reused.json()["error"] == "InvalidRefreshToken"
    assert reused.json()["request_id"]
    # The newest token of the family is revoked with it...
    assert (await refresh(client, third)).status_code == 401
    # ...but another login (another family) is untouched.
    other = await client.post(
        "/api/v1/auth/login", json={"email": user["user"]["email"], "password": "a-long-password-1"}
    )
    assert (await refresh(client, other.json()["refresh_token"])).status_code == 200


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await refresh(client, "not-a-token")
    assert response.status_code == 401
    assert response.json()["error"] == "InvalidRefreshToken"


async def test_logout_revokes_the_family(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    rotated = (await refresh(client, user["refresh_token"])).json()["refresh_token"]
    response = await client.post("/api/v1/auth/logout", json={"refresh_token": rotated})
    assert response.status_code == 204
    assert (await refresh(client, rotated)).status_code == 401
    # Logging out twice (or with an unknown token) is harmless.
    again = await client.post("/api/v1/auth/logout", json={"refresh_token": rotated})
    assert again.status_code == 204


async def test_me_returns_user_plan_and_entitlements(client: httpx.AsyncClient) -> None:
    user = await signup(client, plan=None)
    response = await client.get("/api/v1/me", headers=auth(user["access_token"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == user["user"]
    assert set(body["user"]) == {"id", "email", "name", "timezone", "created_at"}
    assert body["plan"] == "free"
    assert body["entitlements"]["max_accounts"] == 1
    assert body["entitlements"]["csv_import"] is True
    assert body["entitlements"]["api_access"] is False
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/health"),
        await client.get("/api/v1/me"),  # an error answer too
        await client.get("/api/openapi.json"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers  # production only
    # No CORS unless CORS_ORIGINS is set.
    response = await client.get("/api/health", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


def _has_example(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    if schema.get("examples") or schema.get("example") is not None:
        return True
    # An optional body (``Model | None``): the model's own examples.
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return bool(options) and all(_has_example(s, schemas) for s in options)


async def test_every_request_body_has_an_example(client: httpx.AsyncClient) -> None:
    """OpenAPI complete "with examples" (issue 4 §7): every request body of every operation."""
    spec = (await client.get("/api/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    missing, bodies = [], 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                bodies += 1
                if not (media.get("examples") or media.get("example") or _has_example(media["schema"], schemas)):
                    missing.append(f"{method.upper()} {path} ({media_type})")
    assert bodies >= 20
    assert not missing, f"request bodies without an example: {missing}"


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    user = await signup(client)
    big = b'{"executions": [' + b" " * (1024 * 1024 + 1) + b"]}"
    response = await client.post(
        "/api/v1/executions",
        content=big,
        headers=auth(user["access_token"], **{"Content-Type": "application/json"}),
    )
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "PayloadTooLarge"
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.fixture(scope="module")
def maintenance_gateway(services: dict[str, ServiceProcess]) -> Iterator[ServiceProcess]:
    """A second gateway with MAINTENANCE_MODE on and CORS allowed for one origin."""
    gateway = ServiceProcess("gateway", free_port(), services["gateway"].env)
    gateway.start({"MAINTENANCE_MODE": "true", "CORS_ORIGINS": f"{ORIGIN}, https://other.example.test"})
    try:
        gateway.wait_healthy()
        yield gateway
    finally:
        gateway.stop()


async def test_maintenance_mode_answers_503_except_health(maintenance_gateway: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=maintenance_gateway.url, timeout=30) as http:
        for method, path in (("GET", "/api/v1/me"), ("POST", "/api/v1/auth/login"), ("GET", "/api/docs")):
            response = await http.request(method, path)
            assert response.status_code == 503, (path, response.text)
            assert int(response.headers["retry-after"]) > 0
            body = response.json()
            assert body["error"] == "ServiceUnavailable"
            assert body["request_id"] == response.headers["x-request-id"]
            assert response.headers["x-content-type-options"] == "nosniff"
        assert (await http.get("/api/health")).status_code == 200
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200


async def test_cors_allows_only_the_configured_origins(maintenance_gateway: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=maintenance_gateway.url, timeout=30) as http:
        preflight = await http.options(
            "/api/v1/me",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        simple = await http.get("/api/health", headers={"Origin": ORIGIN})
        assert simple.headers["access-control-allow-origin"] == ORIGIN
        foreign = await http.get("/api/health", headers={"Origin": "https://evil.example.test"})
        assert "access-control-allow-origin" not in foreign.headers
