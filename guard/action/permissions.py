"""Which `permissions:` the job's token needs, and the exact block to add when GitHub said 403.

The client reports every call to an observer; the 403s it saw (rate limits aside) say which
permission was missing, and the policy says what else the step will need, so the block shown
is the whole of it, not one permission per failed run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Level = Literal["read", "write"]

# The order GitHub's docs list them in, so the block reads the same every time.
ORDER = ("actions", "contents", "deployments", "id-token", "issues", "pull-requests")

# Route fragment -> the permission the call needs (checked in this order: first match wins).
ROUTE_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("/actions/", "actions"),
    ("/deployments", "deployments"),
    ("/issues", "issues"),
    ("/labels", "issues"),
    ("/pulls", "pull-requests"),
    ("/check-runs", "checks"),
    ("/git/", "contents"),
    ("/contents/", "contents"),
    ("/commits", "contents"),
    ("/compare/", "contents"),
    ("/collaborators/", "contents"),
)
# What each rollback strategy writes with the job's token.
STRATEGY_PERMISSIONS: dict[str, dict[str, Level]] = {
    "redeploy": {"deployments": "write"},
    "revert": {"contents": "write", "pull-requests": "write"},
    "revert_pr": {"contents": "write", "pull-requests": "write"},
    "workflow": {"actions": "write"},
}

MISSING = (
    "GitHub refused {calls} with 403: the job's token lacks a permission. "
    "Add this to the job that runs deploy-guard (or to its workflow):"
)
MISSING_TITLE = "deploy-guard: missing permissions"
OIDC_NOT_ALLOWED = (
    "guard-url needs the job's OIDC token, and the job may not request one. "
    "Add this to the job that runs deploy-guard:"
)
REFUSED_CALL = "{method} {route} ({permission}: {level})"


@dataclass(frozen=True)
class RefusedCall:
    """A GitHub call answered 403 that was not a rate limit."""

    method: str
    route: str

    @property
    def permission(self) -> tuple[str, Level] | None:
        for fragment, permission in ROUTE_PERMISSIONS:
            if fragment in self.route:
                return permission, "read" if self.method == "GET" else "write"
        return None

    def describe(self) -> str:
        needed = self.permission
        if needed is None:
            return f"{self.method} {self.route}"
        return REFUSED_CALL.format(
            method=self.method, route=self.route, permission=needed[0], level=needed[1]
        )


@dataclass
class RefusalLog:
    """A `CallObserver` for the GitHub client that keeps the calls refused for permission."""

    refused: list[RefusedCall] = field(default_factory=list)

    def __call__(
        self, method: str, route: str, status: int | None, rate_limit_remaining: int | None
    ) -> None:
        # A 403 with no requests left is the primary rate limit, not a permission.
        if status == 403 and rate_limit_remaining != 0:
            call = RefusedCall(method, route)
            if call not in self.refused:
                self.refused.append(call)


def merge(*grants: Mapping[str, Level]) -> dict[str, Level]:
    """The union of grants, write winning over read."""
    merged: dict[str, Level] = {}
    for grant in grants:
        for name, level in grant.items():
            if merged.get(name) != "write":
                merged[name] = level
    return merged


def needed_by_policy(strategy: str | None, *, rolls_back: bool) -> dict[str, Level]:
    """What the step needs for this environment: read the repository, mark the deployment,
    file the incident, and whatever the rollback strategy writes."""
    grant: dict[str, Level] = {"contents": "read", "deployments": "write", "issues": "write"}
    if rolls_back and strategy is not None:
        grant = merge(grant, STRATEGY_PERMISSIONS.get(strategy, {}))
    return grant


def implied_by(refused: Iterable[RefusedCall]) -> dict[str, Level]:
    grants: list[dict[str, Level]] = []
    for call in refused:
        needed = call.permission
        if needed is not None:
            grants.append({needed[0]: needed[1]})
    return merge(*grants)


def _ordered(grant: Mapping[str, Level]) -> list[tuple[str, Level]]:
    return sorted(grant.items(), key=lambda item: (*ORDER, item[0]).index(item[0]))


def block(grant: Mapping[str, Level]) -> str:
    """The YAML to paste under a job: `permissions:` and one line per permission."""
    lines = ["permissions:"] + [f"  {name}: {level}" for name, level in _ordered(grant)]
    return "\n".join(lines)


def one_line(grant: Mapping[str, Level]) -> str:
    """The same block in flow style, for an annotation: `permissions: {issues: write}`."""
    inner = ", ".join(f"{name}: {level}" for name, level in _ordered(grant))
    return f"permissions: {{{inner}}}"


@dataclass(frozen=True)
class PermissionHelp:
    """What to tell the user: the sentence, and the grant to show as a block."""

    message: str
    grant: dict[str, Level]

    @property
    def block(self) -> str:
        return block(self.grant)

    @property
    def one_line(self) -> str:
        return one_line(self.grant)


def missing_permissions(
    refused: Iterable[RefusedCall], strategy: str | None, *, rolls_back: bool
) -> PermissionHelp | None:
    """The help for the calls GitHub refused, or None when it refused none."""
    calls = list(refused)
    if not calls:
        return None
    grant = merge(needed_by_policy(strategy, rolls_back=rolls_back), implied_by(calls))
    described = "; ".join(call.describe() for call in calls)
    return PermissionHelp(MISSING.format(calls=described), grant)


def id_token_missing() -> PermissionHelp:
    return PermissionHelp(OIDC_NOT_ALLOWED, {"contents": "read", "id-token": "write"})
