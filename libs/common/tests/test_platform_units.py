"""Fast unit tests of the shared platform pieces (no infrastructure)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from tj_common.contracts.trades import RecordExecutions
from tj_common.db import describe_statement
from tj_common.envelope import Envelope, command_id_for, derived_id
from tj_common.health import health_report
from tj_common.settings import ServiceSettings, normalise_database_url, parse_duration
from tj_common.topics import ALL_TOPICS, CONSUMED_TOPICS, topic_names


def test_idempotency_key_gives_a_deterministic_command_id() -> None:
    user = uuid.uuid4()
    assert command_id_for(user, "k1") == command_id_for(user, "k1")
    assert command_id_for(user, "k1") != command_id_for(uuid.uuid4(), "k1")
    assert command_id_for(user, None) != command_id_for(user, None)
    source = uuid.uuid4()
    assert derived_id(source, "x") == derived_id(source, "x") != derived_id(source, "y")


def test_envelope_round_trip_and_causation() -> None:
    command = Envelope(type="trades.RecordExecutions", user_id=uuid.uuid4(), payload={"a": "1.10"})
    assert Envelope.decode(command.encode()) == command
    event = command.caused("trades.ExecutionsRecorded", {"ok": True})
    assert event.causation_id == command.id and event.correlation_id == command.id
    assert event.key() == str(command.user_id).encode()


def test_settings_parse_the_seed_formats() -> None:
    assert parse_duration("15m") == 900 and parse_duration("1h") == 3600 and parse_duration(42) == 42
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    assert (
        normalise_database_url("postgresql://u:p@h/db?sslmode=require") == "postgresql+asyncpg://u:p@h/db?ssl=require"
    )
    settings = ServiceSettings(jwt_expires_in="15m")  # type: ignore[arg-type]
    assert settings.jwt_expires_in == 900


def test_production_refuses_default_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        ServiceSettings(environment="production")
    strong = "x" * 40
    ok = ServiceSettings(
        environment="production",
        jwt_secret=strong,  # type: ignore[arg-type]
        s3_access_key="AKIAEXAMPLE",  # type: ignore[arg-type]
        s3_secret_key=strong,  # type: ignore[arg-type]
        razorpay_key_secret=strong,  # type: ignore[arg-type]
        razorpay_webhook_secret=strong,  # type: ignore[arg-type]
        database_url="postgresql://trades:a-real-password@db/prod",
    )
    assert ok.database_url.startswith("postgresql+asyncpg://")


def test_service_specific_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    class TradesSettings(ServiceSettings):
        service_name = "trades"

    monkeypatch.setenv("DATABASE_URL", "postgresql://shared:x@h/db")
    monkeypatch.setenv("TRADES_DATABASE_URL", "postgresql://trades:y@h/db")
    assert TradesSettings().database_url == "postgresql+asyncpg://trades:y@h/db"


def test_every_consumed_topic_has_a_dead_letter_topic() -> None:
    names = topic_names(6)
    for topic in CONSUMED_TOPICS:
        assert names[topic.dlq] == 1
    assert all(names[t.name] == 6 for t in ALL_TOPICS)


def test_statement_labels_for_query_metrics() -> None:
    assert describe_statement("INSERT INTO trades.executions (id) VALUES ($1)") == ("insert", "executions")
    assert describe_statement("SELECT 1") == ("select", "none")
    assert describe_statement('UPDATE "trades"."outbox" SET x=1') == ("update", "outbox")


def test_record_executions_contract_rejects_bad_fills() -> None:
    good = {
        "symbol": "INFY",
        "side": "buy",
        "quantity": "1",
        "price": "1500",
        "executed_at": "2026-01-02T09:15:00+05:30",
    }
    assert RecordExecutions.model_validate({"executions": [good]}).executions[0].quantity == 1
    for bad in (
        {**good, "quantity": "0"},
        {**good, "side": "short"},
        {**good, "executed_at": "2026-01-02T09:15:00"},  # no offset: ambiguous time zone
        {**good, "price": "1e400"},
        {**good, "unexpected": 1},
    ):
        with pytest.raises(ValidationError):
            RecordExecutions.model_validate({"executions": [bad]})
    with pytest.raises(ValidationError):
        RecordExecutions.model_validate({"executions": []})


async def test_health_report_degrades_on_any_failing_check() -> None:
    async def ok() -> bool:
        return True

    async def broken() -> None:
        raise ConnectionError("down")

    body, status = await health_report({"database": ok, "kafka": broken})
    assert status == 503 and body["status"] == "degraded"
    assert body["checks"] == {"database": True, "kafka": False}
    body, status = await health_report({"database": ok})
    assert status == 200 and body["status"] == "healthy"
