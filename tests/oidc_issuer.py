"""A local Actions OIDC issuer for tests: RSA keys made here, served as a JWKS over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "deploy-guard-tests"
OWNER = "octo-org"
REPOSITORY = "octo-org/shop"
REPOSITORY_ID = 4242
NOW = 1_790_000_000.0


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair with its key id."""

    kid: str
    private: rsa.RSAPrivateKey

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        data.update(kid=self.kid, use="sig", alg="RS256")
        return data


def new_key(kid: str) -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


@dataclass
class Issuer:
    """What the local issuer serves, how often it was asked, and a way to mint tokens."""

    url: str = ""
    keys: list[SigningKey] = field(default_factory=list)
    # Keys that sign tokens but are not (yet) published.
    unpublished: list[SigningKey] = field(default_factory=list)
    discovery: bool = True
    # What the discovery document names as jwks_uri (default: the issuer's own key set).
    jwks_uri: str | None = None
    jwks_fetches: int = 0
    discovery_fetches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key(self) -> SigningKey:
        return self.keys[0]

    def publish(self, key: SigningKey) -> None:
        with self.lock:
            self.keys.append(key)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": f"repo:{REPOSITORY}:environment:production",
            "iat": int(NOW) - 10,
            "nbf": int(NOW) - 10,
            "exp": int(NOW) + 300,
            "jti": "a1b2c3",
            "repository": REPOSITORY,
            "repository_id": str(REPOSITORY_ID),
            "repository_owner": OWNER,
            "repository_owner_id": "99",
            "ref": "refs/heads/main",
            "sha": "a" * 40,
            "environment": "production",
            "run_id": "7001",
            "run_attempt": "1",
            "actor": "mona",
            "workflow_ref": f"{REPOSITORY}/.github/workflows/deploy.yml@refs/heads/main",
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def token(self, key: SigningKey | None = None, **overrides: Any) -> str:
        """A token signed RS256 by `key` (the first published one by default)."""
        signer = key or self.key
        return jwt.encode(
            self.claims(**overrides), signer.private, algorithm="RS256", headers={"kid": signer.kid}
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: Mapping[str, Any], kid: str) -> str:
    """`alg: none`: claims anyone can write."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(dict(claims)).encode())}."


def hs256_with_public_key(claims: Mapping[str, Any], key: SigningKey) -> str:
    """The key-confusion attack: HMAC-SHA256 keyed with the published public key."""
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(dict(claims)).encode())}"
    digest = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body: dict[str, Any]
            if self.path == "/.well-known/openid-configuration" and issuer.discovery:
                with issuer.lock:
                    issuer.discovery_fetches += 1
                jwks_uri = issuer.jwks_uri or f"{issuer.url}/.well-known/jwks"
                body = {"issuer": issuer.url, "jwks_uri": jwks_uri}
            elif self.path == "/.well-known/jwks":
                with issuer.lock:
                    issuer.jwks_fetches += 1
                    body = {"keys": [key.jwk() for key in issuer.keys]}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def local_issuer(*, discovery: bool = True) -> Iterator[Issuer]:
    """An issuer on 127.0.0.1 with one published key, stopped afterwards."""
    issuer = Issuer(keys=[new_key("key-1")], discovery=discovery)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
