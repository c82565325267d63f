"""Verifies GitHub Actions OIDC tokens: who is calling the guard's API, proven without a secret.

    verifier = OidcVerifier(issuer, audience=..., allowed_owners=("octo-org",))
    identity = verifier.verify(token)   # or raises an OidcError saying why not

RS256 only, signed by a key of the issuer's JWKS (cached; fetched again, at most once per
cooldown, when a token names a key the cache does not hold), `iss`, `aud`, `exp`/`iat`/`nbf`
with 60 s of leeway on an injectable clock, then the owner allow-list. The repository is
identified by `repository_id`; `sub` is never parsed (its format changed in 2026).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from guard.github.oidc_errors import (
    BadSignatureError,
    ForbiddenError,
    InvalidTokenError,
    IssuerUnavailableError,
    MalformedTokenError,
    OidcError,
    OwnerNotAllowedError,
    RepositoryMismatchError,
    TokenExpiredError,
    TokenNotYetValidError,
    UnknownKeyError,
    WrongAlgorithmError,
    WrongAudienceError,
    WrongIssuerError,
)
from guard.github.oidc_keys import KeySet, first_line

__all__ = [
    "BadSignatureError",
    "ForbiddenError",
    "InvalidTokenError",
    "IssuerUnavailableError",
    "KeySet",
    "MalformedTokenError",
    "OidcError",
    "OidcVerifier",
    "OwnerNotAllowedError",
    "RepositoryMismatchError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "UnknownKeyError",
    "WorkflowIdentity",
    "WrongAlgorithmError",
    "WrongAudienceError",
    "WrongIssuerError",
]

ALGORITHM = "RS256"
LEEWAY_S = 60
# Real tokens are 1-2 KB; anything far larger is not one.
MAX_TOKEN_CHARS = 16_384

EXPIRED = "the token expired at {exp} (with {leeway} s of leeway); request a fresh one"
NOT_YET_VALID = "the token is not valid before {moment}; check the clocks"
WRONG_AUDIENCE = (
    "the token's audience is {actual}, not {expected}: request it with "
    "core.getIDToken('{expected}') or &audience={expected}"
)
WRONG_ISSUER = "the token was issued by {actual}, not {expected}"
WRONG_ALGORITHM = "the token is signed with {alg}; the guard accepts RS256 only"
BAD_SIGNATURE = "the token's signature does not verify with the issuer's key {kid}"
MALFORMED = "the token is not a well-formed JWT: {why}"
MISSING_CLAIM = "the token has no {claim} claim"
OWNER_NOT_ALLOWED = "{owner} is not among the owners this guard serves (GUARD_OIDC_ALLOWED_OWNERS)"
NO_OWNERS_ALLOWED = "the guard serves no owners yet: GUARD_OIDC_ALLOWED_OWNERS is empty"
REPOSITORY_MISMATCH = (
    "the token's repository_id {claimed} is not the id of {repository} on GitHub ({actual}): "
    "the repository was deleted and re-created, or the token is not from it"
)


@dataclass(frozen=True)
class WorkflowIdentity:
    """The workflow run a verified token speaks for, read from its claims."""

    repository: str
    repository_id: int
    owner: str
    claims: Mapping[str, Any]

    def _text(self, name: str) -> str | None:
        value = self.claims.get(name)
        return value if isinstance(value, str) and value else None

    @property
    def sha(self) -> str | None:
        return self._text("sha")

    @property
    def ref(self) -> str | None:
        return self._text("ref")

    @property
    def environment(self) -> str | None:
        return self._text("environment")

    @property
    def actor(self) -> str | None:
        return self._text("actor")

    @property
    def run_id(self) -> str | None:
        return self._text("run_id")

    @property
    def run_attempt(self) -> str | None:
        return self._text("run_attempt")

    def require_repository_id(self, actual_id: int) -> None:
        """Raise RepositoryMismatchError unless GitHub's id of the repository is the token's."""
        if actual_id != self.repository_id:
            raise RepositoryMismatchError(
                REPOSITORY_MISMATCH.format(
                    claimed=self.repository_id, repository=self.repository, actual=actual_id
                )
            )


class OidcVerifier:
    """Checks tokens of one issuer for one audience, serving the allowed owners only."""

    def __init__(
        self,
        issuer: str,
        *,
        audience: str,
        allowed_owners: Collection[str],
        clock: Callable[[], float] = time.time,
        keys: KeySet | None = None,
        leeway_s: int = LEEWAY_S,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.allowed_owners = frozenset(owner.lower() for owner in allowed_owners)
        self._clock = clock
        self._leeway_s = leeway_s
        self.keys = keys or KeySet(self.issuer, clock=clock)

    def verify(self, token: str) -> WorkflowIdentity:
        """The identity the token proves; raises an OidcError (401, 403 or 503) otherwise."""
        claims = self.verified_claims(token)
        identity = _identity(claims)
        if not self.allowed_owners:
            raise OwnerNotAllowedError(NO_OWNERS_ALLOWED)
        if identity.owner.lower() not in self.allowed_owners:
            raise OwnerNotAllowedError(OWNER_NOT_ALLOWED.format(owner=identity.owner))
        return identity

    def verified_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature, issuer, audience and lifetime all check out."""
        header = _header(token)
        algorithm = header.get("alg")
        # Decided on the header before any key is touched: `none`, HS256 signed with the
        # public key as its secret, and every other algorithm never reach a verifier.
        if algorithm != ALGORITHM:
            raise WrongAlgorithmError(WRONG_ALGORITHM.format(alg=_shown(algorithm)))
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise MalformedTokenError(MALFORMED.format(why="its header names no key (kid)"))
        key = self.keys.key(kid)
        if key.key_type != "RSA" or key.algorithm_name not in (ALGORITHM, None):
            raise WrongAlgorithmError(WRONG_ALGORITHM.format(alg=_shown(key.algorithm_name)))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                # Lifetime, issuer and audience are checked below, on our clock, in our words.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise BadSignatureError(BAD_SIGNATURE.format(kid=kid)) from None
        except jwt.InvalidAlgorithmError:
            raise WrongAlgorithmError(WRONG_ALGORITHM.format(alg=_shown(algorithm))) from None
        except jwt.InvalidTokenError as error:
            raise MalformedTokenError(MALFORMED.format(why=first_line(error))) from None
        self._check_issuer(claims)
        self._check_audience(claims)
        self._check_lifetime(claims)
        return claims

    def _check_issuer(self, claims: Mapping[str, Any]) -> None:
        issuer = claims.get("iss")
        if not isinstance(issuer, str):
            raise MalformedTokenError(MISSING_CLAIM.format(claim="iss"))
        if issuer.rstrip("/") != self.issuer:
            raise WrongIssuerError(WRONG_ISSUER.format(actual=issuer, expected=self.issuer))

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not audiences:
            raise MalformedTokenError(MISSING_CLAIM.format(claim="aud"))
        if self.audience not in audiences:
            actual = ", ".join(str(item) for item in audiences)
            raise WrongAudienceError(WRONG_AUDIENCE.format(actual=actual, expected=self.audience))

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        expires = _number(claims, "exp", required=True)
        issued = _number(claims, "iat", required=True)
        not_before = _number(claims, "nbf", required=False)
        if expires is not None and now > expires + self._leeway_s:
            raise TokenExpiredError(EXPIRED.format(exp=_moment(expires), leeway=self._leeway_s))
        for start in (issued, not_before):
            if start is not None and now < start - self._leeway_s:
                raise TokenNotYetValidError(NOT_YET_VALID.format(moment=_moment(start)))


