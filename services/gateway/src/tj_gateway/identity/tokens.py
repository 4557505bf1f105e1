"""Access tokens: JWT (HS256 pinned) with a key id, so the signing secret can rotate while tokens
signed with an older key stay valid until they expire."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from tj_gateway.settings import Settings

ISSUER = "trading-journal"
AUDIENCE = "trading-journal-api"
ALGORITHM = "HS256"
VERIFIED_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    token_id: str
    expires_at: datetime


class InvalidToken(Exception):
    pass


class UnknownKey(InvalidToken):
    """Signed with a key id this process does not know (yet: another replica may have rotated)."""


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self.load(settings)

    def load(self, settings: Settings) -> None:
        """(Re)reads the signing keys, e.g. after a rotation in the secrets source."""
        self.current_kid = settings.jwt_key_id
        self.keys = {settings.jwt_key_id: settings.jwt_secret.get_secret_value()}
        # JWT_PREVIOUS_SECRETS: "kid=secret,kid=secret" kept for verification only.
        for pair in settings.jwt_previous_secrets.get_secret_value().split(","):
            if "=" in pair:
                kid, secret = pair.split("=", 1)
                self.keys.setdefault(kid.strip(), secret.strip())
        self.lifetime = timedelta(seconds=settings.jwt_expires_in)
        self.refresh_lifetime = timedelta(seconds=settings.refresh_token_expires_in)
        # Tokens already verified, by their exact text: a client sends the same token for its
        # whole life, and parsing plus HMAC on every request is the costliest part of the cached
        # read path. Only the expiry is re-checked. Emptied when the keys change.
        self._verified: dict[str, AccessClaims] = {}

    def issue(self, user_id: uuid.UUID) -> tuple[str, int]:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self.keys[self.current_kid], algorithm=ALGORITHM, headers={"kid": self.current_kid})
        return token, int(self.lifetime.total_seconds())

    def verify(self, token: str) -> AccessClaims:
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at.timestamp() > time.time():
                return known
            self._verified.pop(token, None)
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.get(header.get("kid", ""))
            if key is None:
                raise UnknownKey("unknown signing key")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                token_id=claims["jti"],
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except UnknownKey:
            raise
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise InvalidToken(str(exc)) from exc
