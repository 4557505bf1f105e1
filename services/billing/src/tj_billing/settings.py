"""Settings of the billing service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from tj_common.settings import RAZORPAY_API_URL, ServiceSettings

LOCAL_PLAN_PREFIX = "plan_local_"


class Settings(ServiceSettings):
    service_name: ClassVar[str] = "billing"

    @model_validator(mode="after")
    def _production_uses_razorpay(self) -> Settings:
        """In production billing talks to Razorpay itself, about plans created there."""
        if self.environment != "production":
            return self
        problems = []
        if self.razorpay_base_url != RAZORPAY_API_URL:
            problems.append(f"RAZORPAY_BASE_URL is {self.razorpay_base_url!r}, not {RAZORPAY_API_URL}")
        local = [
            f"RAZORPAY_PLAN_{plan.upper()}"
            for plan in ("pro_monthly", "pro_yearly", "elite_monthly", "elite_yearly")
            if str(getattr(self, f"razorpay_plan_{plan}")).startswith(LOCAL_PLAN_PREFIX)
        ]
        if local:
            problems.append("the stand-in's plan ids in " + ", ".join(local))
        if problems:
            raise ValueError("refusing to start billing in production: " + "; ".join(problems))
        return self
