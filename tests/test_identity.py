"""Identity against the real stack: password change, password reset through the local mail sink,
email normalisation, the user's time zone, and re-hashing when the argon2 cost changes."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.harness import ROOT, ServiceProcess, auth, eventually, free_port, signup

PASSWORD = "a-long-password-1"


def load_mailsink() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mailsink", ROOT / "deploy" / "local" / "mailsink.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mailsink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, Path, int]]:
    module = load_mailsink()
    maildir = tmp_path_factory.mktemp("mail")
    port = free_port()
    controller = module.start(maildir, "127.0.0.1", port)
    try:
        yield module, maildir, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def mail_gateway(services: dict[str, ServiceProcess], mailsink: tuple[ModuleType, Path, int]) -> Iterator[str]:
    """A second gateway sending mail to the sink, with a cheaper argon2 cost than the first."""
    gateway = ServiceProcess("gateway", free_port(), services["gateway"].env)
    gateway.start(
        {"SMTP_PORT": str(mailsink[2]), "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8192", "ARGON2_PARALLELISM": "1"}
    )
    try:
        gateway.wait_healthy()
        yield gateway.url
    finally:
        gateway.stop()


@pytest.fixture
async def mail_client(mail_gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mail_gateway, timeout=30) as http:
        yield http


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def stored_hash(email: str) -> str:
    from tj_gateway.settings import Settings

    engine = create_async_engine(Settings().database_url)
    try:
        async with engine.connect() as conn:
            value = (
                await conn.execute(text("SELECT password_hash FROM identity.users WHERE email = :e"), {"e": email})
            ).scalar_one()
    finally:
        await engine.dispose()
    return str(value)


async def test_password_change_needs_the_current_password_and_ends_other_sessions(
    client: httpx.AsyncClient,
) -> None:
    user = await signup(client)
    email = user["user"]["email"]
    other_session = (await login(client, email)).json()
    headers = auth(user["access_token"])

    wrong = await client.post(
        "/api/v1/auth/password",
        json={"current_password": "not-it-at-all", "new_password": "brand new phrase 9"},
        headers=headers,
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "InvalidCredentials"
    short = await client.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=headers
    )
    assert short.status_code == 422 and short.json()["error"] == "ValidationError" and short.json()["request_id"]

    changed = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "brand new phrase 9"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    pair = changed.json()
    # Every earlier refresh token is revoked; the pair just issued works.
    for token in (user["refresh_token"], other_session["refresh_token"]):
        assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": token})).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 200
    assert (await login(client, email)).status_code == 401
    assert (await login(client, email, "brand new phrase 9")).status_code == 200


async def test_password_reset_by_emailed_single_use_token(
    mail_client: httpx.AsyncClient, mailsink: tuple[ModuleType, Path, int]
) -> None:
    module, maildir, _ = mailsink
    user = await signup(mail_client)
    email = user["user"]["email"]

    asked = await mail_client.post("/api/v1/auth/password-reset", json={"email": email.upper()})
    unknown = await mail_client.post(
        "/api/v1/auth/password-reset", json={"email": f"nobody-{uuid.uuid4().hex}@example.com"}
    )
    # The same answer whether or not the account exists.
    assert asked.status_code == unknown.status_code == 202
    assert asked.json()["detail"] == unknown.json()["detail"]

    async def mail_arrived() -> list[Any]:
        return module.messages(maildir, to=email)  # type: ignore[no-any-return]

    messages = await eventually(mail_arrived, timeout=15)
    assert len(messages) == 1
    body = messages[0].get_content()
    token = re.search(r"\?token=([A-Za-z0-9_-]+)", body)
    assert token, body
    assert "no-reply" in str(messages[0]["From"])

    bad = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": "x" * 43, "new_password": "reset phrase 12345"}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "InvalidResetToken"
    done = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token.group(1), "new_password": "reset phrase 12345"}
    )
    assert done.status_code == 204, done.text
    # Single use; sessions from before are gone; the new password works, the old does not.
    again = await mail_client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token.group(1), "new_password": "another phrase 12345"}
    )
    assert again.status_code == 400
    assert (
        await mail_client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
    ).status_code == 401
    assert (await login(mail_client, email)).status_code == 401
    assert (await login(mail_client, email, "reset phrase 12345")).status_code == 200
    await asyncio.sleep(0.5)
    assert len(module.messages(maildir, to=email)) == 1  # and no second mail was sent


async def test_email_is_normalised(client: httpx.AsyncClient) -> None:
    local = f"Asha.K-{uuid.uuid4().hex[:8]}"
    created = await client.post(
        "/api/v1/auth/signup", json={"email": f"  {local}@Example.COM ".strip(), "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    assert created.json()["user"]["email"] == f"{local.lower()}@example.com"
    assert (await login(client, f"{local.upper()}@EXAMPLE.com")).status_code == 200
    taken = await client.post(
        "/api/v1/auth/signup", json={"email": f"{local.lower()}@example.com", "password": PASSWORD}
    )
    assert taken.status_code == 409 and taken.json()["error"] == "EmailTaken"


async def test_time_zone_per_user(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/signup",
        json={"email": f"tz-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "timezone": "Europe/London"},
    )
    assert response.status_code == 201
    user = response.json()
    assert user["user"]["timezone"] == "Europe/London"
    headers = auth(user["access_token"])
    changed = await client.patch("/api/v1/me", json={"timezone": "Asia/Kolkata", "name": "Asha"}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["user"]["timezone"] == "Asia/Kolkata" and changed.json()["user"]["name"] == "Asha"
    bad = await client.patch("/api/v1/me", json={"timezone": "Mars/Olympus"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"] == "ValidationError"
    assert (await client.get("/api/v1/me", headers=headers)).json()["user"]["timezone"] == "Asia/Kolkata"


async def test_login_rehashes_when_the_argon2_cost_changes(
    client: httpx.AsyncClient, mail_client: httpx.AsyncClient
) -> None:
    user = await signup(client)  # hashed by the first gateway (the settings' default cost)
    email = user["user"]["email"]
    before = await stored_hash(email)
    assert "m=57344,t=2" in before
    assert (await login(mail_client, email)).status_code == 200  # the second gateway: t=1, 8 MiB
    after = await stored_hash(email)
    assert "m=8192,t=1" in after and after != before
    assert (await login(client, email)).status_code == 200  # both verify either hash
