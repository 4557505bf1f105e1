"""Razorpay's API through its own (synchronous) SDK, called off the event loop, with a timeout per
call and bounded retries with backoff on 5xx answers, timeouts and refused connections. What still
fails becomes a typed error the user sees (503 ``PaymentProviderUnavailable``, or 502
``PaymentProviderError`` when Razorpay refuses the request itself)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError

from tj_billing.metrics import RAZORPAY_CALLS
from tj_common.settings import ServiceSettings

log = logging.getLogger(__name__)


class PaymentProviderUnavailable(Exception):
    """Razorpay did not answer usefully after every attempt (5xx, timeout, unreachable)."""

    status = 503
    error = "PaymentProviderUnavailable"


class PaymentProviderError(Exception):
    """Razorpay refused the request (4xx): retrying the same request would not help."""

    status = 502
    error = "PaymentProviderError"


class _TimeoutSession(requests.Session):
    """The SDK passes no timeout; a hung Razorpay must not hang the consumer."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


def plan_ids(settings: ServiceSettings) -> dict[str, str]:
    """Our paid plan id -> the Razorpay plan id behind it."""
    return {
        "pro_monthly": settings.razorpay_plan_pro_monthly,
        "pro_yearly": settings.razorpay_plan_pro_yearly,
        "elite_monthly": settings.razorpay_plan_elite_monthly,
        "elite_yearly": settings.razorpay_plan_elite_yearly,
    }


class RazorpayApi:
    def __init__(self, settings: ServiceSettings) -> None:
        self.max_attempts = max(1, settings.razorpay_max_attempts)
        self.backoff = settings.razorpay_retry_backoff
        self.key_id = settings.razorpay_key_id
        self.client = razorpay.Client(
            session=_TimeoutSession(settings.razorpay_timeout),
            auth=(settings.razorpay_key_id, settings.razorpay_key_secret.get_secret_value()),
            base_url=settings.razorpay_base_url,
        )
        self.client.set_app_details({"title": "TradingJournal", "version": "1.0"})

    async def create_subscription(self, data: dict[str, Any]) -> dict[str, Any]:
        return await self._call("subscription.create", self.client.subscription.create, data)

    async def fetch_subscription(self, subscription_id: str) -> dict[str, Any]:
        return await self._call("subscription.fetch", self.client.subscription.fetch, subscription_id)

    async def cancel_subscription(self, subscription_id: str, at_cycle_end: bool) -> dict[str, Any]:
        return await self._call(
            "subscription.cancel",
            self.client.subscription.cancel,
            subscription_id,
            {"cancel_at_cycle_end": 1 if at_cycle_end else 0},
        )

    async def _call(self, operation: str, fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                result = await asyncio.to_thread(fn, *args)
            except BadRequestError as exc:
                RAZORPAY_CALLS.labels(operation, "rejected").inc()
                raise PaymentProviderError(f"Razorpay refused the request: {exc}") from exc
            except (ServerError, GatewayError, requests.RequestException, ValueError) as exc:
                # 5xx, timeouts, refused connections, and an answer that is not JSON.
                last = exc
                RAZORPAY_CALLS.labels(operation, "retried" if attempt < self.max_attempts else "failed").inc()
                log.warning(
                    "razorpay call failed",
                    extra={"fields": {"operation": operation, "attempt": attempt, "error": repr(exc)[:300]}},
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            RAZORPAY_CALLS.labels(operation, "ok").inc()
            if not isinstance(result, dict):
                raise PaymentProviderError(f"unexpected answer from Razorpay to {operation}")
            return result
        raise PaymentProviderUnavailable(
            f"the payment provider did not answer after {self.max_attempts} attempts; try again in a minute"
        ) from last
