"""The Razorpay adapter's retries, with the SDK's calls replaced by in-memory fakes (the real SDK
against the stand-in is exercised end to end in tests/test_billing.py)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from razorpay.errors import BadRequestError, ServerError

from tj_billing.razorpay_client import PaymentProviderError, PaymentProviderUnavailable, RazorpayApi
from tj_common.settings import ServiceSettings


def api(attempts: int = 3) -> RazorpayApi:
    settings = ServiceSettings(razorpay_max_attempts=attempts, razorpay_retry_backoff=0.001, razorpay_timeout=0.5)
    return RazorpayApi(settings)


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, *args: Any) -> dict[str, Any]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"id": "sub_TEST", "status": "created"}


async def test_5xx_and_timeouts_are_retried() -> None:
    fake = Flaky(ServerError("boom"), requests.ReadTimeout("slow"))
    assert (await api()._call("subscription.create", fake, {}))["id"] == "sub_TEST"
    assert fake.calls == 3


async def test_after_the_last_attempt_the_user_gets_a_typed_error() -> None:
    fake = Flaky(*(requests.ConnectionError("refused") for _ in range(5)))
    with pytest.raises(PaymentProviderUnavailable) as caught:
        await api(attempts=3)._call("subscription.create", fake, {})
    assert fake.calls == 3
    assert caught.value.status == 503
    assert "3 attempts" in str(caught.value)


async def test_a_refusal_is_not_retried() -> None:
    fake = Flaky(BadRequestError("The id provided does not exist"))
    with pytest.raises(PaymentProviderError):
        await api()._call("subscription.create", fake, {})
    assert fake.calls == 1


def test_the_sdk_points_at_the_configured_base_url() -> None:
    settings = ServiceSettings(razorpay_base_url="http://127.0.0.1:9/v1/")
    client = RazorpayApi(settings).client
    assert client.base_url == "http://127.0.0.1:9"  # the SDK appends /v1/... itself


def test_a_live_key_only_goes_to_razorpay() -> None:
    with pytest.raises(ValueError, match="live Razorpay key"):
        ServiceSettings(razorpay_key_id="rzp_live_ABCDEFGHIJKLMN", razorpay_base_url="http://127.0.0.1:8090")
    live = ServiceSettings(razorpay_key_id="rzp_live_ABCDEFGHIJKLMN", razorpay_base_url="https://api.razorpay.com/v1")
    assert live.razorpay_base_url == "https://api.razorpay.com"


def test_production_billing_needs_razorpay_and_real_plans() -> None:
    from tj_billing.settings import Settings

    secrets = {
        "jwt_secret": "x" * 40,
        "s3_access_key": "a",
        "s3_secret_key": "b",
        "razorpay_key_secret": "c",
        "razorpay_webhook_secret": "d",
        "database_url": "postgresql://billing:strong@db/tj",
    }
    with pytest.raises(ValueError, match="RAZORPAY_BASE_URL"):
        Settings(environment="production", **secrets)
    with pytest.raises(ValueError, match="RAZORPAY_PLAN_PRO_MONTHLY"):
        Settings(environment="production", razorpay_base_url="https://api.razorpay.com", **secrets)
    plans = {f"razorpay_plan_{p}": f"plan_{p}" for p in ("pro_monthly", "pro_yearly", "elite_monthly", "elite_yearly")}
    ok = Settings(environment="production", razorpay_base_url="https://api.razorpay.com", **secrets, **plans)
    assert ok.razorpay_plan_pro_monthly == "plan_pro_monthly"
