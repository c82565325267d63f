"""One running sandbox's parts, and the helpers route handlers use to reach them per request."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, g, request

from guard.sandbox.access import check_access
from guard.sandbox.auth import ANONYMOUS, Clock, Principal
from guard.sandbox.calllog import CallLog
from guard.sandbox.errors import ApiError, not_found
from guard.sandbox.faults import FaultInjector
from guard.sandbox.gitobjects import GitIdentity
from guard.sandbox.gitstore import GitStore
from guard.sandbox.models import RepoRecord, UserRecord
from guard.sandbox.payloads_core import Links, integration_json
from guard.sandbox.ratelimit import AUTHENTICATED_LIMIT, RateLimiter
from guard.sandbox.state import NOREPLY_DOMAIN, SandboxState
from guard.sandbox.violations import ViolationLog

if TYPE_CHECKING:
    from guard.sandbox.conformance import ConformanceChecker
    from guard.sandbox.webhooks import WebhookSender

EXTENSION_KEY = "guard_sandbox"


@dataclass(frozen=True)
class SandboxConfig:
    """How a sandbox behaves; the defaults suit a sandbox inside a test process."""

    strict: bool = False  # check every answer against GitHub's description
    autosave: bool = False  # write state.json after every change (standalone runs)
    control_token: str | None = None  # when set, /_sandbox calls must send it
    rate_limit: int = AUTHENTICATED_LIMIT
    webhook_url: str | None = None
    webhook_secret: str | None = None


class SandboxRuntime:
    """State, git repositories, clock, faults, call log and conformance of one sandbox."""

    def __init__(self, data_dir: Path, config: SandboxConfig) -> None:
        self.data_dir = data_dir
        self.config = config
        self.state = SandboxState.load(data_dir)
        self.clock = Clock()
        self.faults = FaultInjector()
        self.calls = CallLog()
        self.rate = RateLimiter(self.clock, config.rate_limit)
        self.checker: ConformanceChecker | None = None
        if config.strict:
            # openapi-core is needed only to run strict; a plain sandbox (the demo) does without.
            from guard.sandbox.conformance import ConformanceChecker

            self.checker = ConformanceChecker()
        self.violations = ViolationLog()
        # Unexpected exceptions in handlers: a test fails on these as on violations.
        self.crashes: list[str] = []
        self._save_lock = threading.Lock()
        self._stores: dict[str, GitStore] = {}
        self._stores_lock = threading.Lock()
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self.webhooks: WebhookSender | None = None  # set by the Sandbox when configured

    def git(self, repo: RepoRecord | str) -> GitStore:
        """The repository's git store; kept, so its object reader process is reused."""
        full_name = (repo.full_name if isinstance(repo, RepoRecord) else repo).lower()
        with self._stores_lock:
            store = self._stores.get(full_name)
            if store is None:
                owner, _, name = full_name.partition("/")
                store = GitStore(self.data_dir / "repos" / owner / f"{name}.git")
                self._stores[full_name] = store
            return store

    def request_started(self) -> None:
        with self._in_flight_changed:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._in_flight_changed:
            self._in_flight -= 1
            self._in_flight_changed.notify_all()

    def wait_until_idle(self, timeout: float) -> bool:
        """Block until no request is being handled (released held calls included)."""
        with self._in_flight_changed:
            return self._in_flight_changed.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        """End the git reader processes (the sandbox stops)."""
        with self._stores_lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()

    def save(self) -> None:
        with self._save_lock:
            self.state.save(self.data_dir)


# Per-request helpers ---------------------------------------------------------------------


def current() -> SandboxRuntime:
    runtime = current_app.extensions[EXTENSION_KEY]
    assert isinstance(runtime, SandboxRuntime)
    return runtime


def caller() -> Principal:
    principal = g.get("principal", ANONYMOUS)
    assert isinstance(principal, Principal)
    return principal


def links() -> Links:
    return Links(request.host_url)


def json_body() -> dict[str, Any]:
    """The request's JSON object; GitHub answers 400 "Problems parsing JSON" otherwise."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as error:
        raise ApiError(400, "Problems parsing JSON") from error
    if not isinstance(parsed, dict):
        raise ApiError(400, "Problems parsing JSON")
    return parsed


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        mimetype="application/json",
    )
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def no_content() -> Response:
    return Response(status=204)


def repo_for(owner: str, name: str, permission: str, *, write: bool = False) -> RepoRecord:
    """The repository the path names, after checking the caller may read (or write) it."""
    runtime = current()
    repo = runtime.state.repo(f"{owner}/{name}")
    if repo is None:
        raise not_found()
    check_access(caller(), repo, runtime.state, permission, write)
    return repo


def acting_user() -> UserRecord:
    """The account that creates things in this request (a user, or an App's bot)."""
    principal = caller()
    state = current().state
    if principal.login is None:
        raise ApiError(401, "Requires authentication")
    kind = "Bot" if principal.kind in {"installation", "app"} else "User"
    return state.ensure_user(principal.login, kind=kind)


def acting_identity() -> GitIdentity:
    """The git author GitHub records for the caller: its login and its noreply address."""
    user = acting_user()
    return GitIdentity.now(user.login, f"{user.id}+{user.login}@{NOREPLY_DOMAIN}")


def acting_app_id() -> int | None:
    """The App behind an installation token, which GitHub records on what the call creates."""
    principal = caller()
    return principal.app_id if principal.kind == "installation" else None


def app_json(app_id: int | None) -> dict[str, Any] | None:
    """`performed_via_github_app` for a record an App created, else None."""
    state = current().state
    app = state.apps.get(app_id) if app_id is not None else None
    if app is None:
        return None
    return integration_json(links(), app, state.ensure_user(app.owner))


def rate_key() -> str:
    """Whose primary rate limit a call counts against."""
    principal = caller()
    if principal.kind == "anonymous":
        return f"anonymous:{request.remote_addr}"
    return principal.label


def association(repo: RepoRecord, login: str) -> str:
    """author_association as GitHub derives it from the account's role in the repository."""
    if login.lower() == repo.owner.lower():
        return "OWNER"
    if login.lower() in repo.collaborators:
        return "COLLABORATOR"
    return "NONE"
