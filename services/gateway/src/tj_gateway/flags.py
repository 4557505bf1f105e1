"""Runtime flags: ``MAINTENANCE_MODE``, ``ENABLE_CSV_IMPORT`` and ``ENABLE_API_ACCESS``.

A flag set in Redis wins over the environment, so operators can flip one on every replica
without a restart; each replica keeps what it read for ``FLAGS_CACHE_SECONDS``. A flag cleared
from Redis (or Redis unreachable) falls back to the environment's value.

Operators::

    uv run python -m tj_gateway.flags show
    uv run python -m tj_gateway.flags set MAINTENANCE_MODE true
    uv run python -m tj_gateway.flags clear MAINTENANCE_MODE
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tj_common.settings import ServiceSettings

log = logging.getLogger(__name__)

FLAG_NAMES = ("MAINTENANCE_MODE", "ENABLE_CSV_IMPORT", "ENABLE_API_ACCESS")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def flags_key(settings: ServiceSettings) -> str:
    # Namespaced like the topics: an isolated run never flips a developer's flags.
    return f"{settings.kafka_topic_prefix}flags"


def parse_flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"not a flag value: {value!r} (use true or false)")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def environment_flags(settings: ServiceSettings) -> dict[str, bool]:
    return {
        "MAINTENANCE_MODE": settings.maintenance_mode,
        "ENABLE_CSV_IMPORT": settings.enable_csv_import,
        "ENABLE_API_ACCESS": settings.enable_api_access,
    }


class Flags:
    def __init__(self, redis: aioredis.Redis, settings: ServiceSettings) -> None:
        self.redis = redis
        self.key = flags_key(settings)
        self.defaults = environment_flags(settings)
        self.ttl = settings.flags_cache_seconds
        self._values = dict(self.defaults)
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def snapshot(self) -> dict[str, bool]:
        if time.monotonic() - self._read_at < self.ttl:
            return self._values
        async with self._lock:
            if time.monotonic() - self._read_at < self.ttl:
                return self._values
            try:
                stored = await self.redis.hgetall(self.key)
            except (RedisError, OSError) as exc:
                log.warning("flags unreadable; keeping the last known", extra={"fields": {"error": repr(exc)[:200]}})
                stored = None
            if stored is not None:
                values = dict(self.defaults)
                for raw_name, raw_value in stored.items():
                    name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
                    value = raw_value.decode() if isinstance(raw_value, bytes) else str(raw_value)
                    if name in values:
                        try:
                            values[name] = parse_flag(value)
                        except ValueError:
                            log.warning("ignoring bad flag value", extra={"fields": {"flag": name}})
                self._values = values
            self._read_at = time.monotonic()
            return self._values

    async def enabled(self, name: str) -> bool:
        return (await self.snapshot())[name]

    async def maintenance(self) -> bool:
        return await self.enabled("MAINTENANCE_MODE")


async def set_flag(redis: aioredis.Redis, settings: ServiceSettings, name: str, value: bool | None) -> None:
    """Sets a flag for every replica (None: clear it, back to the environment's value)."""
    if name not in FLAG_NAMES:
        raise ValueError(f"unknown flag {name!r}; one of {', '.join(FLAG_NAMES)}")
    if value is None:
        await redis.hdel(flags_key(settings), name)
    else:
        await redis.hset(flags_key(settings), name, "true" if value else "false")


async def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tj_gateway.flags", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("show", help="every flag: its value now and where it comes from")
    setter = sub.add_parser("set", help="set a flag on every replica")
    setter.add_argument("name", choices=FLAG_NAMES)
    setter.add_argument("value", type=parse_flag)
    clearer = sub.add_parser("clear", help="back to the environment's value")
    clearer.add_argument("name", choices=FLAG_NAMES)
    args = parser.parse_args(argv)

    from tj_gateway.settings import Settings

    settings = Settings()
    redis = aioredis.from_url(
        settings.redis_url, password=settings.redis_token.get_secret_value() if settings.redis_token else None
    )
    try:
        if args.action == "set":
            await set_flag(redis, settings, args.name, args.value)
        elif args.action == "clear":
            await set_flag(redis, settings, args.name, None)
        raw = await redis.hgetall(flags_key(settings))
        stored = {_text(k): _text(v) for k, v in raw.items()}
        for name, default in environment_flags(settings).items():
            source = "redis" if name in stored else "environment"
            value = parse_flag(stored[name]) if name in stored else default
            print(f"{name}={'true' if value else 'false'} ({source})")
    finally:
        await redis.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
