"""Plan limits (issue 4 §6): the quantities a plan allows, checked before a write is sent and
refused with 402 ``PlanLimitReached`` (DESIGN §11 body plus a ``limit`` object with the figures):

- ``max_accounts``: creating an account. The implicit ``Default`` account (trades creates it for
  executions sent without an account id; it can be neither renamed nor deleted) is not counted.
- ``executions_per_month``: recording executions (each one counts) and manual trades (the entry,
  and the exit if given); an import is refused at upload once the month is used up (its row count
  is unknown then, so one import may take the month past the limit). Counted: the executions
  recorded since the start of the calendar month in UTC, visible ones only (an import's count once
  it is committed).
- ``attachment_storage_mb``: a new attachment's declared size plus the bytes already stored
  (pending attachments at their declared size).
- ``history_days``: not a refusal but a window: the trade and execution lists and every analytics
  read start no earlier than the start of the UTC day ``history_days`` ago (:func:`history_since`).
  Nothing is deleted, a trade stays readable by its id, and a plan with more history shows it all
  again (the read cache is invalidated when the plan changes and keyed by the UTC day).

What is used is always counted by trades, the owner of the data (``/internal/usage``,
``/internal/accounts``), never kept by the gateway: a command trades rejected stored nothing and a
repeat under the same ``Idempotency-Key`` is applied once, so neither is ever counted. A repeat of
a write already applied is let through even when the limit is reached now (trades answers it with
the stored result). A limited user's check and command run under a per-user lock in Redis, so two
concurrent writes cannot both take the last unit; a write answered 202 (trades slower than the
reply deadline) keeps the lock until trades has applied it, so the next check counts it. An
unlimited plan (``None``) costs nothing more than reading the plan.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from redis.exceptions import RedisError

from tj_common.envelope import command_id_for
from tj_common.errors import AppError, ServiceUnavailable
from tj_common.settings import ServiceSettings
from tj_gateway.identity.entitlements import EntitlementStore, PlanState, plan_of
from tj_gateway.queries import QueryClient

log = logging.getLogger(__name__)

# The account trades creates for executions sent without an account id (tj_trades.repository).
DEFAULT_ACCOUNT = "Default"
MIB = 1024 * 1024
LOCK_POLL_SECONDS = 0.02
# Deletes the lock only if it is still ours: KEYS[1]; ARGV[1]: our token.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class PlanLimitReached(AppError):
    """402: the write would take the caller past a limit of their plan."""

    status_code = 402
    code = "PlanLimitReached"


@dataclass(frozen=True)
class Counted:
    """What a limit counts: its unit, how it is described, and how to read what is used."""

    unit: str  # "accounts", "executions", "bytes"
    allows: str  # "{allowed} accounts", ...
    using: str  # "you have {used}", ...
    none: str  # what a plan that allows 0 does not include
    monthly: bool = False


COUNTED: dict[str, Counted] = {
    "max_accounts": Counted("accounts", "{allowed} account(s)", "you have {used}", "accounts"),
    "executions_per_month": Counted(
        "executions",
        "{allowed} executions a month",
        "{used} recorded this month (calendar month, UTC)",
        "executions",
        monthly=True,
    ),
    "attachment_storage_mb": Counted(
        "bytes", "{allowed_mb} MB of attachment storage", "{used_mb} MB stored", "attachment storage"
    ),
}


def month_start(now: datetime | None = None) -> datetime:
    """The start of the current calendar month in UTC: when ``executions_per_month`` restarts."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now: datetime | None = None) -> datetime:
    start = month_start(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def _mb(value: int) -> str:
    return f"{value / MIB:.1f}".removesuffix(".0")


def limit_reached(state: PlanState, limit: str, allowed: int, used: int, adding: int) -> PlanLimitReached:
    """The 402 for ``limit``: the plan, what it allows, what is used and what the request adds."""
    counted = COUNTED[limit]
    figures = {"allowed": allowed, "used": used, "allowed_mb": _mb(allowed), "used_mb": _mb(used)}
    if allowed == 0:
        detail = f"your plan ({state.plan_name}) includes no {counted.none} ({limit})"
    else:
        adds = f"{_mb(adding)} MB" if counted.unit == "bytes" else str(adding)
        detail = (
            f"your plan ({state.plan_name}) allows {counted.allows.format(**figures)} ({limit}); "
            f"{counted.using.format(**figures)} and this request adds {adds}"
        )
    body: dict[str, Any] = {
        "name": limit,
        "plan": state.plan_id,
        "unit": counted.unit,
        "allowed": allowed,
        "used": used,
        "requested": adding,
    }
    if counted.monthly:
        body["period_start"] = month_start().isoformat()
        body["resets_at"] = next_month_start().isoformat()
    return PlanLimitReached(f"{detail}; upgrade for more", extra={"limit": body})


def _store(request: Request) -> EntitlementStore | None:
    store: EntitlementStore | None = getattr(request.app.state, "entitlements", None)
    return store


def _trades(request: Request) -> QueryClient:
    client: QueryClient = request.app.state.trades_queries
    return client


async def allowance(request: Request, user_id: uuid.UUID, limit: str) -> tuple[PlanState, int | None]:
    """The user's plan and what it allows for ``limit`` in the limit's unit (None: unlimited,
    or an app without the entitlement store)."""
    store = _store(request)
    if store is None:
        return PlanState(), None
    state = await plan_of(request, user_id)
    allowed: int | None = getattr(state.entitlements, limit)
    if allowed is not None and limit == "attachment_storage_mb":
        allowed *= MIB
    return state, allowed


@dataclass
class Write:
    """What the write under a limit tells the guard: the command it sent, if its result has not
    come back (answered 202). The user's lock is then held until trades has applied it (or the
    lock expires), so the next check counts what it added."""

    unconfirmed: uuid.UUID | None = None

    def sent(self, command_id: uuid.UUID, event: object | None) -> None:
        if event is None:
            self.unconfirmed = command_id


# Lock releases waiting for a command answered 202 (referenced, so the tasks are not collected).
_RELEASES: set[asyncio.Task[None]] = set()


class UserLock:
    """One limited write of a user at a time, across every replica (Redis ``SET NX PX``). The
    lock outlives the longest a write may hold it (publish and reply deadlines, plus a margin), so
    a replica that dies holding it blocks nobody for long. Without Redis, writes go on unlocked."""

    def __init__(self, request: Request, store: EntitlementStore, user_id: uuid.UUID) -> None:
        settings: ServiceSettings = request.app.state.runtime.settings
        self.request = request
        self.user_id = user_id
        self.redis = store.redis
        self.key = f"{store.namespace}:lock:{user_id}"
        self.token = uuid.uuid4().hex
        self.hold = settings.kafka_publish_timeout + settings.command_reply_timeout + 5.0
        self.locked = False

    async def acquire(self) -> None:
        deadline = time.monotonic() + self.hold
        try:
            while not await self.redis.set(self.key, self.token, nx=True, px=int(self.hold * 1000)):
                if time.monotonic() > deadline:
                    raise ServiceUnavailable("another write of yours is still being applied; retry", retry_after=1)
                await asyncio.sleep(LOCK_POLL_SECONDS)
            self.locked = True
        except (RedisError, OSError) as exc:
            log.warning("plan limit lock unavailable; unlocked", extra={"fields": {"error": repr(exc)[:200]}})

    async def release(self) -> None:
        if not self.locked:
            return
        self.locked = False
        try:
            await self.redis.eval(_RELEASE_LUA, 1, self.key, self.token)
        except (RedisError, OSError):
            pass  # it expires

    def release_once_applied(self, command_id: uuid.UUID) -> None:
        """Releases in the background once trades has the command (at the latest, it expires)."""

        async def wait_then_release() -> None:
            deadline = time.monotonic() + self.hold
            try:
                while time.monotonic() < deadline:
                    status = await _trades(self.request).get(
                        f"/internal/commands/{command_id}", {"user_id": str(self.user_id)}
                    )
                    if status.get("status") != "pending":
                        break
                    await asyncio.sleep(0.1)
            except Exception:  # trades unreachable: the lock expires by itself
                log.warning("could not follow a command under a plan limit", exc_info=True)
                return
            await self.release()

        task = asyncio.create_task(wait_then_release(), name="plan-limit-release")
        _RELEASES.add(task)
        task.add_done_callback(_RELEASES.discard)


@asynccontextmanager
async def within_limit(
    request: Request,
    user_id: uuid.UUID,
    limit: str,
    adding: int,
    used: Callable[[int], Awaitable[int]],
    applied: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[Write]:
    """Runs the body (the write) only if ``used(allowed) + adding`` stays within ``limit``;
    402 ``PlanLimitReached`` otherwise, unless ``applied()`` says this is a repeat of a write
    already applied. Unlimited: no count, no lock."""
    write = Write()
    state, allowed = await allowance(request, user_id, limit)
    store = _store(request)
    if allowed is None or store is None:
        yield write
        return
    lock = UserLock(request, store, user_id)
    await lock.acquire()
    try:
        now = await used(allowed)
        if now + adding > allowed and not (applied is not None and await applied()):
            raise limit_reached(state, limit, allowed, now, adding)
        yield write
    except BaseException:
        await lock.release()
        raise
    if write.unconfirmed is not None and lock.locked:
        lock.release_once_applied(write.unconfirmed)
    else:
        await lock.release()


def _command_applied(
    request: Request, user_id: uuid.UUID, idempotency_key: str | None
) -> Callable[[], Awaitable[bool]]:
    async def applied() -> bool:
        if not idempotency_key:
            return False
        command_id = command_id_for(user_id, idempotency_key)
        status = await _trades(request).get(f"/internal/commands/{command_id}", {"user_id": str(user_id)})
        return status.get("status") != "pending"

    return applied


async def executions_this_month(request: Request, user_id: uuid.UUID, cap: int) -> int:
    usage = await _trades(request).get(
        "/internal/usage",
        {"user_id": str(user_id), "executions_since": month_start().isoformat(), "executions_cap": cap},
    )
    return int(usage["executions_recorded"])


def executions_quota(
    request: Request, user_id: uuid.UUID, adding: int, idempotency_key: str | None
) -> AbstractAsyncContextManager[Write]:
    """``executions_per_month`` around a write that records ``adding`` executions."""

    async def used(allowed: int) -> int:
        return await executions_this_month(request, user_id, allowed)

    return within_limit(
        request, user_id, "executions_per_month", adding, used, _command_applied(request, user_id, idempotency_key)
    )


def accounts_quota(
    request: Request, user_id: uuid.UUID, idempotency_key: str | None
) -> AbstractAsyncContextManager[Write]:
    """``max_accounts`` around creating one account."""

    async def used(allowed: int) -> int:
        accounts = await _trades(request).get("/internal/accounts", {"user_id": str(user_id)})
        return sum(1 for a in accounts.get("items", []) if a.get("name") != DEFAULT_ACCOUNT)

    return within_limit(request, user_id, "max_accounts", 1, used, _command_applied(request, user_id, idempotency_key))


def storage_quota(
    request: Request, user_id: uuid.UUID, size: int, idempotency_key: str | None
) -> AbstractAsyncContextManager[Write]:
    """``attachment_storage_mb`` around adding an attachment of ``size`` bytes."""

    async def used(allowed: int) -> int:
        usage = await _trades(request).get("/internal/usage", {"user_id": str(user_id)})
        return int(usage["attachment_bytes"])

    return within_limit(
        request, user_id, "attachment_storage_mb", size, used, _command_applied(request, user_id, idempotency_key)
    )


async def check_import_quota(request: Request, user_id: uuid.UUID, import_id: uuid.UUID | None) -> None:
    """At upload: 402 when the month's executions are used up already (the file's rows are not
    counted yet). ``import_id``: the import a repeated upload (same Idempotency-Key) would be,
    let through if it exists."""
    state, allowed = await allowance(request, user_id, "executions_per_month")
    if allowed is None:
        return
    used = await executions_this_month(request, user_id, allowed)
    if used < allowed:
        return
    if import_id is not None:
        imports: QueryClient = request.app.state.imports_queries
        try:
            await imports.get(f"/internal/imports/{import_id}", {"user_id": str(user_id)})
            return
        except AppError:
            pass
    raise limit_reached(state, "executions_per_month", allowed, used, 1)


async def history_since(request: Request, user_id: uuid.UUID, since: datetime | None) -> datetime | None:
    """``history_days``: the ``from`` of a list or an analytics read, moved up to the start of the
    UTC day ``history_days`` ago when the plan keeps a window (unchanged when it does not)."""
    _, days = await allowance(request, user_id, "history_days")
    if days is None:
        return since
    floor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    if since is None:
        return floor
    return max(since if since.tzinfo is not None else since.replace(tzinfo=UTC), floor)