def _header(token: str) -> dict[str, Any]:
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise MalformedTokenError(MALFORMED.format(why="expected three dot-separated parts"))
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise MalformedTokenError(MALFORMED.format(why=first_line(error))) from None


def _shown(value: object) -> str:
    return value if isinstance(value, str) and value else "no algorithm"


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    # bool is an int to Python, never a time to anyone.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedTokenError(MISSING_CLAIM.format(claim=f"numeric {name}"))
    return float(value)


def _moment(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _identity(claims: Mapping[str, Any]) -> WorkflowIdentity:
    repository = claims.get("repository")
    owner = claims.get("repository_owner")
    # GitHub sends ids as decimal strings.
    raw_id = claims.get("repository_id")
    for name, value in (("repository", repository), ("repository_owner", owner)):
        if not isinstance(value, str) or not value:
            raise MalformedTokenError(MISSING_CLAIM.format(claim=name))
    assert isinstance(repository, str)
    assert isinstance(owner, str)
    if isinstance(raw_id, bool) or not (
        (isinstance(raw_id, str) and raw_id.isdigit()) or isinstance(raw_id, int)
    ):
        raise MalformedTokenError(MISSING_CLAIM.format(claim="repository_id"))
    return WorkflowIdentity(
        repository=repository, repository_id=int(raw_id), owner=owner, claims=dict(claims)
    )
