"""The API's world: the gate world (sandbox GitHub, database) plus a local OIDC issuer, and the
service's app with the API blueprint registered as the hook in create_app will."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from guard.github.auth import TokenAuth
from guard.github.client import GitHubClient
from guard.github.oidc import OidcVerifier
from guard.service import api
from guard.service.app import create_app
from guard.store import set_installation
from tests.gate_world import REPO, GateWorld, gate_world
from tests.oidc_issuer import AUDIENCE, OWNER, Clock, Issuer, local_issuer


@dataclass
class ApiWorld:
    """The app under test, the issuer that mints its tokens, and the GitHub world behind it."""

    gate: GateWorld
    issuer: Issuer
    app: Flask
    clock: Clock
    repository_id: int

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    def token(self, **claims: Any) -> str:
        values: dict[str, Any] = {
            "repository_id": str(self.repository_id),
            "sha": self.gate.head,
            "iat": int(self.clock()) - 5,
            "nbf": int(self.clock()) - 5,
            "exp": int(self.clock()) + 300,
        }
        values.update(claims)
        return self.issuer.token(**values)

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token()}"}

    def owner_client(self) -> GitHubClient:
        return GitHubClient(
            TokenAuth(self.gate.sandbox.register_token("octo-org")),
            self.gate.sandbox.base_url,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def github_deployment(
        self, environment: str = "production", repo: str = REPO, sha: str | None = None
    ) -> int:
        """A deployment made on GitHub by the pipeline itself (not through the guard)."""
        client = self.owner_client()
        try:
            return client.create_deployment(repo, sha or self.gate.head, environment).id
        finally:
            client.close()


def api_app(world: GateWorld, issuer: Issuer, clock: Clock) -> Flask:
    app = create_app(world.settings, queue=world.queue)
    # The hook in create_app: app.register_blueprint(api.blueprint).
    if "api" not in app.blueprints:
        app.register_blueprint(api.blueprint)
    verifier = OidcVerifier(issuer.url, audience=AUDIENCE, allowed_owners=(OWNER,), clock=clock)
    api.configure_api(app, verifier=verifier, github=world.client, clock=clock)
    return app


@contextmanager
def api_world(tmp_path: Path) -> Iterator[ApiWorld]:
    with local_issuer() as issuer:
        environment = {
            "GUARD_OIDC_AUDIENCE": AUDIENCE,
            "GUARD_OIDC_ALLOWED_OWNERS": OWNER,
            "GUARD_OIDC_ISSUER": issuer.url,
        }
        with gate_world(tmp_path, extra_environment=environment) as world:
            repo = world.sandbox.runtime.state.repo(REPO)
            assert repo is not None
            with world.session() as session:
                set_installation(session, world.installation_id, OWNER, active=True)
            clock = world.clock
            yield ApiWorld(world, issuer, api_app(world, issuer, clock), clock, repo.id)
