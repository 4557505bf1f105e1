"""Request and response bodies of the identity endpoints."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator


def known_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class SignupIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "trader@example.com", "password": "correct horse 42", "name": "Asha"}]
        },
    )

    email: EmailStr
    password: str = Field(min_length=10, max_length=256)
    name: str | None = Field(default=None, max_length=200)
    timezone: str = Field(default="Asia/Kolkata", max_length=64, description="IANA time zone")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


class LoginIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "trader@example.com", "password": "correct horse 42"}]},
    )

    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"refresh_token": "p6lZ0aQ2Ck3vJ1d8XbK9yTqH4sWmNf7rUe5gAoIcLxE"}]},
    )

    refresh_token: str = Field(min_length=1, max_length=512)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str | None
    timezone: str
    created_at: datetime


class TokenPair(BaseModel):
    user: UserOut
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class MeOut(BaseModel):
    user: UserOut
    plan: str
    entitlements: dict[str, int | bool | None]


class ProfileIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Asha", "timezone": "Asia/Kolkata"}]}
    )

    name: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64, description="IANA time zone")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else known_zone(value)


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"current_password": "correct horse 42", "new_password": "a new long phrase 7"}]
        },
    )

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"email": "trader@example.com"}]})

    email: EmailStr


class PasswordResetConfirmIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"token": "the token from the email", "new_password": "a new long phrase 7"}]},
    )

    token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(min_length=10, max_length=256)


class Accepted(BaseModel):
    detail: str
