"""The authentication dependency: every write path requires it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tj_common.errors import Unauthorized
from tj_gateway.identity.tokens import AccessClaims, InvalidToken, TokenService

bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


def token_service(request: Request) -> TokenService:
    service: TokenService = request.app.state.tokens
    return service


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    try:
        return token_service(request).verify(credentials.credentials)
    except InvalidToken as exc:
        raise Unauthorized("invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from exc


CurrentUser = Annotated[AccessClaims, Depends(current_user)]
