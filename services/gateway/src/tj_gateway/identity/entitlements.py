"""Each user's plan and limits as the gateway knows them (DESIGN §6, issue 4 §6).

Billing is the owner: its ``billing.EntitlementsChanged`` events (key = user id, a per-user
``version``) are written to Redis by :func:`apply_change`, ignoring any version older than the
one held. A user missing from Redis is rebuilt from billing's internal query API; while billing
cannot answer (or does not know the user) the user is on the free plan of
``tj_common.contracts.billing``, cached briefly so billing's answer is asked again soon.

:func:`require_entitlement` is the FastAPI dependency that answers 402 when the caller's plan does
not allow an action; the deployment flags (``ENABLE_API_ACCESS``, ``ENABLE_CSV_IMPORT``) are
checked beside it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import httpx
import redis.asyncio as aioredis
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from tj_common.contracts.billing import FREE_ENTITLEMENTS, FREE_PLAN_ID, Entitlements, EntitlementsChanged
from tj_common.errors import AppError, Forbidden
from tj_common.settings import ServiceSettings
from tj_gateway.identity.dependencies import CurrentUser

log = logging.getLogger(__name__)

FREE_PLAN = FREE_PLAN_ID
# Billing's internal query API: the user's current EntitlementsChanged-shaped state.
BILLING_ENTITLEMENTS_PATH = "/internal/entitlements/{user_id}"
# A fallback (billing silent) is kept this long; billing's own answers until the next event.
FALLBACK_TTL_SECONDS = 60
KNOWN_TTL_SECONDS = 7 * 86400

# Sets the stored state only when it is newer: KEYS[1]; ARGV: version, json, ttl seconds.
_APPLY_LUA = """
local held = redis.call('HGET', KEYS[1], 'version')
if held and tonumber(held) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'state', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


class PlanState(BaseModel):
    plan_id: str = FREE_PLAN_ID
    plan_name: str = "Free"
    status: str = "none"
    entitlements: Entitlements = FREE_ENTITLEMENTS
    version: int = -1  # -1: the fallback, replaced by any event


FREE_STATE = PlanState()


class PlanRequired(AppError):
    """402: the caller's plan does not include this."""

    status_code = 402
    code = "PlanRequired"


class EntitlementStore:
    def __init__(self, redis: aioredis.Redis, settings: ServiceSettings, http: httpx.AsyncClient) -> None:
        self.redis = redis
        self.http = http
        self.namespace = f"{settings.kafka_topic_prefix}entitlements"
        self.billing_url = settings.billing_query_url.rstrip("/")
        self.script: Any = redis.register_script(_APPLY_LUA)

    def key(self, user_id: uuid.UUID) -> str:
        return f"{self.namespace}:{user_id}"

    async def apply(self, state: PlanState, user_id: uuid.UUID, ttl: int = KNOWN_TTL_SECONDS) -> bool:
        """Stores ``state`` unless a newer (or the same) version is held; True when stored."""
        stored = await self.script(keys=[self.key(user_id)], args=[state.version, state.model_dump_json(), ttl])
        return bool(stored)

    async def apply_change(self, event: EntitlementsChanged) -> bool:
        state = PlanState(
            plan_id=event.plan_id,
            plan_name=event.plan_name,
            status=event.status,
            entitlements=event.entitlements,
            version=event.version,
        )
        return await self.apply(state, event.user_id)

    async def get(self, user_id: uuid.UUID, cached: bytes | None = None) -> PlanState:
        """The user's plan: ``cached`` (the cache entry, when the caller has just read it) or the
        cache's, else billing's answer (then cached)."""
        raw: bytes | str | None = cached
        if raw is None:
            try:
                raw = await self.redis.hget(self.key(user_id), "state")
            except (RedisError, OSError) as exc:
                log.warning("entitlements cache unreadable", extra={"fields": {"error": repr(exc)[:200]}})
        if raw is not None:
            try:
                return PlanState.model_validate_json(raw)
            except ValidationError:
                log.warning("bad cached entitlements; rebuilding", extra={"fields": {"user_id": str(user_id)}})
        state, known = await self._from_billing(user_id)
        try:
            await self.apply(state, user_id, KNOWN_TTL_SECONDS if known else FALLBACK_TTL_SECONDS)
        except (RedisError, OSError):
            pass
        return state

    async def _from_billing(self, user_id: uuid.UUID) -> tuple[PlanState, bool]:
        url = self.billing_url + BILLING_ENTITLEMENTS_PATH.format(user_id=user_id)
        try:
            response = await self.http.get(url, timeout=2.0)
        except httpx.HTTPError:
            return FREE_STATE, False
        if response.status_code != 200:
            return FREE_STATE, False
        try:
            return PlanState.model_validate(response.json()), True
        except (ValidationError, json.JSONDecodeError):
            log.warning("billing answered unreadable entitlements", extra={"fields": {"user_id": str(user_id)}})
            return FREE_STATE, False


