"""The analytics cache of the trades query API, in Redis under per-user versioned keys.

A key is ``tj:trades:analytics:<user>:<version>:<endpoint>:<digest of the query>``. A user's
version (``tj:trades:version:<user>``) is bumped after every consumer transaction that applied a
command of that user commits, before its result event is published (the bump is scheduled ahead
of the outbox relay's wake-up), so a read after a write looks under the new version. Old entries
are never read again and expire after ``TTL_SECONDS``. When Redis is unavailable, reads are
computed (and counted as misses): the cache is an accelerator, never a dependency.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tj_common.consumer import Delivery, Handler
from tj_common.metrics import CACHE_HITS, CACHE_MISSES

log = logging.getLogger(__name__)

TTL_SECONDS = 3600
# KEYS[1]: the user's version key; ARGV: the entry key around the version. Returns {version, entry}.
_LOOKUP_LUA = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version .. ARGV[2]) or false}
"""


def version_key(user_id: uuid.UUID) -> str:
    return f"tj:trades:version:{user_id}"


class AnalyticsCache:
    def __init__(self, redis: aioredis.Redis, ttl: int = TTL_SECONDS) -> None:
        self.redis = redis
        self.ttl = ttl
        self._lookup: Any = redis.register_script(_LOOKUP_LUA)
        self.pending: set[uuid.UUID] = set()  # users written by the transaction in progress
        self._tasks: set[asyncio.Task[None]] = set()

    # -- writes -------------------------------------------------------------------------------
    def tracking(self, handler: Handler) -> Handler:
        """The handler, noting each message's user as changed."""

        async def tracked(session: Any, deliveries: list[Delivery]) -> None:
            self.pending.update(d.envelope.user_id for d in deliveries if d.envelope.user_id is not None)
            await handler(session, deliveries)

        return tracked

    def after_commit(self, then: Callable[[], None]) -> Callable[[], None]:
        """The consumer's on-commit callback: bump the written users' versions, then ``then``
        (the outbox relay's wake-up, which publishes the results)."""

        def committed() -> None:
            users, self.pending = self.pending, set()
            if users:
                task = asyncio.get_running_loop().create_task(self.bump(users))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            then()

        return committed

    async def bump(self, users: set[uuid.UUID]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for user_id in users:
                    pipe.incr(version_key(user_id))
                await pipe.execute()
        except (RedisError, OSError):
            log.warning("analytics cache: version bump failed", exc_info=True)

    # -- reads --------------------------------------------------------------------------------
    async def get_or_compute(
        self, user_id: uuid.UUID, name: str, params: dict[str, Any], compute: Callable[[], Awaitable[Any]]
    ) -> bytes:
        """The JSON answer of ``name`` for ``params``: cached, or computed and stored."""
        key = None
        try:
            query = json.dumps(params, sort_keys=True, default=str).encode()
            digest = hashlib.sha256(query).hexdigest()[:32]
            prefix, suffix = f"tj:trades:analytics:{user_id}:", f":{name}:{digest}"
            # One round trip: the user's version and the entry under it, read by one script.
            version, found = await self._lookup(keys=[version_key(user_id)], args=[prefix, suffix])
            key = f"{prefix}{int(version)}{suffix}"
            if isinstance(found, bytes):
                CACHE_HITS.labels(name).inc()
                return found
        except (RedisError, OSError):
            log.warning("analytics cache: read failed", exc_info=True)
        CACHE_MISSES.labels(name).inc()
        body = json.dumps(await compute(), separators=(",", ":")).encode()
        if key is not None:
            try:
                await self.redis.set(key, body, ex=self.ttl)
            except (RedisError, OSError):
                log.warning("analytics cache: write failed", exc_info=True)
        return body
