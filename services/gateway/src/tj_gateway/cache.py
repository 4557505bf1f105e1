"""Read caching (issue 4 §8): GET answers of the trades list and analytics, cached in Redis under
per-user versioned keys, with ``ETag`` / ``If-None-Match`` → 304.

A key is ``cache:<user>:<version>:<digest of path, query and UTC day>``. The version is bumped by
every ``trades.events`` event of that user, in the gateway's reply listener *before* the waiting
write is answered (the reply event is one of those events), so a read after a write's 201 never
finds the old answer: it looks under the new version. It is bumped too by every change of the
user's plan (``billing.EntitlementsChanged``: the plan's history window may have changed). A read
that raced the write may store the old answer under the old version, where nobody looks any more;
entries expire after ``READ_CACHE_TTL``.

Pure ASGI middleware configured by path, so the endpoints (owned elsewhere) stay unaware of it.
It resolves the caller with the same :func:`authenticate` the endpoints use (once per request);
a caller it cannot authenticate goes through to the endpoint, which answers the error.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tj_common.errors import AppError
from tj_common.metrics import CACHE_HITS, CACHE_MISSES
from tj_common.settings import ServiceSettings

log = logging.getLogger(__name__)


# The GET paths whose answers are cached (full match).
CACHED_PATHS: tuple[str, ...] = (r"/api/v1/trades", r"/api/v1/analytics/[a-z-]+")
MAX_CACHED_BYTES = 512 * 1024
# KEYS[1]: the user's version key; ARGV: key prefix, ":<digest>". Returns {version, etag, body}.
_LOOKUP_LUA = """
local version = redis.call('GET', KEYS[1]) or '0'
local entry = redis.call('HMGET', ARGV[1] .. version .. ARGV[2], 'etag', 'body')
return {version, entry[1] or false, entry[2] or false}
"""


def cache_label(path: str) -> str:
    """The metrics label of a cached path: ``trades``, ``analytics_summary``..."""
    return path.removeprefix("/api/v1/").strip("/").replace("/", "_").replace("-", "_")


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates


def _raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class ReadCache:
    def __init__(self, redis: aioredis.Redis, settings: ServiceSettings) -> None:
        self.redis = redis
        self.namespace = f"{settings.kafka_topic_prefix}cache"
        self.ttl = settings.read_cache_ttl
        self.lookup_script: Any = redis.register_script(_LOOKUP_LUA)

    def version_key(self, user_id: uuid.UUID) -> str:
        return f"{self.namespace}:ver:{user_id}"

    async def bump(self, user_id: uuid.UUID) -> None:
        """Invalidates every cached read of the user (their data changed)."""
        await self.bump_many({user_id})

    async def bump_many(self, user_ids: Iterable[uuid.UUID]) -> None:
        """Invalidates every cached read of these users, in one round trip."""
        keys = [self.version_key(user_id) for user_id in user_ids]
        if not keys:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, max(self.ttl * 2, 3600))
            await pipe.execute()
        except (RedisError, OSError) as exc:
            # Without the bump a stale answer could be served: fail loudly in the logs. The entry
            # still expires after READ_CACHE_TTL.
            log.error("read cache version bump failed", extra={"fields": {"error": repr(exc)[:200]}})

    async def lookup(self, user_id: uuid.UUID, path: str, query: bytes) -> tuple[str, tuple[bytes, str] | None]:
        """The entry's key under the user's current version, and the entry if there is one
        (one round trip: the version and the entry are read by one script)."""
        # The UTC day is part of the key: a plan's history window (history_days) moves with it.
        day = datetime.now(UTC).date().isoformat().encode()
        canonical = path.encode() + b"?" + b"&".join(sorted(query.split(b"&"))) + b"@" + day
        digest = hashlib.sha256(canonical).hexdigest()[:32]
        prefix = f"{self.namespace}:{user_id}:"
        version, etag, body = await self.lookup_script(keys=[self.version_key(user_id)], args=[prefix, ":" + digest])
        key = f"{prefix}{int(version)}:{digest}"
        if etag is None or body is None:
            return key, None
        return key, (_raw(body), _raw(etag).decode())

    async def store(self, key: str, body: bytes, etag: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping={"etag": etag, "body": body})
        pipe.expire(key, self.ttl)
        await pipe.execute()


class ReadCacheMiddleware:
    def __init__(self, app: ASGIApp, paths: Sequence[str] = CACHED_PATHS) -> None:
        self.app = app
        self.pattern = re.compile("|".join(f"(?:{p})" for p in paths))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self.pattern.fullmatch(scope["path"]):
            await self.app(scope, receive, send)
            return
        cache: ReadCache | None = getattr(scope["app"].state, "read_cache", None)
        if cache is None:
            await self.app(scope, receive, send)
            return
        from tj_gateway.identity.dependencies import authenticate

        request = Request(scope, receive)
        try:
            principal = await authenticate(request)
        except AppError:
            await self.app(scope, receive, send)  # the endpoint answers the same error
            return
        label = cache_label(scope["path"])
        try:
            key, cached = await cache.lookup(principal.user_id, scope["path"], scope.get("query_string", b""))
        except (RedisError, OSError) as exc:
            log.warning("read cache unavailable", extra={"fields": {"error": repr(exc)[:200]}})
            await self.app(scope, receive, send)
            return
        if_none_match = request.headers.get("if-none-match")
        if cached is not None:
            CACHE_HITS.labels(label).inc()
            body, etag = cached
            await _answer(send, body, etag, if_none_match, b"hit")
            return
        CACHE_MISSES.labels(label).inc()
        await self._fill(scope, receive, send, cache, key, if_none_match)

    async def _fill(
        self, scope: Scope, receive: Receive, send: Send, cache: ReadCache, key: str, if_none_match: str | None
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await finish()
                return
            await send(message)

        async def finish() -> None:
            assert start is not None
            body = b"".join(chunks)
            if start["status"] != 200 or len(body) > MAX_CACHED_BYTES:
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            etag = etag_of(body)
            try:
                await cache.store(key, body, etag)
            except (RedisError, OSError) as exc:
                log.warning("read cache store failed", extra={"fields": {"error": repr(exc)[:200]}})
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"etag")]
            await _answer(send, body, etag, if_none_match, b"miss", headers)

        await self.app(scope, receive, capture)


async def _answer(
    send: Send,
    body: bytes,
    etag: str,
    if_none_match: str | None,
    outcome: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    base = [
        (k, v)
        for k, v in (headers or [(b"content-type", b"application/json")])
        if k.lower() not in (b"cache-control", b"vary")
    ]
    base += [
        (b"etag", etag.encode()),
        (b"cache-control", b"private, no-cache"),
        (b"vary", b"Authorization"),
        (b"x-cache", outcome),
    ]
    if etag_matches(if_none_match, etag):
        base = [(k, v) for k, v in base if k.lower() != b"content-type"]
        await send({"type": "http.response.start", "status": 304, "headers": base})
        await send({"type": "http.response.body", "body": b""})
        return
    base.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": base})
    await send({"type": "http.response.body", "body": body})