def entitlements_key(settings: ServiceSettings, user_id: uuid.UUID) -> str:
    return f"{settings.kafka_topic_prefix}entitlements:{user_id}"


async def put_plan(
    redis: aioredis.Redis,
    settings: ServiceSettings,
    user_id: uuid.UUID,
    state: PlanState,
    ttl: int = KNOWN_TTL_SECONDS,
) -> None:
    """Writes a user's plan straight into the gateways' cache, over whatever is held: for tests and
    benchmarks that run without billing's say. Give it version -1 (the default of ``PlanState``)
    and any event billing publishes for the user later (versions from 0) replaces it."""
    key = entitlements_key(settings, user_id)
    pipe = redis.pipeline(transaction=True)
    pipe.hset(key, mapping={"version": state.version, "state": state.model_dump_json()})
    pipe.expire(key, ttl)
    await pipe.execute()


def entitlement_store(request: Request) -> EntitlementStore:
    store: EntitlementStore = request.app.state.entitlements
    return store


# request.state.plan_read: (user id, cache entry or None), read with the request's API rate limit
# (tj_gateway.identity.dependencies.authenticate), in the same Redis round trip.
PLAN_READ = "plan_read"


async def plan_of(request: Request, user_id: uuid.UUID) -> PlanState:
    """The user's plan, from the entry this request's authentication read if it read the user's."""
    held = getattr(request.state, PLAN_READ, None)
    cached = held[1] if held is not None and held[0] == user_id else None
    return await entitlement_store(request).get(user_id, cached)


def me_entitlements(state: PlanState, flags: dict[str, bool]) -> dict[str, Any]:
    """What ``/me`` shows: the plan's limits, with the deployment flags applied."""
    limits: dict[str, Any] = state.entitlements.model_dump()
    limits["api_access"] = bool(flags["ENABLE_API_ACCESS"] and state.entitlements.api_access)
    limits["imports_allowed"] = bool(flags["ENABLE_CSV_IMPORT"] and state.entitlements.imports_allowed)
    limits["csv_import"] = limits["imports_allowed"]
    return limits


FEATURE_FLAGS = {"api_access": "ENABLE_API_ACCESS", "imports_allowed": "ENABLE_CSV_IMPORT"}


async def check_entitlement(request: Request, user_id: uuid.UUID, feature: str) -> PlanState:
    """Raises 403 ``FeatureDisabled`` when the deployment turned the feature off, 402
    ``PlanRequired`` when the user's plan does not include it; the plan otherwise."""
    flag = FEATURE_FLAGS.get(feature)
    if flag is not None and not await request.app.state.flags.enabled(flag):
        raise Forbidden(f"{feature} is turned off on this deployment ({flag})", code="FeatureDisabled")
    state = await plan_of(request, user_id)
    allowed = getattr(state.entitlements, feature)
    if allowed is not True:
        raise PlanRequired(f"your plan ({state.plan_name}) does not include {feature}; upgrade to use it")
    return state


async def csv_import_allowed(request: Request, user_id: uuid.UUID) -> PlanState:
    """For the import endpoints: ENABLE_CSV_IMPORT and the plan's imports_allowed."""
    return await check_entitlement(request, user_id, "imports_allowed")


async def check_limit(request: Request, user_id: uuid.UUID, limit: str, used: int) -> PlanState:
    """402 when ``used`` (what the user has now) already reaches the plan's ``limit``
    (e.g. ``max_accounts``); None in the plan means unlimited."""
    state = await plan_of(request, user_id)
    allowed = getattr(state.entitlements, limit)
    if allowed is not None and used >= allowed:
        raise PlanRequired(f"your plan ({state.plan_name}) allows {allowed} for {limit}; upgrade for more")
    return state


def require_entitlement(feature: str) -> Callable[..., Awaitable[PlanState]]:
    """A dependency: ``Depends(require_entitlement("api_access"))`` answers 402 (or 403 when the
    deployment flag is off) before the endpoint runs."""

    async def dependency(request: Request, user: CurrentUser) -> PlanState:
        return await check_entitlement(request, user.user_id, feature)

    return dependency


ApiAccess = Annotated[PlanState, Depends(require_entitlement("api_access"))]
