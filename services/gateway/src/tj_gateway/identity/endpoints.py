"""``/api/v1/auth``: signup and login."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tj_gateway.identity import service
from tj_gateway.identity.dependencies import token_service
from tj_gateway.identity.schemas import LoginIn, SignupIn, TokenPair

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/signup", status_code=201, response_model=TokenPair, summary="Create an account")
async def signup(body: SignupIn, request: Request) -> TokenPair:
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        return await service.signup(session, token_service(request), body)


@router.post("/login", response_model=TokenPair, summary="Exchange email and password for a token")
async def login(body: LoginIn, request: Request) -> TokenPair:
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        return await service.login(session, token_service(request), body)
