"""What a caller may see and change: installation scopes and permissions, collaborator levels."""

from __future__ import annotations

from guard.sandbox.auth import JWT_UNDECODABLE, Principal
from guard.sandbox.errors import ApiError, not_found, requires_authentication
from guard.sandbox.models import PERMISSION_LEVELS, RepoRecord
from guard.sandbox.state import SandboxState

NOT_ACCESSIBLE_BY_INTEGRATION = "Resource not accessible by integration"
# Anyone who can read a repository may open issues and comment on them, as on GitHub.
OPEN_TO_READERS = {"issues"}


def require_app(principal: Principal) -> int:
    """Endpoints under /app take only an App JWT."""
    if principal.kind != "app" or principal.app_id is None:
        raise ApiError(401, JWT_UNDECODABLE)
    return principal.app_id


def can_see(principal: Principal, repo: RepoRecord, state: SandboxState) -> bool:
    if principal.kind == "installation":
        installation = state.installations.get(principal.installation_id or 0)
        if installation is None or installation.account.lower() != repo.owner.lower():
            return False
        names = {repo.full_name.lower()}
        if installation.repositories is not None and not names & _lower(installation.repositories):
            return False
        scoped = principal.token.repositories if principal.token else None
        return scoped is None or bool(names & _lower(scoped))
    if principal.kind == "user" and principal.login is not None:
        return not repo.private or state.permission(repo, principal.login) is not None
    return not repo.private


def check_access(
    principal: Principal,
    repo: RepoRecord,
    state: SandboxState,
    permission: str,
    write: bool,
) -> None:
    """Raise what GitHub answers when the caller may not do this to the repository."""
    if principal.kind == "app":
        raise ApiError(403, NOT_ACCESSIBLE_BY_INTEGRATION)
    if not can_see(principal, repo, state):
        # GitHub hides repositories a caller cannot see behind a 404.
        raise not_found()
    if not write:
        _check_read(principal, repo, state, permission)
        return
    if principal.kind == "anonymous":
        raise requires_authentication()
    if principal.kind == "installation":
        granted = principal.token.permissions if principal.token else {}
        if granted.get(permission) != "write":
            raise ApiError(403, NOT_ACCESSIBLE_BY_INTEGRATION)
        return
    if permission in OPEN_TO_READERS:
        return
    level = state.permission(repo, principal.login or "")
    if level is None or PERMISSION_LEVELS.index(level) < PERMISSION_LEVELS.index("write"):
        raise ApiError(403, "Must have push access to repository")


def _check_read(
    principal: Principal, repo: RepoRecord, state: SandboxState, permission: str
) -> None:
    if principal.kind == "installation" and permission != "metadata":
        granted = principal.token.permissions if principal.token else {}
        if granted.get(permission) not in {"read", "write"}:
            raise ApiError(403, NOT_ACCESSIBLE_BY_INTEGRATION)
    if permission == "administration" and principal.kind != "installation":
        level = state.permission(repo, principal.login) if principal.login else None
        if level != "admin":
            raise ApiError(403, "Must have admin rights to Repository.")


def has_push_access(principal: Principal, repo: RepoRecord, state: SandboxState) -> bool:
    """Issue labels and assignees are dropped silently for callers without push access."""
    if principal.kind == "installation":
        granted = principal.token.permissions if principal.token else {}
        return granted.get("issues") == "write" or granted.get("contents") == "write"
    level = state.permission(repo, principal.login or "") if principal.login else None
    return level is not None and PERMISSION_LEVELS.index(level) >= PERMISSION_LEVELS.index("write")


def _lower(names: list[str]) -> set[str]:
    return {name.lower() for name in names}
