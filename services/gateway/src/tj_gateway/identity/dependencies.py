"""The authentication dependency: an access token (JWT) or an API key (``tj_...``), then the
caller's API rate limit. Every user-scoped endpoint takes ``CurrentUser``.

The caller is resolved once per request and kept on the request state, so the read cache
(which must know the user before the endpoint runs) and the endpoint share one lookup and one
rate-limit count.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from tj_common.errors import Forbidden, Unauthorized
from tj_gateway.apikeys import repository as api_key_repository
from tj_gateway.apikeys.keys import hash_api_key, looks_like_api_key, scope_for
from tj_gateway.identity.tokens import InvalidToken, TokenService, UnknownKey
from tj_gateway.models import users
from tj_gateway.ratelimit import RateLimiter

bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login, or an API key (tj_...)")

_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}
# How long a replica trusts that a token's user still exists before asking the database again:
# one query per user now and then instead of one per request on the hot read path. While the
# replica hears deletions as they happen (tj_gateway.identity.deletions: the database notifies every
# deleted user), a deleted user is forgotten at once and the memory is only a safety net; while it
# does not, a deletion is noticed within the short period.
USER_CHECK_SECONDS = 5.0
USER_CHECK_SECONDS_LISTENING = 60.0


class RecentUsers:
    def __init__(self, ttl: float, ttl_listening: float, max_size: int = 100_000) -> None:
        self.ttl = ttl
        self.ttl_listening = ttl_listening
        self.max_size = max_size
        self.seen: dict[uuid.UUID, float] = {}
        # Users heard deleted: a check that read the user just before the deletion must not
        # remember them afterwards.
        self.gone: dict[uuid.UUID, float] = {}
        self.listening = False  # set by the deletion listener while it is connected

    def fresh(self, user_id: uuid.UUID) -> bool:
        until = self.seen.get(user_id)
        return until is not None and until > time.monotonic()

    def add(self, user_id: uuid.UUID) -> None:
        if user_id in self.gone:
            return
        if len(self.seen) >= self.max_size:
            self.seen.clear()
        self.seen[user_id] = time.monotonic() + (self.ttl_listening if self.listening else self.ttl)

    def forget(self, user_id: uuid.UUID) -> None:
        now = time.monotonic()
        self.seen.pop(user_id, None)
        if len(self.gone) >= self.max_size:
            self.gone = {u: at for u, at in self.gone.items() if at > now - self.ttl_listening}
        self.gone[user_id] = now

    def listen(self, listening: bool) -> None:
        """The deletion listener connected or lost: either way, what was learnt before is dropped
        (a deletion may have gone unheard)."""
        self.listening = listening
        self.seen.clear()


KNOWN_USERS = RecentUsers(USER_CHECK_SECONDS, USER_CHECK_SECONDS_LISTENING)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, through an access token or through one of their API keys."""

    user_id: uuid.UUID
    token_id: str | None = None
    expires_at: datetime | None = None
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[str] = field(default_factory=lambda: frozenset({"read", "write"}))

    @property
    def rate_subject(self) -> str:
        return f"key:{self.api_key_id}" if self.api_key_id else f"user:{self.user_id}"


def token_service(request: Request) -> TokenService:
    service: TokenService = request.app.state.tokens
    return service


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def _from_api_key(request: Request, key: str) -> Principal:
    from tj_gateway.identity.entitlements import check_entitlement

    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        row = await api_key_repository.by_hash(session, hash_api_key(key))
        if row is None or row["revoked_at"] is not None:
            raise Unauthorized("unknown or revoked API key", headers=_UNAUTHORIZED_HEADERS, code="InvalidApiKey")
        await api_key_repository.touch(session, row["id"])
    principal = Principal(user_id=row["user_id"], api_key_id=row["id"], scopes=frozenset(row["scopes"]))
    # A key stops working when the deployment or the plan stops allowing API access.
    await check_entitlement(request, principal.user_id, "api_access")
    needed = scope_for(request.method)
    if needed not in principal.scopes:
        raise Forbidden(f"this API key lacks the {needed!r} scope", code="InsufficientScope")
    return principal


async def _from_access_token(request: Request, token: str) -> Principal:
    try:
        try:
            claims = token_service(request).verify(token)
        except UnknownKey:
            # Perhaps another replica already signs with a key rotated in after this one started.
            reload = getattr(request.app.state, "reload_signing_keys", None)
            if reload is None or not await reload():
                raise
            claims = token_service(request).verify(token)
    except InvalidToken as exc:
        raise Unauthorized("invalid or expired token", headers=_UNAUTHORIZED_HEADERS) from exc
    # A deleted account's tokens die with it (at once; within USER_CHECK_SECONDS while deletions
    # are not heard), not 15 minutes later.
    if not KNOWN_USERS.fresh(claims.user_id):
        async with request.app.state.runtime.sessionmaker() as session:
            exists = (await session.execute(select(users.c.id).where(users.c.id == claims.user_id))).first()
        if exists is None:
            raise Unauthorized("the account of this token no longer exists", headers=_UNAUTHORIZED_HEADERS)
        KNOWN_USERS.add(claims.user_id)
    return Principal(user_id=claims.user_id, token_id=claims.token_id, expires_at=claims.expires_at)


async def authenticate(request: Request) -> Principal:
    """The caller of this request (resolved once), after its API rate limit."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing bearer token", headers=_UNAUTHORIZED_HEADERS)
    principal = await (
        _from_api_key(request, token) if looks_like_api_key(token) else _from_access_token(request, token)
    )
    limiter: RateLimiter = request.app.state.rate_limiter
    store = getattr(request.app.state, "entitlements", None)
    if store is None:
        request.state.ratelimit = await limiter.enforce(("api", principal.rate_subject))
    else:
        # The caller's plan (what most writes check next) comes in the same round trip.
        from tj_gateway.identity.entitlements import PLAN_READ

        request.state.ratelimit, plan = await limiter.enforce_and_read(
            ("api", principal.rate_subject), (store.key(principal.user_id), "state")
        )
        setattr(request.state, PLAN_READ, (principal.user_id, plan))
    request.state.principal = principal
    return principal


async def current_user(
    request: Request,
    # Declared for OpenAPI (the lock icon); the header is parsed by authenticate().
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return await authenticate(request)


CurrentUser = Annotated[Principal, Depends(current_user)]
