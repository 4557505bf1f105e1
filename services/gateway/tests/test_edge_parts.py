"""Pure pieces of the edge: rate-limit terms, cache keys and ETags, flag values, the verified-token
memory, API key material."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from tj_gateway.apikeys.keys import hash_api_key, looks_like_api_key, new_api_key, scope_for
from tj_gateway.cache import cache_label, etag_matches, etag_of
from tj_gateway.flags import parse_flag
from tj_gateway.identity.tokens import ALGORITHM, AUDIENCE, ISSUER, InvalidToken, TokenService
from tj_gateway.ratelimit import Decision, Limit, limits_from
from tj_gateway.settings import Settings


def test_limits_parse() -> None:
    limit = Limit.parse("login", "10/1m")
    assert (limit.count, limit.period, limit.interval_ms) == (10, 60, 6000)
    assert Limit.parse("x", " 100 / 1h ").period == 3600
    for bad in ("10", "0/1m", "ten/1m", "10/soon"):
        with pytest.raises(ValueError, match="not a"):
            Limit.parse("x", bad)
    assert set(limits_from(Settings())) == {
        "signup_ip",
        "signup_email",
        "login_ip",
        "login_email",
        "password_reset",
        "api",
    }


def test_decision_headers() -> None:
    allowed = Decision(True, 10, 3, 42, 0).headers()
    assert allowed == {"RateLimit-Limit": "10", "RateLimit-Remaining": "3", "RateLimit-Reset": "42"}
    refused = Decision(False, 10, 0, 60, 6).headers()
    assert refused["Retry-After"] == "6" and refused["RateLimit-Remaining"] == "0"


def test_etags_and_labels() -> None:
    tag = etag_of(b'{"items": []}')
    assert tag.startswith('"') and tag.endswith('"') and tag == etag_of(b'{"items": []}')
    assert tag != etag_of(b'{"items": [1]}')
    assert etag_matches(tag, tag) and etag_matches(f'"a", W/{tag}', tag) and etag_matches("*", tag)
    assert not etag_matches(None, tag) and not etag_matches('"other"', tag)
    assert cache_label("/api/v1/trades") == "trades"
    assert cache_label("/api/v1/analytics/equity-curve") == "analytics_equity_curve"


def test_flag_values() -> None:
    assert parse_flag("TRUE") and parse_flag("on") and not parse_flag("0") and not parse_flag(" no ")
    with pytest.raises(ValueError, match="not a flag value"):
        parse_flag("maybe")


def test_api_key_material() -> None:
    key = new_api_key()
    assert looks_like_api_key(key) and len(key) >= 43 and key != new_api_key()
    assert hash_api_key(key) == hash_api_key(key) and key not in hash_api_key(key)
    assert scope_for("GET") == scope_for("head") == "read"
    assert scope_for("POST") == scope_for("DELETE") == "write"


def test_remembered_tokens_still_expire() -> None:
    tokens = TokenService(Settings(jwt_secret="s" * 48))  # type: ignore[arg-type]
    user = uuid.uuid4()
    token, _ = tokens.issue(user)
    assert tokens.verify(token).user_id == user
    assert tokens.verify(token).user_id == user  # remembered
    # A remembered token is refused once it expires.
    short = TokenService(Settings(jwt_secret="s" * 48, jwt_expires_in=1))  # type: ignore[arg-type]
    brief, _ = short.issue(user)
    assert short.verify(brief).user_id == user
    time.sleep(2.1)
    with pytest.raises(InvalidToken):
        short.verify(brief)
    assert brief not in short._verified
    # A token differing in one character is verified on its own (and refused).
    head, payload, signature = token.split(".")
    with pytest.raises(InvalidToken):
        tokens.verify(f"{head}.{payload}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}")
    # New keys: everything remembered is forgotten.
    tokens.load(Settings(jwt_secret="t" * 48, jwt_key_id="k2"))  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        tokens.verify(token)
    forged = jwt.encode(
        {"sub": str(user), "iss": ISSUER, "aud": AUDIENCE, "iat": 0, "exp": 1, "jti": "x"},
        "t" * 48,
        algorithm=ALGORITHM,
        headers={"kid": "k2"},
    )
    with pytest.raises(InvalidToken):
        tokens.verify(forged)
