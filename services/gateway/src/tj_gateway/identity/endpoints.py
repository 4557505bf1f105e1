"""``/api/v1/auth``: signup, login, refresh, logout, password change and reset; ``/api/v1/me``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request, Response

from tj_common.errors import NotFound, Unauthorized
from tj_gateway.identity import repository, service
from tj_gateway.identity.dependencies import CurrentUser, token_service
from tj_gateway.identity.entitlements import entitlement_store, me_entitlements
from tj_gateway.identity.mail import password_reset_mail, send_mail
from tj_gateway.identity.refresh import Verdict
from tj_gateway.identity.schemas import (
    Accepted,
    LoginIn,
    MeOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    ProfileIn,
    RefreshIn,
    SignupIn,
    TokenPair,
    UserOut,
)
from tj_gateway.ratelimit import RateLimiter

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
me_router = APIRouter(prefix="/api/v1", tags=["auth"])

_REFUSALS = {
    Verdict.UNKNOWN: "unknown refresh token",
    Verdict.EXPIRED: "refresh token expired",
    Verdict.REVOKED: "refresh token revoked",
    Verdict.REUSED: "refresh token already used; every session of this login has been revoked",
}
_LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "Too many attempts; see Retry-After"}}
RESET_ANSWER = "if an account uses this email, a reset link is on its way"


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _limit(request: Request, *checks: tuple[str, str]) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    request.state.ratelimit = await limiter.enforce(*checks)


@router.post("/signup", status_code=201, response_model=TokenPair, summary="Create an account", responses=_LIMITED)
async def signup(body: SignupIn, request: Request) -> TokenPair:
    await _limit(request, ("signup_ip", _ip(request)), ("signup_email", service.normalise_email(body.email)))
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        return await service.signup(session, token_service(request), body)


@router.post(
    "/login", response_model=TokenPair, summary="Exchange email and password for a token pair", responses=_LIMITED
)
async def login(body: LoginIn, request: Request) -> TokenPair:
    await _limit(request, ("login_ip", _ip(request)), ("login_email", service.normalise_email(body.email)))
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        return await service.login(session, token_service(request), body)


@router.post("/refresh", response_model=TokenPair, summary="Exchange a refresh token for a new pair")
async def refresh(body: RefreshIn, request: Request) -> TokenPair:
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        result = await service.refresh(session, token_service(request), body.refresh_token)
    # Raised after the commit, so a reuse's family revocation is kept.
    if isinstance(result, Verdict):
        raise Unauthorized(_REFUSALS[result], code="InvalidRefreshToken")
    return result


@router.post("/logout", status_code=204, summary="Revoke the refresh token's family")
async def logout(body: RefreshIn, request: Request) -> Response:
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        await service.logout(session, body.refresh_token)
    return Response(status_code=204)


@router.post(
    "/password",
    response_model=TokenPair,
    summary="Change your password (ends every other session; returns a new pair)",
    responses={401: {"description": "Wrong current password"}, **_LIMITED},
)
async def change_password(body: PasswordChangeIn, request: Request, user: CurrentUser) -> TokenPair:
    # Guessing the current password through this endpoint counts like login attempts.
    await _limit(request, ("login_email", f"user:{user.user_id}"))
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        return await service.change_password(session, token_service(request), user.user_id, body)


@router.post(
    "/password-reset",
    status_code=202,
    response_model=Accepted,
    summary="Email a one-time reset link (the same answer whether or not the email has an account)",
    responses=_LIMITED,
)
async def request_password_reset(body: PasswordResetIn, request: Request, background: BackgroundTasks) -> Accepted:
    email = service.normalise_email(body.email)
    await _limit(request, ("password_reset", f"ip:{_ip(request)}"), ("password_reset", f"email:{email}"))
    runtime = request.app.state.runtime
    settings = runtime.settings
    async with runtime.sessionmaker() as session, session.begin():
        found = await service.start_password_reset(
            session, email, timedelta(seconds=settings.password_reset_expires_in)
        )
    if found is not None:
        address, token = found
        subject, text = password_reset_mail(settings, token)
        background.add_task(send_mail, settings, address, subject, text)
    return Accepted(detail=RESET_ANSWER)


@router.post(
    "/password-reset/confirm",
    status_code=204,
    summary="Set a new password with the emailed token (single use; ends every session)",
    responses={400: {"description": "Unknown, used or expired token"}, **_LIMITED},
)
async def confirm_password_reset(body: PasswordResetConfirmIn, request: Request) -> Response:
    await _limit(request, ("password_reset", f"ip:{_ip(request)}"))
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        await service.finish_password_reset(session, body.token, body.new_password)
    return Response(status_code=204)


async def _me(request: Request, user: dict[str, Any]) -> MeOut:
    state = await entitlement_store(request).get(user["id"])
    flags = await request.app.state.flags.snapshot()
    return MeOut(user=UserOut.model_validate(user), plan=state.plan_id, entitlements=me_entitlements(state, flags))


@me_router.get("/me", response_model=MeOut, summary="The caller, their plan and entitlements")
async def me(claims: CurrentUser, request: Request) -> MeOut:
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session:
        user = await repository.user_by_id(session, claims.user_id)
    if user is None:
        raise NotFound("user not found")
    return await _me(request, user)


@me_router.patch("/me", response_model=MeOut, summary="Change your name or time zone")
async def update_me(body: ProfileIn, claims: CurrentUser, request: Request) -> MeOut:
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        user = await service.update_profile(session, claims.user_id, body)
    return await _me(request, user)
