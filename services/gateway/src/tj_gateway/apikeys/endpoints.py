"""``/api/v1/api-keys``: create (the key is shown once), list, revoke. Needs ENABLE_API_ACCESS
and a plan with ``api_access`` (403 ``FeatureDisabled`` / 402 ``PlanRequired`` otherwise)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from tj_common.errors import NotFound
from tj_gateway.apikeys import repository
from tj_gateway.apikeys.keys import SHOWN_PREFIX_LENGTH, hash_api_key, new_api_key
from tj_gateway.apikeys.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyList, ApiKeyOut
from tj_gateway.identity.dependencies import CurrentUser
from tj_gateway.identity.entitlements import ApiAccess

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])

_RESPONSES: dict[int | str, dict[str, str]] = {
    402: {"description": "Your plan does not include API access"},
    403: {"description": "API access is turned off on this deployment"},
}


@router.post("", status_code=201, response_model=ApiKeyCreated, summary="Create an API key", responses=_RESPONSES)
async def create_api_key(body: ApiKeyIn, request: Request, user: CurrentUser, _plan: ApiAccess) -> ApiKeyCreated:
    key = new_api_key()
    scopes: list[str] = sorted(set(body.scopes))
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        row = await repository.create(
            session,
            user_id=user.user_id,
            name=body.name,
            prefix=key[:SHOWN_PREFIX_LENGTH],
            key_hash=hash_api_key(key),
            scopes=scopes,
        )
    return ApiKeyCreated(**row, key=key)


@router.get("", response_model=ApiKeyList, summary="Your active API keys (never the keys themselves)")
async def list_api_keys(request: Request, user: CurrentUser) -> ApiKeyList:
    async with request.app.state.runtime.sessionmaker() as session:
        rows = await repository.active_for_user(session, user.user_id)
    return ApiKeyList(items=[ApiKeyOut(**row) for row in rows])


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke an API key (at once, on every replica)",
    responses={404: {"description": "No such active key of yours"}},
)
async def revoke_api_key(key_id: uuid.UUID, request: Request, user: CurrentUser) -> Response:
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        revoked = await repository.revoke(session, user.user_id, key_id)
    if not revoked:
        raise NotFound("no such API key")
    return Response(status_code=204)
