"""Signup and login."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.errors import Conflict, Unauthorized
from tj_gateway.identity import passwords, repository
from tj_gateway.identity.schemas import LoginIn, SignupIn, TokenPair, UserOut
from tj_gateway.identity.tokens import TokenService


def normalise_email(email: str) -> str:
    local, _, domain = email.strip().partition("@")
    return f"{local}@{domain.lower()}".lower()


async def signup(session: AsyncSession, tokens: TokenService, body: SignupIn) -> TokenPair:
    password_hash = await passwords.hash_password(body.password)
    user = await repository.create_user(
        session,
        email=normalise_email(body.email),
        password_hash=password_hash,
        name=body.name,
        timezone=body.timezone,
    )
    if user is None:
        raise Conflict("an account with this email already exists", code="EmailTaken")
    token, expires_in = tokens.issue(user["id"])
    return TokenPair(user=UserOut.model_validate(user), access_token=token, expires_in=expires_in)


async def login(session: AsyncSession, tokens: TokenService, body: LoginIn) -> TokenPair:
    user = await repository.user_by_email(session, normalise_email(body.email))
    ok = await passwords.verify_password(user["password_hash"] if user else None, body.password)
    if not user or not ok:
        raise Unauthorized("invalid email or password", code="InvalidCredentials")
    if passwords.needs_rehash(user["password_hash"]):
        await repository.set_password_hash(session, user["id"], await passwords.hash_password(body.password))
    token, expires_in = tokens.issue(user["id"])
    return TokenPair(user=UserOut.model_validate(user), access_token=token, expires_in=expires_in)
