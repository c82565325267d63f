"""Who gets the incident: deployer, committers, code owners or named people, from the policy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from guard.github.errors import GitHubError
from guard.github.port import GitHubPort
from guard.incidents import codeowners
from guard.incidents.context import IncidentContext

DEPLOYER = "deployer"
COMMITTER = "committer"
CODEOWNERS = "codeowners"
# GitHub assigns at most ten people to an issue.
MAX_ASSIGNEES = 10

NO_DEPLOYER = "The deployment has no creator to assign (deployer)."
BOT_NOT_ASSIGNED = "{login} is an app, not a person, so it was not assigned ({entry})."
NO_COMMITTERS = "No suspect commit has a GitHub account to assign (committer)."
UNLINKED_AUTHORS = (
    "Commits by {names} are linked to no GitHub account, so nobody was assigned for them."
)
NO_CODEOWNERS = "The repository has no CODEOWNERS file at `{sha}` (codeowners)."
NO_CHANGED_PATHS = "The changed files are not known, so no code owner was found (codeowners)."
NO_OWNERS = "No CODEOWNERS rule in `{path}` owns the changed files (codeowners)."
CODEOWNERS_UNREADABLE = "CODEOWNERS could not be read: {error} (codeowners)."
EMAIL_OWNERS = "Code owners named by e-mail cannot be assigned: {emails}."
TOO_MANY = "GitHub assigns at most {limit} people; not assigned: {logins}."


@dataclass(frozen=True)
class People:
    """Whom the issue is assigned to, which teams it mentions, and what could not be done."""

    assignees: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # Logins GitHub refused to assign; the issue says so.
    refused: tuple[str, ...] = ()

    def without(self, refused: Sequence[str]) -> People:
        """The same people minus those GitHub refused."""
        dropped = {login.lower() for login in refused}
        kept = tuple(login for login in self.assignees if login.lower() not in dropped)
        return People(kept, self.teams, self.notes, (*self.refused, *refused))


class _Collector:
    def __init__(self) -> None:
        self.logins: list[str] = []
        self.teams: list[str] = []
        self.notes: list[str] = []

    def add_login(self, login: str, entry: str) -> None:
        if login.lower().endswith("[bot]"):
            self.notes.append(BOT_NOT_ASSIGNED.format(login=login, entry=entry))
        elif login.lower() not in {known.lower() for known in self.logins}:
            self.logins.append(login)

    def add_team(self, team: str) -> None:
        if team.lower() not in {known.lower() for known in self.teams}:
            self.teams.append(team)


def resolve(
    entries: Iterable[str],
    context: IncidentContext,
    port: GitHubPort | None = None,
) -> People:
    """The policy's entries (`deployer`, `committer`, `codeowners`, logins, @org/team) resolved.

    CODEOWNERS is read at the bad SHA through `port`; without a port it is not consulted.
    """
    found = _Collector()
    for raw in entries:
        entry = raw.strip()
        keyword = entry.lower()
        if keyword == DEPLOYER:
            _deployer(found, context)
        elif keyword == COMMITTER:
            _committers(found, context)
        elif keyword == CODEOWNERS:
            if port is not None:
                _codeowners(found, context, port)
        elif entry.startswith("@") and "/" in entry:
            found.add_team(entry)
        elif entry:
            found.add_login(entry.lstrip("@"), entry)
    logins = found.logins[:MAX_ASSIGNEES]
    if len(found.logins) > MAX_ASSIGNEES:
        rest = ", ".join(found.logins[MAX_ASSIGNEES:])
        found.notes.append(TOO_MANY.format(limit=MAX_ASSIGNEES, logins=rest))
    return People(tuple(logins), tuple(found.teams), tuple(found.notes))


def _deployer(found: _Collector, context: IncidentContext) -> None:
    login = context.deployment.creator_login
    if login:
        found.add_login(login, DEPLOYER)
    else:
        found.notes.append(NO_DEPLOYER)


def _committers(found: _Collector, context: IncidentContext) -> None:
    linked = [commit.author_login for commit in context.suspects if commit.author_login]
    for login in linked:
        found.add_login(login, COMMITTER)
    unlinked = sorted(
        {c.author_name or c.short_sha for c in context.suspects if not c.author_login}
    )
    if unlinked:
        found.notes.append(UNLINKED_AUTHORS.format(names=", ".join(unlinked)))
    elif not linked:
        found.notes.append(NO_COMMITTERS)


def _codeowners(found: _Collector, context: IncidentContext, port: GitHubPort) -> None:
    if not context.changed_paths:
        found.notes.append(NO_CHANGED_PATHS)
        return
    sha = context.deployment.sha
    try:
        loaded = codeowners.load(port, context.repository, sha)
    except GitHubError as error:
        found.notes.append(CODEOWNERS_UNREADABLE.format(error=error.message))
        return
    if loaded is None:
        found.notes.append(NO_CODEOWNERS.format(sha=sha[:7]))
        return
    path, rules = loaded
    owners = codeowners.owners_for(rules, context.changed_paths)
    if not (owners.users or owners.teams or owners.emails):
        found.notes.append(NO_OWNERS.format(path=path))
    for login in owners.users:
        found.add_login(login, CODEOWNERS)
    for team in owners.teams:
        found.add_team(team)
    if owners.emails:
        found.notes.append(EMAIL_OWNERS.format(emails=", ".join(owners.emails)))
