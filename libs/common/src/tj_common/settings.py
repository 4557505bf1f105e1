"""Settings shared by every service: the variables of DESIGN §8 with local defaults.

Each service subclasses :class:`ServiceSettings` and sets ``service_name``. Local defaults make
``make dev`` work with nothing set; ``ENVIRONMENT=production`` refuses any default secret.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Every default secret below is for local development only; production refuses them.
DEFAULT_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEFAULT_S3_ACCESS_KEY = "tj-local-access"
DEFAULT_S3_SECRET_KEY = "tj-local-secret"
DEFAULT_RAZORPAY_KEY_ID = "rzp_test_localstandin"
DEFAULT_RAZORPAY_KEY_SECRET = "local-razorpay-key-secret"
DEFAULT_RAZORPAY_WEBHOOK_SECRET = "local-razorpay-webhook-secret"
# Razorpay's own API (the SDK appends /v1/...); anything else is a stand-in, never used with a live key.
RAZORPAY_API_URL = "https://api.razorpay.com"
LOCAL_RAZORPAY_PORT = 8090

LOCAL_PG_PORT = 55432
LOCAL_REDIS_PORT = 56379
LOCAL_KAFKA_PORT = 59092
LOCAL_S3_PORT = 59000
SERVICE_PORTS: dict[str, int] = {"gateway": 8000, "trades": 8001, "imports": 8002, "billing": 8003}
# The PostgreSQL role and schema each service owns (DESIGN §2).
SERVICE_SCHEMAS: dict[str, str] = {
    "gateway": "identity",
    "trades": "trades",
    "imports": "imports",
    "billing": "billing",
}

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


def parse_duration(value: str | int | float) -> int:
    """Seconds from ``900``, ``"900"``, ``"15m"``, ``"1h"`` or ``"7d"`` (the seed writes ``15m``)."""
    if isinstance(value, int | float):
        return int(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 900, 15m, 1h, 7d)")
    number, unit = int(match.group(1)), match.group(2) or "s"
    return number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def local_database_url(service: str, database: str = "trading_journal") -> str:
    return f"postgresql+asyncpg://{service}:{service}_local@127.0.0.1:{LOCAL_PG_PORT}/{database}"


class ServiceSettings(BaseSettings):
    """The environment of one service process."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    service_name: ClassVar[str] = "service"

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = Field(default=0, validation_alias=AliasChoices("SERVICE_PORT", "PORT"))
    instance_id: str = ""

    # Database (seed §2.2). A service-specific variable (e.g. TRADES_DATABASE_URL) wins over
    # DATABASE_URL so one .env can serve four processes with four roles.
    database_url: str = ""
    database_pool_size: int = 10

    redis_url: str = f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0"
    redis_token: SecretStr | None = None

    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_key_id: str = "k1"
    jwt_previous_secrets: SecretStr = SecretStr("")
    jwt_expires_in: int = 900
    # Refresh-token lifetime (opaque, stored hashed, rotated on use; DESIGN §6).
    refresh_token_expires_in: int = 30 * 86400

    s3_bucket: str = "tj-uploads"
    s3_region: str = "ap-south-1"
    s3_access_key: SecretStr = SecretStr(DEFAULT_S3_ACCESS_KEY)
    s3_secret_key: SecretStr = SecretStr(DEFAULT_S3_SECRET_KEY)
    s3_endpoint_url: str | None = f"http://127.0.0.1:{LOCAL_S3_PORT}"

    razorpay_key_id: str = DEFAULT_RAZORPAY_KEY_ID
    razorpay_key_secret: SecretStr = SecretStr(DEFAULT_RAZORPAY_KEY_SECRET)
    razorpay_webhook_secret: SecretStr = SecretStr(DEFAULT_RAZORPAY_WEBHOOK_SECRET)
    # The SDK's base_url (it appends /v1/...): Razorpay's API in production, the stand-in locally.
    razorpay_base_url: str = f"http://127.0.0.1:{LOCAL_RAZORPAY_PORT}"
    # Razorpay plan ids behind the paid plans (created in the Razorpay dashboard; the stand-in
    # knows these defaults).
    razorpay_plan_pro_monthly: str = "plan_local_pro_monthly"
    razorpay_plan_pro_yearly: str = "plan_local_pro_yearly"
    razorpay_plan_elite_monthly: str = "plan_local_elite_monthly"
    razorpay_plan_elite_yearly: str = "plan_local_elite_yearly"
    # One Razorpay API call: seconds before it times out, attempts on 5xx/timeouts, first backoff.
    razorpay_timeout: float = 5.0
    razorpay_max_attempts: int = 3
    razorpay_retry_backoff: float = 0.3
    # Dunning: a pending or halted subscription keeps its plan this long (seconds or 3d).
    billing_grace_period: int = 3 * 86400
    # How often billing looks for plans whose paid period or grace has ended (seconds).
    billing_sweep_interval: float = 30.0

    sentry_dsn: str | None = None
    grafana_api_key: SecretStr | None = None
    otel_exporter_otlp_endpoint: str | None = None

    enable_csv_import: bool = True
    enable_api_access: bool = False
    maintenance_mode: bool = False
    # Largest broker file an import accepts (gateway, 413 past it; the upload is counted as it
    # streams, so a larger one is never read whole).
    import_max_bytes: int = 50 * 1024 * 1024

    # Edge (gateway): browser origins allowed by CORS, comma-separated (empty: no CORS), and the
    # largest request body accepted by Content-Length (larger ones get 413).
    cors_origins: str = ""
    max_request_bytes: int = 1024 * 1024
    # Rate limits (gateway, GCRA in Redis): "<requests>/<period>", the period as in 15m, 1h.
    rate_limit_signup_per_ip: str = "100/10m"
    rate_limit_signup_per_email: str = "5/1h"
    rate_limit_login_per_ip: str = "300/1m"
    rate_limit_login_per_email: str = "10/1m"
    rate_limit_password_reset: str = "5/1h"
    rate_limit_api: str = "6000/1m"
    # Seconds a gateway keeps the runtime flags it read from Redis (MAINTENANCE_MODE, ...).
    flags_cache_seconds: float = 2.0
    # Seconds a cached read (trades lists, analytics) lives in Redis; writes invalidate sooner.
    read_cache_ttl: int = 300
    # argon2id cost: about 100 ms per hash on the reference machine (bench/results/login.json).
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 56 * 1024
    argon2_parallelism: int = 1
    # Outgoing mail (password reset). Locally the mail sink of `make dev` (deploy/local/mailsink.py).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_from: str = "Trading Journal <no-reply@tradingjournal.local>"
    # The page that takes a reset token (the token is appended as ?token=...).
    password_reset_url: str = "http://127.0.0.1:8000/reset-password"
    password_reset_expires_in: int = 3600
    # Where secrets come from: "env" (the environment) or "aws" (AWS Secrets Manager: the JSON
    # object stored under SECRETS_MANAGER_SECRET_ID, whose keys are setting names).
    secrets_source: Literal["env", "aws"] = "env"
    secrets_manager_secret_id: str = ""
    secrets_cache_seconds: int = 300

    kafka_bootstrap_servers: str = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
    kafka_topic_prefix: str = ""
    kafka_publish_timeout: float = 3.0
    topic_retention_hours: int = 168
    topic_partitions: int = 6
    topic_replication_factor: int = 1

    # Read path: the owning services' internal query APIs (DESIGN §2).
    trades_query_url: str = f"http://127.0.0.1:{SERVICE_PORTS['trades']}"
    imports_query_url: str = f"http://127.0.0.1:{SERVICE_PORTS['imports']}"
    billing_query_url: str = f"http://127.0.0.1:{SERVICE_PORTS['billing']}"

    # How long the gateway waits for the owning service's confirmation (DESIGN §5).
    command_reply_timeout: float = 2.0
    # Consumer: bounded retries before a message goes to the dead-letter topic.
    consumer_max_attempts: int = 3
    consumer_retry_backoff: float = 0.2
    consumer_batch_size: int = 500
    # Bytes fetched per partition at most: several import batches (~0.7 MB each) per transaction.
    consumer_fetch_bytes_per_partition: int = 4 * 1024 * 1024
    # How long processed message ids are kept for de-duplication (and command status).
    message_dedup_retention_hours: int = 168

    @field_validator("jwt_expires_in", "refresh_token_expires_in", "password_reset_expires_in", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("billing_grace_period", mode="before")
    @classmethod
    def _grace(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("razorpay_base_url")
    @classmethod
    def _razorpay_base(cls, value: str) -> str:
        # The SDK appends /v1/<resource> itself; a URL written with /v1 would double it.
        value = value.rstrip("/")
        return value[: -len("/v1")] if value.endswith("/v1") else value

    @model_validator(mode="before")
    @classmethod
    def _service_overrides(cls, data: Any) -> Any:
        """Let ``<SERVICE>_DATABASE_URL`` and ``<SERVICE>_PORT`` pick this service's values."""

        if not isinstance(data, dict):
            return data
        prefix = cls.service_name.upper()
        for field in ("database_url",):
            specific = os.environ.get(f"{prefix}_{field.upper()}")
            if specific:
                data[field] = specific
        return data

    @model_validator(mode="after")
    def _fill_and_check(self) -> ServiceSettings:
        if not self.database_url:
            database = (
                os.environ.get("TJ_TEST_DATABASE", "trading_journal_test")
                if self.environment == "test"
                else "trading_journal"
            )
            self.database_url = local_database_url(self.service_name, database)
        self.database_url = normalise_database_url(self.database_url)
        if not self.port:
            self.port = SERVICE_PORTS.get(self.service_name, 8000)
        if not self.instance_id:
            import socket

            self.instance_id = f"{socket.gethostname()}-{os.getpid()}"
        if self.environment == "production":
            self._refuse_default_secrets()
        if self.razorpay_key_id.startswith("rzp_live_") and self.razorpay_base_url.rstrip("/") != RAZORPAY_API_URL:
            raise ValueError(
                f"refusing to start: a live Razorpay key (rzp_live_...) with RAZORPAY_BASE_URL="
                f"{self.razorpay_base_url!r}; live keys go only to {RAZORPAY_API_URL}"
            )
        return self

    def _refuse_default_secrets(self) -> None:
        defaults = {
            "JWT_SECRET": (self.jwt_secret, DEFAULT_JWT_SECRET),
            "S3_ACCESS_KEY": (self.s3_access_key, DEFAULT_S3_ACCESS_KEY),
            "S3_SECRET_KEY": (self.s3_secret_key, DEFAULT_S3_SECRET_KEY),
            "RAZORPAY_KEY_SECRET": (self.razorpay_key_secret, DEFAULT_RAZORPAY_KEY_SECRET),
            "RAZORPAY_WEBHOOK_SECRET": (self.razorpay_webhook_secret, DEFAULT_RAZORPAY_WEBHOOK_SECRET),
        }
        bad = [name for name, (value, default) in defaults.items() if value.get_secret_value() == default]
        if "_local@" in self.database_url:
            bad.append("DATABASE_URL")
        if len(self.jwt_secret.get_secret_value()) < 32:
            bad.append("JWT_SECRET (shorter than 32 characters)")
        if bad:
            raise ValueError("refusing to start in production with default or weak secrets: " + ", ".join(bad))

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def db_schema(self) -> str:
        return SERVICE_SCHEMAS[self.service_name]

    @property
    def consumer_group(self) -> str:
        # Namespaced like the topics, so isolated runs on one cluster never share a group.
        return f"{self.kafka_topic_prefix}tj-{self.service_name}"


def normalise_database_url(url: str) -> str:
    """Accept the seed's ``postgresql://...?sslmode=require`` URLs and run them on asyncpg
    (which spells the TLS option ``ssl``)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+asyncpg://" + url[len(prefix) :]
    return re.sub(r"([?&])sslmode=", r"\1ssl=", url)
