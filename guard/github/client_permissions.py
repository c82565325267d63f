"""Who may act on a repository: a person's permission, and which repository a name is now.

`PermissionOperations` is mixed into `GitHubClient`; code that needs only these two calls
depends on the `PermissionPort` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import quote

from guard.github.client_base import ClientBase
from guard.github.errors import NotFoundError

# GitHub's base roles, weakest first; `maintain` reads as `write`, `triage` as `read`.
PermissionLevel = Literal["none", "read", "write", "admin"]
_LEVELS: tuple[PermissionLevel, ...] = ("none", "read", "write", "admin")
# Fine-grained role names that carry push access, for custom roles GitHub reports by name.
_PUSH_ROLES = frozenset({"write", "maintain", "admin"})


@dataclass(frozen=True)
class CollaboratorPermission:
    """A person's access to a repository: the base level and the role's own name."""

    login: str
    permission: PermissionLevel
    role_name: str | None = None

    @property
    def can_push(self) -> bool:
        """Write, maintain or admin: what the guard asks of anyone who acts through it."""
        return self.permission in ("write", "admin") or (self.role_name or "") in _PUSH_ROLES


class PermissionPort(Protocol):
    """The two questions ChatOps and the API ask GitHub."""

    def collaborator_permission(self, repo: str, login: str) -> CollaboratorPermission:
        """`login`'s permission on `repo` ("none" for strangers and unknown accounts)."""
        ...

    def repository_id(self, repo: str) -> int:
        """The numeric id of the repository `repo` names now."""
        ...


def read_collaborator_permission(
    client: ClientBase, repo: str, login: str
) -> CollaboratorPermission:
    """GET /repos/{o}/{r}/collaborators/{username}/permission; a 404 is no permission."""
    url = f"{client._repo(repo).url}/collaborators/{quote(login, safe='')}/permission"
    try:
        data = client._idempotent(
            f"read {login}'s permission on {repo}", lambda: client._api("GET", url)
        )
    except NotFoundError:
        return CollaboratorPermission(login, "none")
    level = data.get("permission") if isinstance(data, dict) else None
    role = data.get("role_name") if isinstance(data, dict) else None
    return CollaboratorPermission(
        login,
        level if level in _LEVELS else "none",
        role if isinstance(role, str) and role else None,
    )


def read_repository_id(client: ClientBase, repo: str) -> int:
    """The id GitHub gives the repository now named `repo`."""
    data = client._idempotent(f"read {repo}", lambda: client._repo(repo).raw_data)
    return int(data["id"])


class PermissionOperations(ClientBase):
    """The permission half of the port, for mixing into `GitHubClient`."""

    def collaborator_permission(self, repo: str, login: str) -> CollaboratorPermission:
        return read_collaborator_permission(self, repo, login)

    def repository_id(self, repo: str) -> int:
        return read_repository_id(self, repo)


class _SameClient:
    """The permission calls made through a client that does not mix them in itself."""

    def __init__(self, client: ClientBase) -> None:
        self._client = client

    def collaborator_permission(self, repo: str, login: str) -> CollaboratorPermission:
        return read_collaborator_permission(self._client, repo, login)

    def repository_id(self, repo: str) -> int:
        return read_repository_id(self._client, repo)


def permission_port(client: ClientBase) -> PermissionPort:
    """`client` itself once `GitHubClient` mixes in PermissionOperations; until then, the same
    requests over its connection, retrier and credentials."""
    if isinstance(client, PermissionOperations):
        return client
    return _SameClient(client)
