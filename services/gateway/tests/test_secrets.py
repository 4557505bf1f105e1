"""Secrets from AWS Secrets Manager (botocore Stubber: no network) and the JWT key rotation."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import logging
import uuid
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from botocore.stub import Stubber

from tj_gateway.identity.tokens import TokenService
from tj_gateway.secret_source import SecretSource, SecretsUnavailable, parse_previous, rotated
from tj_gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SECRET_ID = "tradingjournal/test/app"
STORED = {"JWT_SECRET": "s" * 48, "JWT_KEY_ID": "k7", "JWT_PREVIOUS_SECRETS": "k6=" + "p" * 48}


def stubbed_client(*answers: dict[str, object]) -> tuple[object, Stubber]:
    client = boto3.client("secretsmanager", region_name="ap-south-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(client)
    for answer in answers:
        stubber.add_response("get_secret_value", answer, {"SecretId": SECRET_ID})
    stubber.activate()
    return client, stubber


def aws_settings(**extra: object) -> Settings:
    return Settings(secrets_source="aws", secrets_manager_secret_id=SECRET_ID, **extra)  # type: ignore[arg-type]


def test_environment_source_changes_nothing() -> None:
    settings = Settings()
    assert SecretSource(settings).apply(settings) is settings


def test_aws_secrets_override_the_environment_and_are_cached(caplog: pytest.LogCaptureFixture) -> None:
    client, stubber = stubbed_client({"Name": SECRET_ID, "SecretString": json.dumps(STORED)})
    source = SecretSource(aws_settings(), client=client)
    with caplog.at_level(logging.DEBUG):
        applied = source.apply(aws_settings())
        again = source.apply(aws_settings())  # cached: the stubber has a single answer queued
    stubber.assert_no_pending_responses()
    assert applied.jwt_secret.get_secret_value() == STORED["JWT_SECRET"]
    assert applied.jwt_key_id == "k7"
    assert again.jwt_previous_secrets.get_secret_value() == STORED["JWT_PREVIOUS_SECRETS"]
    # Never logged (nor shown by repr).
    assert STORED["JWT_SECRET"] not in caplog.text and STORED["JWT_SECRET"] not in repr(applied)
    tokens = TokenService(applied)
    token, _ = tokens.issue(uuid.uuid4())
    assert tokens.verify(token)


def test_aws_failure_without_a_cached_value_refuses_to_start() -> None:
    client = boto3.client("secretsmanager", region_name="ap-south-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(client)
    stubber.add_client_error("get_secret_value", "ResourceNotFoundException", "no such secret")
    stubber.activate()
    with pytest.raises(SecretsUnavailable) as caught:
        SecretSource(aws_settings(), client=client).apply(aws_settings())
    assert "ResourceNotFoundException" in str(caught.value)
    with pytest.raises(SecretsUnavailable):
        SecretSource(Settings(secrets_source="aws"))  # type: ignore[arg-type]


def test_a_failed_refresh_keeps_the_cached_secrets() -> None:
    client, stubber = stubbed_client({"Name": SECRET_ID, "SecretString": json.dumps(STORED)})
    stubber.add_client_error("get_secret_value", "InternalServiceError", "down")
    source = SecretSource(aws_settings(), client=client)
    assert source.values()["JWT_KEY_ID"] == "k7"
    assert source.values(force=True)["JWT_KEY_ID"] == "k7"


def test_rotation_keeps_old_tokens_valid() -> None:
    before = {"JWT_SECRET": "a" * 48, "JWT_KEY_ID": "k1", "JWT_PREVIOUS_SECRETS": ""}
    after = rotated(before)
    assert after["JWT_KEY_ID"] != "k1" and after["JWT_SECRET"] != before["JWT_SECRET"]
    assert parse_previous(after["JWT_PREVIOUS_SECRETS"]) == [("k1", "a" * 48)]
    old = TokenService(Settings(jwt_secret=before["JWT_SECRET"], jwt_key_id="k1"))  # type: ignore[arg-type]
    new = TokenService(
        Settings(
            jwt_secret=after["JWT_SECRET"],  # type: ignore[arg-type]
            jwt_key_id=after["JWT_KEY_ID"],
            jwt_previous_secrets=after["JWT_PREVIOUS_SECRETS"],  # type: ignore[arg-type]
        )
    )
    user = uuid.uuid4()
    assert new.verify(old.issue(user)[0]).user_id == user  # signed before: still valid
    assert new.verify(new.issue(user)[0]).user_id == user
    # Three rotations later the first key is gone (only two previous keys are kept).
    later = rotated(rotated(rotated(after, None), None), None)
    assert "k1" not in dict(parse_previous(later["JWT_PREVIOUS_SECRETS"]))
    assert len(parse_previous(later["JWT_PREVIOUS_SECRETS"])) == 2


def _script() -> ModuleType:
    path = ROOT / "deploy" / "scripts" / "rotate-jwt-secret"
    loader = importlib.machinery.SourceFileLoader("rotate_jwt_secret", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_rotate_script_on_an_env_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = tmp_path / ".env"
    env.write_text("# local\nJWT_SECRET=" + "z" * 48 + "\nJWT_KEY_ID=k1\nREDIS_URL=redis://x\n")
    assert _script().main(["--env-file", str(env)]) == 0
    values = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line and line[0] != "#")
    assert values["REDIS_URL"] == "redis://x"
    assert values["JWT_KEY_ID"] != "k1"
    assert values["JWT_PREVIOUS_SECRETS"] == "k1=" + "z" * 48
    out = capsys.readouterr().out
    assert values["JWT_SECRET"] not in out and "z" * 48 not in out


def test_rotate_script_on_secrets_manager() -> None:
    client = boto3.client("secretsmanager", region_name="ap-south-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(client)
    stubber.add_response("get_secret_value", {"SecretString": json.dumps(STORED)}, {"SecretId": SECRET_ID})
    stubber.add_response("put_secret_value", {"Name": SECRET_ID}, None)
    stubber.activate()
    kid = _script().rotate_aws(SECRET_ID, None, client)
    stubber.assert_no_pending_responses()
    assert kid != "k7"
