"""Access tokens: pinned algorithm, checked claims, and key rotation by kid."""

from __future__ import annotations

import uuid

import jwt
import pytest

from tj_gateway.identity.service import normalise_email
from tj_gateway.identity.tokens import InvalidToken, TokenService
from tj_gateway.settings import Settings

SECRET_A = "a" * 40
SECRET_B = "b" * 40


def valid_claims() -> dict[str, object]:
    """Claims that pass every check; each test breaks one thing."""
    return {
        "sub": str(uuid.uuid4()),
        "iss": "trading-journal",
        "aud": "trading-journal-api",
        "iat": 1,
        "exp": 4102444800,
        "jti": "x",
    }


def test_issue_and_verify() -> None:
    tokens = TokenService(Settings(jwt_secret=SECRET_A, jwt_key_id="2026-01"))  # type: ignore[arg-type]
    user = uuid.uuid4()
    token, expires_in = tokens.issue(user)
    assert expires_in == 900
    assert jwt.get_unverified_header(token)["kid"] == "2026-01"
    assert tokens.verify(token).user_id == user


def test_rotation_keeps_old_tokens_valid_until_they_expire() -> None:
    old = TokenService(Settings(jwt_secret=SECRET_A, jwt_key_id="k1"))  # type: ignore[arg-type]
    token, _ = old.issue(uuid.uuid4())
    rotated = TokenService(
        Settings(jwt_secret=SECRET_B, jwt_key_id="k2", jwt_previous_secrets=f"k1={SECRET_A}")  # type: ignore[arg-type]
    )
    assert rotated.verify(token)
    new_token, _ = rotated.issue(uuid.uuid4())
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    with pytest.raises(InvalidToken):
        old.verify(new_token)  # unknown kid


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: {**c, "aud": "someone-else"},
        lambda c: {**c, "iss": "evil"},
        lambda c: {**c, "exp": 1},
        lambda c: {k: v for k, v in c.items() if k != "jti"},
    ],
)
def test_claims_are_checked(mutate: object) -> None:
    tokens = TokenService(Settings(jwt_secret=SECRET_A))  # type: ignore[arg-type]
    claims = valid_claims()
    token = jwt.encode(mutate(claims), SECRET_A, algorithm="HS256", headers={"kid": "k1"})  # type: ignore[operator]
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_algorithm_is_pinned() -> None:
    tokens = TokenService(Settings(jwt_secret=SECRET_A))  # type: ignore[arg-type]
    claims = valid_claims()
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(InvalidToken):
        tokens.verify(unsigned)
    with pytest.raises(InvalidToken):
        tokens.verify(jwt.encode(claims, SECRET_A, algorithm="HS512", headers={"kid": "k1"}))


def test_email_normalisation() -> None:
    assert normalise_email("  Asha.K@Example.COM ") == "asha.k@example.com"
