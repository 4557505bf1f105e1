"""The key material: ``tj_`` + 40 URL-safe random characters (240 bits), stored as its SHA-256.

A fast hash is enough here (unlike passwords): the key is random and long, so nothing can be
guessed from the digest, and a lookup by digest costs one index probe."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "tj_"
SHOWN_PREFIX_LENGTH = 10  # "tj_" and 7 random characters: enough to tell keys apart in a list
SCOPES = ("read", "write")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def looks_like_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def scope_for(method: str) -> str:
    """The scope a request needs: ``read`` for safe methods, ``write`` for the rest."""
    return "read" if method.upper() in READ_METHODS else "write"
