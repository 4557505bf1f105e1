"""Billing's Prometheus metrics. ``active_subscriptions_total{plan}`` is computed from the table
of users' plans whenever ``/metrics`` is scraped, so it is right after any transition, sweep,
restart or replay (every replica reports the same total: aggregate with ``max``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

ACTIVE_SUBSCRIPTIONS = Gauge("active_subscriptions_total", "Number of active subscriptions by plan", ["plan"])
WEBHOOKS = Counter(
    "tj_billing_webhooks", "Razorpay webhook deliveries applied by billing, by event and outcome", ["event", "outcome"]
)
RAZORPAY_CALLS = Counter("tj_razorpay_calls", "Razorpay API calls by operation and outcome", ["operation", "outcome"])
ENTITLEMENTS_CHANGED = Counter("tj_billing_entitlements_changed", "EntitlementsChanged events written", ["plan"])


async def refresh_active_subscriptions(engine: AsyncEngine, paid_plans: list[str]) -> None:
    from tj_billing.models import user_plans

    now = func.now()
    query = (
        select(user_plans.c.plan_id, func.count())
        .where(
            user_plans.c.plan_id != "free",
            or_(user_plans.c.valid_until.is_(None), user_plans.c.valid_until > now),
        )
        .group_by(user_plans.c.plan_id)
    )
    async with engine.connect() as conn:
        counts = {row[0]: int(row[1]) for row in (await conn.execute(query)).all()}
    for plan in set(paid_plans) | set(counts):
        ACTIVE_SUBSCRIPTIONS.labels(plan).set(counts.get(plan, 0))


class RefreshGaugesOnScrape:
    """Pure ASGI middleware: recomputes the subscription gauge just before ``/metrics`` answers."""

    def __init__(self, app: ASGIApp, engine: AsyncEngine, paid_plans: list[str]) -> None:
        self.app = app
        self.engine = engine
        self.paid_plans = paid_plans

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == "/metrics":
            try:
                await refresh_active_subscriptions(self.engine, self.paid_plans)
            except Exception:  # noqa: S110 - the database is down: the health check says so; keep the last values
                pass
        await self.app(scope, receive, send)
