"""Plans and entitlements as the gateway answers them on ``GET /api/v1/me``.

Until the billing service publishes subscription state (``billing.events``), every user is on the
free plan. Its limits live here, in code: they are product decisions, not deployment settings;
only the feature flags (``ENABLE_CSV_IMPORT``, ``ENABLE_API_ACCESS``) come from the settings.
``None`` means unlimited.
"""

from __future__ import annotations

from tj_common.settings import ServiceSettings

FREE_PLAN = "free"

FREE_PLAN_LIMITS: dict[str, int | bool | None] = {
    "max_accounts": 1,
    "max_trades_per_month": 100,
    "max_attachments_per_trade": 0,
    "history_days": 90,
    "api_access": False,
}


def entitlements(settings: ServiceSettings, plan: str = FREE_PLAN) -> dict[str, int | bool | None]:
    limits = dict(FREE_PLAN_LIMITS)
    limits["csv_import"] = settings.enable_csv_import
    # API keys need both the deployment flag and a plan that includes them.
    limits["api_access"] = bool(settings.enable_api_access and limits["api_access"])
    return limits
