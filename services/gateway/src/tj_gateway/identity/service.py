"""Signup, login, refresh-token rotation and logout."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tj_common.errors import BadRequest, Conflict, NotFound, Unauthorized
from tj_gateway.identity import passwords, repository
from tj_gateway.identity.refresh import StoredToken, Verdict, hash_refresh_token, judge, new_refresh_token
from tj_gateway.identity.schemas import LoginIn, PasswordChangeIn, ProfileIn, SignupIn, TokenPair, UserOut
from tj_gateway.identity.tokens import TokenService


def normalise_email(email: str) -> str:
    """One spelling per mailbox: NFKC, trimmed, lower-cased (local part too: no mainstream
    provider treats case as significant, and two accounts differing only by case confuse people)."""
    return unicodedata.normalize("NFKC", email).strip().lower()


async def issue_pair(
    session: AsyncSession, tokens: TokenService, user: dict[str, Any], family_id: uuid.UUID | None = None
) -> TokenPair:
    """An access token and a new refresh token, in ``family_id`` (a new family when None)."""
    access_token, expires_in = tokens.issue(user["id"])
    refresh_token = new_refresh_token()
    await repository.insert_refresh_token(
        session,
        user_id=user["id"],
        family_id=family_id or uuid.uuid4(),
        token_hash=hash_refresh_token(refresh_token),
        expires_at=datetime.now(UTC) + tokens.refresh_lifetime,
    )
    return TokenPair(
        user=UserOut.model_validate(user),
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=expires_in,
    )


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
    return await issue_pair(session, tokens, user)


async def login(session: AsyncSession, tokens: TokenService, body: LoginIn) -> TokenPair:
    user = await repository.user_by_email(session, normalise_email(body.email))
    ok = await passwords.verify_password(user["password_hash"] if user else None, body.password)
    if not user or not ok:
        raise Unauthorized("invalid email or password", code="InvalidCredentials")
    if passwords.needs_rehash(user["password_hash"]):
        await repository.set_password_hash(session, user["id"], await passwords.hash_password(body.password))
    return await issue_pair(session, tokens, user)


async def refresh(session: AsyncSession, tokens: TokenService, refresh_token: str) -> TokenPair | Verdict:
    """The next pair of the token's family, or why not (a Verdict other than VALID).

    On REUSED the family has been revoked in ``session``; the caller must commit before answering
    401, which is why this returns the verdict instead of raising.
    """
    row = await repository.refresh_token_for_update(session, hash_refresh_token(refresh_token))
    stored = StoredToken(row["expires_at"], row["used_at"], row["revoked_at"]) if row else None
    verdict = judge(stored, datetime.now(UTC))
    if row is None or verdict is not Verdict.VALID:
        if row is not None and verdict is Verdict.REUSED:
            await repository.revoke_family(session, row["family_id"])
        return verdict
    user = await repository.user_by_id(session, row["user_id"])
    if user is None:  # pragma: no cover - the foreign key cascades
        return Verdict.UNKNOWN
    await repository.spend_refresh_token(session, row["id"])
    return await issue_pair(session, tokens, user, family_id=row["family_id"])


async def logout(session: AsyncSession, refresh_token: str) -> None:
    """Revokes the token's family; an unknown token is not an error (logout is idempotent)."""
    row = await repository.refresh_token_for_update(session, hash_refresh_token(refresh_token))
    if row is not None:
        await repository.revoke_family(session, row["family_id"])


async def change_password(
    session: AsyncSession, tokens: TokenService, user_id: uuid.UUID, body: PasswordChangeIn
) -> TokenPair:
    """Needs the current password; ends every session and returns a fresh pair for this one."""
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise NotFound("user not found")
    if not await passwords.verify_password(user["password_hash"], body.current_password):
        raise Unauthorized("the current password is wrong", code="InvalidCredentials")
    if body.new_password == body.current_password:
        raise BadRequest("the new password is the current one", code="PasswordUnchanged")
    await repository.set_password_hash(session, user_id, await passwords.hash_password(body.new_password))
    await repository.revoke_user_families(session, user_id)
    return await issue_pair(session, tokens, user)


async def start_password_reset(session: AsyncSession, email: str, lifetime: timedelta) -> tuple[str, str] | None:
    """(address, token) to mail when the account exists; None otherwise (the caller answers the
    same either way)."""
    user = await repository.user_by_email(session, normalise_email(email))
    if user is None:
        return None
    token = new_refresh_token()  # the same 256-bit opaque material, stored hashed
    await repository.insert_password_reset(
        session, user_id=user["id"], token_hash=hash_refresh_token(token), expires_at=datetime.now(UTC) + lifetime
    )
    return user["email"], token


async def finish_password_reset(session: AsyncSession, token: str, new_password: str) -> None:
    user_id = await repository.spend_password_reset(session, hash_refresh_token(token))
    if user_id is None:
        raise BadRequest("the reset token is unknown, used or expired", code="InvalidResetToken")
    await repository.set_password_hash(session, user_id, await passwords.hash_password(new_password))
    await repository.revoke_user_families(session, user_id)


async def update_profile(session: AsyncSession, user_id: uuid.UUID, body: ProfileIn) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("timezone", "") is None:
        raise BadRequest("timezone cannot be null", code="InvalidTimezone")
    user = (
        await repository.update_profile(session, user_id, changes)
        if changes
        else await repository.user_by_id(session, user_id)
    )
    if user is None:
        raise NotFound("user not found")
    return user
