"""Plans of benchmark users. A new user is on the free plan (500 executions a month, one account),
and a benchmark runs without billing, so a user who records more is given an unlimited plan here,
written into the gateways' entitlement cache as billing's event would be (version -1: any real
billing event for the user replaces it). Read after ``KAFKA_TOPIC_PREFIX`` is set to the run's
prefix, like everything else of a run.

    await plans.unlimited(user_id)            # one user
    await plans.unlimited(*user_ids)          # several
"""

from __future__ import annotations

import uuid

UNLIMITED_LIMITS = {
    "max_accounts": None,
    "executions_per_month": None,
    "imports_allowed": True,
    "api_access": True,
    "attachment_storage_mb": 10240,
    "history_days": None,
}


async def unlimited(*user_ids: str | uuid.UUID) -> None:
    """Puts each user on an unlimited plan in the gateways' entitlement cache (Redis)."""
    import redis.asyncio as aioredis

    from tj_common.contracts.billing import Entitlements
    from tj_gateway.identity.entitlements import PlanState, put_plan
    from tj_gateway.settings import Settings

    settings = Settings()
    state = PlanState(
        plan_id="bench_unlimited",
        plan_name="Bench",
        status="active",
        entitlements=Entitlements.model_validate(UNLIMITED_LIMITS),
    )
    redis = aioredis.from_url(settings.redis_url)
    try:
        for user_id in user_ids:
            await put_plan(redis, settings, uuid.UUID(str(user_id)), state)
    finally:
        await redis.aclose()
