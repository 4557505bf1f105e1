"""SQL of the API keys (table ``identity.api_keys``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tj_gateway.models import api_keys

_LISTED = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.scopes,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
)


async def create(
    session: AsyncSession, *, user_id: uuid.UUID, name: str, prefix: str, key_hash: str, scopes: list[str]
) -> dict[str, Any]:
    row = (
        await session.execute(
            api_keys.insert()
            .values(id=uuid.uuid4(), user_id=user_id, name=name, prefix=prefix, key_hash=key_hash, scopes=scopes)
            .returning(*_LISTED)
        )
    ).one()
    return dict(row._mapping)


async def active_for_user(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(*_LISTED)
        .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
        .order_by(api_keys.c.created_at.desc(), api_keys.c.id)
    )
    return [dict(row._mapping) for row in rows]


async def revoke(session: AsyncSession, user_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    """True when the caller's active key was revoked; False when it is not theirs or gone."""
    result = await session.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(api_keys.c.id)
    )
    return result.first() is not None


async def by_hash(session: AsyncSession, key_hash: str) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(api_keys.c.id, api_keys.c.user_id, api_keys.c.scopes, api_keys.c.revoked_at).where(
                api_keys.c.key_hash == key_hash
            )
        )
    ).first()
    return dict(row._mapping) if row else None


async def touch(session: AsyncSession, key_id: uuid.UUID) -> None:
    """Records use, at most once a minute per key (a write per request would be wasteful)."""
    await session.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < func.now() - text("interval '1 minute'")),
        )
        .values(last_used_at=func.now())
    )
