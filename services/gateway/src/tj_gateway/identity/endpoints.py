"""``/api/v1/auth``: signup, login, refresh and logout; ``/api/v1/me``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tj_common.errors import NotFound, Unauthorized
from tj_gateway.identity import repository, service
from tj_gateway.identity.dependencies import CurrentUser, token_service
from tj_gateway.identity.entitlements import FREE_PLAN, entitlements
from tj_gateway.identity.refresh import Verdict
from tj_gateway.identity.schemas import LoginIn, MeOut, RefreshIn, SignupIn, TokenPair, UserOut

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
me_router = APIRouter(prefix="/api/v1", tags=["auth"])

_REFUSALS = {
    Verdict.UNKNOWN: "unknown refresh token",
    Verdict.EXPIRED: "refresh token expired",
    Verdict.REVOKED: "refresh token revoked",
    Verdict.REUSED: "refresh token already used; every session of this login has been revoked",
}


@router.post("/signup", status_code=201, response_model=TokenPair, summary="Create an account")
async def signup(body: SignupIn, request: Request) -> TokenPair:
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        return await service.signup(session, token_service(request), body)


@router.post("/login", response_model=TokenPair, summary="Exchange email and password for a token pair")
async def login(body: LoginIn, request: Request) -> TokenPair:
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


@me_router.get("/me", response_model=MeOut, summary="The caller, their plan and entitlements")
async def me(claims: CurrentUser, request: Request) -> MeOut:
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session:
        user = await repository.user_by_id(session, claims.user_id)
    if user is None:
        raise NotFound("user not found")
    return MeOut(user=UserOut.model_validate(user), plan=FREE_PLAN, entitlements=entitlements(runtime.settings))
