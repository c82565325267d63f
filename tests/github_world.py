"""A sandbox GitHub with one repository and our App installed, for the tests of guard.github."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from guard.github.auth import AppAuth
from guard.github.client import GitHubClient
from guard.github.retry import Retrier, RetryPolicy
from guard.sandbox import AppCredentials, Author, Sandbox

REPO = "acme/shop"
FILES = {
    "README.md": "# shop\n",
    "app/server.py": "print('v1')\n",
    ".github/workflows/deploy.yml": "on: workflow_dispatch\n",
}
DEVELOPER = Author(name="Dee Veloper", email="dee@example.com", login="dee")


@dataclass(frozen=True)
class Call:
    """What the observer was told about one HTTP call."""

    method: str
    route: str
    status: int | None
    remaining: int | None


@dataclass
class World:
    """The sandbox, our App's credentials, and what the code under test slept and observed."""

    sandbox: Sandbox
    app: AppCredentials
    installation_id: int
    slept: list[float] = field(default_factory=list)
    observed: list[Call] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.sandbox.base_url

    def observe(self, method: str, route: str, status: int | None, remaining: int | None) -> None:
        self.observed.append(Call(method, route, status, remaining))

    def auth(self, clock: Callable[[], float] = time.time) -> AppAuth:
        return AppAuth(
            self.app.app_id,
            self.app.private_key_pem,
            api_url=self.url,
            clock=clock,
            retrier=Retrier(sleep=self.slept.append, clock=clock),
        )

    def client(self, auth: Any = None, **options: Any) -> GitHubClient:
        settings: dict[str, Any] = {
            "installation_id": self.installation_id,
            "sleep": self.slept.append,
            "observer": self.observe,
            "seconds_between_requests": None,
            "seconds_between_writes": None,
            "retry_policy": RetryPolicy(max_total_wait_s=600),
        }
        settings.update(options)
        base_url = settings.pop("base_url", self.url)
        return GitHubClient(auth or self.auth(), base_url, **settings)

    def token_requests(self, since: int = 0) -> int:
        """How many installation tokens the sandbox minted."""
        return len(self.sandbox.calls.matching("POST", "/app/installations/*/access_tokens", since))


@contextmanager
def sandbox_world() -> Iterator[World]:
    """A fresh sandbox: `acme/shop` with FILES on main, the App installed on `acme`."""
    with Sandbox() as sandbox:
        sandbox.add_user("dee", name=DEVELOPER.name, email=DEVELOPER.email)
        sandbox.create_repo(REPO, FILES, author=DEVELOPER)
        app = sandbox.register_app("deploy-guard")
        installation_id = sandbox.install_app(app.app_id, "acme")
        yield World(sandbox, app, installation_id)
        assert sandbox.crashes() == []
