"""The ways an Actions OIDC token is refused: a stable `reason` code, an HTTP status, words."""

from __future__ import annotations

from typing import ClassVar


class OidcError(Exception):
    """Why a token was not accepted; `reason` is a stable code, the message says it in words."""

    reason: ClassVar[str] = "invalid_token"
    http_status: ClassVar[int] = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTokenError(OidcError):
    """The token does not prove anything: 401."""


class TokenExpiredError(InvalidTokenError):
    reason = "expired"


class TokenNotYetValidError(InvalidTokenError):
    reason = "not_yet_valid"


class WrongAudienceError(InvalidTokenError):
    reason = "wrong_audience"


class WrongIssuerError(InvalidTokenError):
    reason = "wrong_issuer"


class UnknownKeyError(InvalidTokenError):
    reason = "unknown_key"


class WrongAlgorithmError(InvalidTokenError):
    reason = "wrong_algorithm"


class BadSignatureError(InvalidTokenError):
    reason = "bad_signature"


class MalformedTokenError(InvalidTokenError):
    reason = "malformed"


class ForbiddenError(OidcError):
    """A good token from a caller the guard does not serve: 403."""

    reason = "forbidden"
    http_status = 403


class OwnerNotAllowedError(ForbiddenError):
    reason = "owner_not_allowed"


class RepositoryMismatchError(ForbiddenError):
    reason = "repository_mismatch"


class IssuerUnavailableError(OidcError):
    """The issuer's keys could not be read: nothing is wrong with the token, try again: 503."""

    reason = "issuer_unavailable"
    http_status = 503
