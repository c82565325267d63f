"""Fixtures for tests that talk to the local GitHub sandbox: always strict, and clean at the end.

Register them with `pytest_plugins = ["tests.sandbox_fixtures"]` in tests/conftest.py (or in a
test module; import names from here only under TYPE_CHECKING then, so pytest can still rewrite
its asserts). Every test using `sandbox` fails if any answer broke GitHub's OpenAPI description
or a handler crashed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from github import Auth, Github

from guard.sandbox import AppCredentials, Author, Sandbox

DEMO_REPO = "octo-org/shop"
DEMO_FILES = {
    "README.md": "# shop\n",
    "app/version.txt": "1\n",
    "app/main.py": "print('shop v1')\n",
}
DEVELOPER = Author(name="Mona Lisa", email="mona@example.com", login="mona")


@dataclass(frozen=True)
class SandboxWorld:
    """A started sandbox with one repository, an installed App and a personal token."""

    sandbox: Sandbox
    repo: str
    app: AppCredentials
    installation_id: int
    owner_token: str

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url


def assert_conformant(sandbox: Sandbox) -> None:
    """Fail with every violation and crash the sandbox recorded."""
    violations = [
        f"{v.kind} of {v.method} {v.path} -> {v.status}: {v.message}" for v in sandbox.violations()
    ]
    crashes = sandbox.crashes()
    assert not violations, "calls broke GitHub's description:\n" + "\n".join(violations)
    assert not crashes, "sandbox handlers crashed:\n" + "\n".join(crashes)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A strict sandbox on an ephemeral port, checked for violations when the test ends."""
    with Sandbox(strict=True) as running:
        yield running
        assert_conformant(running)


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start strict sandboxes with other options (rate_limit, webhook_url, data_dir...)."""
    started: list[Sandbox] = []

    def start(**options: Any) -> Sandbox:
        running = Sandbox(strict=True, **options).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
    for running in started:
        assert_conformant(running)


@pytest.fixture
def world(sandbox: Sandbox) -> SandboxWorld:
    """The sandbox seeded like a guarded project: a repository, an App installed on it, a token."""
    sandbox.create_repo(DEMO_REPO, DEMO_FILES, author=DEVELOPER)
    app = sandbox.register_app("deploy-guard")
    installation_id = sandbox.install_app(app.app_id, "octo-org", [DEMO_REPO])
    token = sandbox.register_token("octo-org")
    return SandboxWorld(sandbox, DEMO_REPO, app, installation_id, token)


@pytest.fixture
def app_github(world: SandboxWorld) -> Iterator[Github]:
    """PyGithub acting as the installed App (JWT -> installation token), without client-side
    pacing between calls and without retries, so every answer reaches the test as sent."""
    auth = Auth.AppAuth(world.app.app_id, world.app.private_key_pem).get_installation_auth(
        world.installation_id
    )
    github = Github(
        base_url=world.base_url,
        auth=auth,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    yield github
    github.close()


@pytest.fixture
def owner_http(world: SandboxWorld) -> Iterator[requests.Session]:
    """A requests session authenticated with the repository owner's personal token."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {world.owner_token}"
        yield session
