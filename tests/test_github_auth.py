"""App JWTs and the one auth switch (installation tokens over HTTP: test_github_tokens)."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from guard.github.auth import AppAuth, TokenAuth, auth_from_settings

NOW = 1_800_000_000.0


def rsa_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE, PUBLIC = rsa_pem()


def test_the_app_jwt_has_the_claims_github_asks_for() -> None:
    auth = AppAuth(1234, PRIVATE, api_url="http://127.0.0.1:9", clock=lambda: NOW)
    token = auth.app_jwt()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token, PUBLIC, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims == {"iat": int(NOW) - 60, "exp": int(NOW) + 540, "iss": "1234"}


def test_the_jwt_follows_the_injected_clock() -> None:
    now = [NOW]
    auth = AppAuth("77", PRIVATE, api_url="http://127.0.0.1:9", clock=lambda: now[0])
    first = jwt.decode(auth.app_jwt(), options={"verify_signature": False})
    now[0] += 600
    second = jwt.decode(auth.app_jwt(), options={"verify_signature": False})
    assert second["iat"] - first["iat"] == 600
    assert second["exp"] - second["iat"] <= 600


def test_secrets_stay_out_of_reprs() -> None:
    app = AppAuth(5, PRIVATE, api_url="http://127.0.0.1:9")
    plain = TokenAuth("ghp_" + "x" * 36)
    assert "PRIVATE" not in repr(app)
    assert "ghp_" not in repr(plain)


def test_a_bad_key_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="not a readable PEM key") as raised:
        AppAuth(5, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----")
    assert "c2VjcmV0" not in str(raised.value)
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="RSA"):
        AppAuth(5, ec_key.decode())
    with pytest.raises(ValueError, match="number"):
        AppAuth("my-app", PRIVATE)


def test_a_plain_token_serves_every_installation() -> None:
    auth = TokenAuth("  ghp_secret  ")
    assert auth.token_for(1) == auth.token_for(None) == "ghp_secret"
    assert auth.invalidate(1) is False


def test_one_switch_picks_the_credentials() -> None:
    app = auth_from_settings(app_id="12", private_key=PRIVATE, token=None)
    assert isinstance(app, AppAuth)
    assert app.app_id == "12"
    assert isinstance(auth_from_settings(app_id=None, private_key=None, token="t"), TokenAuth)
    with pytest.raises(ValueError, match="needs both"):
        auth_from_settings(app_id="12", private_key=None, token="t")
    with pytest.raises(ValueError, match="GUARD_GITHUB_TOKEN"):
        auth_from_settings(app_id=None, private_key=None, token=None)
