"""Who is calling: App JWTs checked like GitHub checks them, installation and personal tokens."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from guard.sandbox.errors import ApiError, bad_credentials
from guard.sandbox.models import AppRecord, InstallationRecord, TokenRecord
from guard.sandbox.state import SandboxState

# GitHub refuses App JWTs whose `exp` is more than ten minutes ahead.
MAX_JWT_LIFETIME_SECONDS = 600
INSTALLATION_TOKEN_SECONDS = 3600
JWT_DOCS = (
    "https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/"
    "generating-a-json-web-token-jwt-for-a-github-app"
)
JWT_UNDECODABLE = "A JSON web token could not be decoded"
JWT_EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)
JWT_TOO_LONG = "'Expiration time' claim ('exp') is too far in the future"
JWT_NOT_YET = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
    "was issued"
)
# The permissions a deploy-guard App asks for (github-facts.md section 5).
GUARD_APP_PERMISSIONS = {
    "actions": "write",
    "checks": "write",
    "contents": "write",
    "deployments": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}
GUARD_APP_EVENTS = ["deployment", "deployment_status", "deployment_protection_rule", "workflow_run"]


class Clock:
    """Wall-clock time with an offset a test can advance, to expire tokens without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass(frozen=True)
class AppCredentials:
    """What a test or the demo needs to act as a registered App."""

    app_id: int
    slug: str
    client_id: str
    private_key_pem: str


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    kind: str  # "anonymous", "app", "installation" or "user"
    label: str  # what the call log shows: "installation:3", "user:octocat", "app:1", "anonymous"
    login: str | None = None  # the account acting: a user, or the App's `slug[bot]`
    app_id: int | None = None
    installation_id: int | None = None
    token: TokenRecord | None = None


ANONYMOUS = Principal(kind="anonymous", label="anonymous")


def generate_app_key() -> tuple[str, str]:
    """A fresh RSA key pair for a test App: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def make_app_jwt(
    app_id: int | str, private_key_pem: str, *, issued_at: float | None = None, lifetime: int = 540
) -> str:
    """An App JWT as GitHub's docs describe it: iat 60 s in the past, exp `lifetime` s ahead."""
    now = time.time() if issued_at is None else issued_at
    claims = {"iat": int(now) - 60, "exp": int(now) + lifetime, "iss": str(app_id)}
    return jwt.encode(claims, private_key_pem, algorithm="RS256")


def new_token(prefix: str) -> str:
    """GitHub-style token text: a type prefix and 36 random letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(36))


def bot_login(app: AppRecord) -> str:
    return f"{app.slug}[bot]"


def _jwt_error(message: str) -> ApiError:
    return ApiError(401, message, documentation_url=JWT_DOCS)


def authenticate(header: str | None, state: SandboxState, clock: Clock) -> Principal:
    """Turn an Authorization header into a Principal, or raise GitHub's 401."""
    if not header:
        return ANONYMOUS
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() not in {"bearer", "token"} or not credential:
        raise bad_credentials()
    if credential.count(".") == 2 and scheme.lower() == "bearer":
        return _authenticate_jwt(credential, state, clock)
    with state.lock:
        record = state.tokens.get(credential)
        if record is None or (record.expires_at is not None and record.expires_at <= clock.now()):
            raise bad_credentials()
        if record.kind == "installation" and record.installation_id is not None:
            installation = state.installations.get(record.installation_id)
            app = state.apps.get(installation.app_id) if installation else None
            if installation is None or app is None:
                raise bad_credentials()
            return Principal(
                kind="installation",
                label=f"installation:{installation.id}",
                login=bot_login(app),
                app_id=app.id,
                installation_id=installation.id,
                token=record,
            )
        return Principal(
            kind="user", label=f"user:{record.login}", login=record.login, token=record
        )


def _authenticate_jwt(token: str, state: SandboxState, clock: Clock) -> Principal:
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise _jwt_error(JWT_UNDECODABLE) from error
    issuer = str(unverified.get("iss", ""))
    with state.lock:
        app = next(
            (a for a in state.apps.values() if issuer in {str(a.id), a.client_id}),
            None,
        )
    if app is None:
        raise _jwt_error(JWT_UNDECODABLE)
    try:
        claims = jwt.decode(
            token,
            app.public_key_pem,
            algorithms=["RS256"],
            # Time claims are checked below against the sandbox clock, which tests can advance.
            options={"require": ["iat", "exp", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as error:
        raise _jwt_error(JWT_UNDECODABLE) from error
    now = clock.now()
    issued_at, expires_at = claims["iat"], claims["exp"]
    if not isinstance(issued_at, int | float) or issued_at > now + 60:
        raise _jwt_error(JWT_NOT_YET)
    if not isinstance(expires_at, int | float) or expires_at <= now:
        raise _jwt_error(JWT_EXPIRED)
    if expires_at > now + MAX_JWT_LIFETIME_SECONDS:
        raise _jwt_error(JWT_TOO_LONG)
    return Principal(kind="app", label=f"app:{app.id}", login=bot_login(app), app_id=app.id)


def issue_installation_token(
    state: SandboxState,
    installation: InstallationRecord,
    clock: Clock,
    *,
    repositories: list[str] | None,
    permissions: dict[str, str],
) -> TokenRecord:
    record = TokenRecord(
        token=new_token("ghs_"),
        kind="installation",
        installation_id=installation.id,
        expires_at=clock.now() + INSTALLATION_TOKEN_SECONDS,
        repositories=repositories,
        permissions=permissions,
    )
    with state.lock:
        state.tokens[record.token] = record
    return record
