"""Pure pieces of the plan limits and of the deleted-user memory."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

from tj_common.contracts.billing import Entitlements
from tj_gateway.identity.dependencies import RecentUsers
from tj_gateway.identity.entitlements import FREE_STATE, PlanState
from tj_gateway.identity.limits import MIB, limit_reached, month_start, next_month_start


def test_the_month_is_the_utc_calendar_month() -> None:
    assert month_start(datetime(2026, 12, 2, 20, 4, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)
    # 1 Jan 02:00 in India is still 31 Dec in UTC.
    ist = timezone(timedelta(hours=5, minutes=30))
    assert month_start(datetime(2027, 1, 1, 2, 0, tzinfo=ist)) == datetime(2026, 12, 1, tzinfo=UTC)
    assert next_month_start(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_month_start(datetime(2026, 2, 10, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_limit_reached_names_the_limit_the_plan_and_the_figures() -> None:
    error = limit_reached(FREE_STATE, "executions_per_month", 500, 498, 5)
    assert error.status_code == 402 and error.error == "PlanLimitReached"
    assert "Free" in error.detail and "500 executions a month" in error.detail and "498" in error.detail
    assert "adds 5" in error.detail and "UTC" in error.detail
    limit = error.extra["limit"]
    assert limit["name"] == "executions_per_month" and limit["plan"] == "free"
    assert (limit["allowed"], limit["used"], limit["requested"], limit["unit"]) == (500, 498, 5, "executions")
    assert limit["resets_at"] > limit["period_start"]

    accounts = limit_reached(FREE_STATE, "max_accounts", 1, 1, 1)
    assert "1 account(s)" in accounts.detail and "you have 1" in accounts.detail
    assert "resets_at" not in accounts.extra["limit"]

    pro = PlanState(plan_id="pro_monthly", plan_name="Pro", entitlements=Entitlements(attachment_storage_mb=1))
    storage = limit_reached(pro, "attachment_storage_mb", MIB, MIB // 2, MIB)
    assert "Pro" in storage.detail and "1 MB of attachment storage" in storage.detail
    assert "0.5 MB stored" in storage.detail and storage.extra["limit"]["unit"] == "bytes"
    none = limit_reached(FREE_STATE, "attachment_storage_mb", 0, 0, 1000)
    assert "includes no attachment storage" in none.detail


def test_a_deleted_user_is_forgotten_and_never_remembered_again() -> None:
    known = RecentUsers(ttl=5.0, ttl_listening=60.0)
    user = uuid.uuid4()
    known.add(user)
    assert known.fresh(user)
    known.forget(user)
    assert not known.fresh(user)
    # A check that read the user just before the deletion does not bring them back.
    known.add(user)
    assert not known.fresh(user)
    # The memory is dropped whenever listening starts or stops (a deletion may have gone unheard).
    other = uuid.uuid4()
    known.add(other)
    known.listen(True)
    assert not known.fresh(other)
    known.add(other)  # while listening, remembered longer: deletions are heard
    assert known.fresh(other) and known.seen[other] - time.monotonic() > 5.0
