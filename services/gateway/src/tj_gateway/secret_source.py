"""Secrets from the environment or from AWS Secrets Manager (DESIGN §6), and the JWT key rotation.

``SECRETS_SOURCE=env`` (the default): the settings as read from the environment.
``SECRETS_SOURCE=aws``: the secret ``SECRETS_MANAGER_SECRET_ID`` holds a JSON object whose keys
are setting names (``JWT_SECRET``, ``JWT_KEY_ID``, ``JWT_PREVIOUS_SECRETS``, ...); its values win
over the environment. It is read through boto3, cached for ``SECRETS_CACHE_SECONDS``, and never
logged: only the names of the keys it held are.

:func:`rotated` is the rotation ``deploy/scripts/rotate-jwt-secret`` applies: a new random key
becomes ``JWT_SECRET`` under a new ``JWT_KEY_ID`` and the old one moves to
``JWT_PREVIOUS_SECRETS``, still accepted for verification, so tokens signed before the rotation
stay valid until they expire and nobody is logged out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import SecretStr

from tj_common.settings import ServiceSettings

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)

# Old keys kept for verification. Access tokens live JWT_EXPIRES_IN (15 min), so two rotations'
# worth is plenty; more only widens what a leaked old key could sign for.
KEEP_PREVIOUS = 2
JWT_FIELDS = ("JWT_SECRET", "JWT_KEY_ID", "JWT_PREVIOUS_SECRETS")


class SecretsUnavailable(RuntimeError):
    pass


class SecretSource:
    """Reads the configured secrets, at most once per ``SECRETS_CACHE_SECONDS``."""

    def __init__(self, settings: ServiceSettings, client: Any | None = None) -> None:
        self.kind = settings.secrets_source
        self.secret_id = settings.secrets_manager_secret_id
        self.region = settings.s3_region
        self.ttl = settings.secrets_cache_seconds
        self._client = client
        self._values: dict[str, str] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        if self.kind == "aws" and not self.secret_id:
            raise SecretsUnavailable("SECRETS_SOURCE=aws needs SECRETS_MANAGER_SECRET_ID")

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager", region_name=self.region)
        return self._client

    def values(self, *, force: bool = False) -> dict[str, str]:
        """Setting name → value from the source ({} for the environment source)."""
        if self.kind == "env":
            return {}
        with self._lock:
            if not force and time.monotonic() - self._read_at < self.ttl:
                return self._values
            try:
                answer = self.client.get_secret_value(SecretId=self.secret_id)
            except Exception as exc:  # botocore's errors are many; none may leak the value
                if self._values:
                    log.warning(
                        "secrets manager unreadable; keeping cached secrets",
                        extra={"fields": {"error": type(exc).__name__}},
                    )
                    self._read_at = time.monotonic()
                    return self._values
                raise SecretsUnavailable(f"cannot read secret {self.secret_id!r}: {type(exc).__name__}") from exc
            raw = answer.get("SecretString")
            if raw is None:
                raw = bytes(answer["SecretBinary"]).decode("utf-8")
            parsed = json.loads(raw)
            if not isinstance(parsed, dict):
                raise SecretsUnavailable(f"secret {self.secret_id!r} is not a JSON object")
            self._values = {str(k).upper(): str(v) for k, v in parsed.items()}
            self._read_at = time.monotonic()
            log.info("secrets read", extra={"fields": {"source": "aws", "names": sorted(self._values)}})
            return self._values

    def apply(self, settings: S, *, force: bool = False) -> S:
        """``settings`` with the source's values in place of the environment's."""
        values = self.values(force=force)
        if not values:
            return settings
        update: dict[str, Any] = {}
        fields = type(settings).model_fields
        for name, value in values.items():
            field = name.lower()
            if field not in fields:
                continue
            current = getattr(settings, field)
            update[field] = SecretStr(value) if isinstance(current, SecretStr) or "secret" in field else value
        return settings.model_copy(update=update)


def parse_previous(spec: str) -> list[tuple[str, str]]:
    """``"kid=secret,kid=secret"`` → pairs, in order (newest first)."""
    pairs = []
    for item in spec.split(","):
        if "=" in item:
            kid, secret = item.split("=", 1)
            if kid.strip() and secret.strip():
                pairs.append((kid.strip(), secret.strip()))
    return pairs


def new_key_id(now: datetime | None = None) -> str:
    """Sortable by time, unique even for two rotations in one second."""
    return "k" + (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(2)


def rotated(current: dict[str, str], now: datetime | None = None, keep: int = KEEP_PREVIOUS) -> dict[str, str]:
    """The JWT settings after one rotation (other keys of ``current`` are kept as they are)."""
    old_kid = current.get("JWT_KEY_ID") or "k1"
    old_secret = current.get("JWT_SECRET", "")
    kid = new_key_id(now)
    previous = [(k, s) for k, s in parse_previous(current.get("JWT_PREVIOUS_SECRETS", "")) if k not in (old_kid, kid)]
    if old_secret:
        previous.insert(0, (old_kid, old_secret))
    return {
        **current,
        # URL-safe base64 alphabet: no "," or "=", so JWT_PREVIOUS_SECRETS stays parseable.
        "JWT_SECRET": secrets.token_urlsafe(48),
        "JWT_KEY_ID": kid,
        "JWT_PREVIOUS_SECRETS": ",".join(f"{k}={s}" for k, s in previous[:keep]),
    }


def signing_key_reloader(
    source: SecretSource, tokens: Any, settings_class: type[ServiceSettings], min_interval: float = 10.0
) -> Callable[[], Awaitable[bool]]:
    """For a token signed with an unknown key id: re-read the secrets (at most every
    ``min_interval`` seconds) so a rotation made by another replica is picked up at once.
    True when new keys were loaded."""
    last = float("-inf")

    async def reload() -> bool:
        nonlocal last
        if source.kind == "env" or time.monotonic() - last < min_interval:
            return False
        last = time.monotonic()
        fresh = await asyncio.to_thread(lambda: source.apply(settings_class(), force=True))
        tokens.load(fresh)
        return True

    return reload
