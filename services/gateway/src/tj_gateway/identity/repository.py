"""SQL of the identity module (schema ``identity``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tj_gateway.models import password_resets, refresh_tokens, users


async def create_user(
    session: AsyncSession, *, email: str, password_hash: str, name: str | None, timezone: str
) -> dict[str, Any] | None:
    """The new user, or None when the email is taken."""
    result = await session.execute(
        pg_insert(users)
        .values(id=uuid.uuid4(), email=email, password_hash=password_hash, name=name, timezone=timezone)
        .on_conflict_do_nothing(index_elements=[users.c.email])
        .returning(users)
    )
    row = result.first()
    return dict(row._mapping) if row else None


async def user_by_email(session: AsyncSession, email: str) -> dict[str, Any] | None:
    row = (await session.execute(select(users).where(users.c.email == email))).first()
    return dict(row._mapping) if row else None


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(users).where(users.c.id == user_id))).first()
    return dict(row._mapping) if row else None


async def set_password_hash(session: AsyncSession, user_id: uuid.UUID, password_hash: str) -> None:
    await session.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash, updated_at=func.now())
    )


async def insert_refresh_token(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: str,
    expires_at: datetime,
) -> None:
    await session.execute(
        refresh_tokens.insert().values(
            id=uuid.uuid4(), user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at
        )
    )


async def refresh_token_for_update(session: AsyncSession, token_hash: str) -> dict[str, Any] | None:
    """The stored token, locked so two concurrent refreshes of one token cannot both succeed."""
    row = (
        await session.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash).with_for_update())
    ).first()
    return dict(row._mapping) if row else None


async def spend_refresh_token(session: AsyncSession, token_id: uuid.UUID) -> None:
    await session.execute(update(refresh_tokens).where(refresh_tokens.c.id == token_id).values(used_at=func.now()))


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


async def revoke_user_families(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Every session of the user ends (after a password change or reset)."""
    await session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


async def update_profile(session: AsyncSession, user_id: uuid.UUID, changes: dict[str, Any]) -> dict[str, Any] | None:
    row = (
        await session.execute(
            update(users).where(users.c.id == user_id).values(**changes, updated_at=func.now()).returning(users)
        )
    ).first()
    return dict(row._mapping) if row else None


async def insert_password_reset(
    session: AsyncSession, *, user_id: uuid.UUID, token_hash: str, expires_at: datetime
) -> None:
    await session.execute(
        password_resets.insert().values(id=uuid.uuid4(), user_id=user_id, token_hash=token_hash, expires_at=expires_at)
    )


async def spend_password_reset(session: AsyncSession, token_hash: str) -> uuid.UUID | None:
    """The user of an unused, unexpired reset token, spending it (and the user's other open
    tokens); None when the token is unknown, used or expired."""
    row = (
        await session.execute(
            update(password_resets)
            .where(
                password_resets.c.token_hash == token_hash,
                password_resets.c.used_at.is_(None),
                password_resets.c.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(password_resets.c.user_id)
        )
    ).first()
    if row is None:
        return None
    user_id: uuid.UUID = row.user_id
    await session.execute(
        update(password_resets)
        .where(password_resets.c.user_id == user_id, password_resets.c.used_at.is_(None))
        .values(used_at=func.now())
    )
    return user_id
