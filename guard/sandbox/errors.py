"""GitHub-shaped API errors: the JSON bodies and statuses GitHub answers with when a call fails."""

from __future__ import annotations

from typing import Any

DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """An error answer: raised anywhere in a handler, rendered as GitHub's JSON error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        documentation_url: str = DOCS,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.documentation_url = documentation_url
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """GitHub's error body: message and documentation_url, `errors` for validation failures."""
        body: dict[str, Any] = {
            "message": self.message,
            "documentation_url": self.documentation_url,
            "status": str(self.status),
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def not_found() -> ApiError:
    """GitHub answers 404 both for missing things and for things the caller may not see."""
    return ApiError(404, "Not Found")


def bad_credentials() -> ApiError:
    return ApiError(401, "Bad credentials", documentation_url=f"{DOCS}#authentication")


def requires_authentication() -> ApiError:
    return ApiError(401, "Requires authentication", documentation_url=f"{DOCS}#authentication")


def validation_failed(
    resource: str, field: str, code: str = "invalid", message: str | None = None
) -> ApiError:
    """A 422 with one entry in `errors`, the way GitHub reports a bad field."""
    error: dict[str, Any] = {"resource": resource, "field": field, "code": code}
    if message is not None:
        error["message"] = message
    return ApiError(422, "Validation Failed", errors=[error])


def unprocessable(message: str) -> ApiError:
    """A 422 whose whole story is its message (ref updates, git objects)."""
    return ApiError(422, message)
