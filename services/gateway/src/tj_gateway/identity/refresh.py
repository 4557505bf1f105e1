"""Refresh tokens: opaque random strings, stored only as their SHA-256 digest (DESIGN §6).

A login or signup starts a family; each refresh spends the presented token and issues the next one
in the same family. Presenting a spent token again means it leaked (or a client raced itself):
the whole family is revoked, so the thief and the victim both have to log in again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

TOKEN_BYTES = 32  # 43 URL-safe characters


def new_refresh_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Verdict(Enum):
    VALID = "valid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REUSED = "reused"  # already spent: revoke the family


@dataclass(frozen=True)
class StoredToken:
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


def judge(stored: StoredToken | None, now: datetime) -> Verdict:
    """What presenting a refresh token means, from its stored row (None: no such token)."""
    if stored is None:
        return Verdict.UNKNOWN
    if stored.revoked_at is not None:
        return Verdict.REVOKED
    if stored.used_at is not None:
        return Verdict.REUSED
    if stored.expires_at <= now:
        return Verdict.EXPIRED
    return Verdict.VALID
