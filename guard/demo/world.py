"""The demo's GitHub: the shop's repository with its policy, its developer, and the guard's App."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from guard.sandbox import AppCredentials, Author, Sandbox

OWNER = "octo-org"
REPO = f"{OWNER}/demo-shop"
ENVIRONMENT = "production"
POLICY_PATH = ".github/deploy-guard.yml"
VERSION_PATH = "app/VERSION"
DEVELOPER = Author(name="Mona Lisa", email="mona@example.com", login="mona")
APP_NAME = "deploy-guard"

HEALTHY_VERSION = "v1"
BROKEN_VERSION = "v2"
V1_MESSAGE = "Shop v1: cart and checkout"
V2_MESSAGE = "Shop v2: move the cart to the new database"

README = "# demo-shop\n\nThe example shop deploy-guard watches in `deploy-guard demo`.\n"
SHOP_CODE = '"""The shop."""\n\nDATABASE_URL = "postgresql://shop@db.internal/shop"\n'
# The bad change of the story: a database setting that points nowhere.
BROKEN_SHOP_CODE = '"""The shop."""\n\nDATABASE_URL = "postgresql://shop@db-new.internal/shop"\n'


def demo_policy_text() -> str:
    """The policy the demo repository holds (guard/demo/policy.yml)."""
    return resources.files("guard.demo").joinpath("policy.yml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class DemoWorld:
    """What the seeded sandbox holds, and the credentials to act in it."""

    repo: str
    app: AppCredentials
    installation_id: int
    developer_token: str

    @property
    def developer(self) -> str:
        assert DEVELOPER.login is not None
        return DEVELOPER.login


def seed_world(sandbox: Sandbox) -> DemoWorld:
    """Create the repository (a README and the policy), its developer and the installed App."""
    sandbox.create_repo(
        REPO, {"README.md": README, POLICY_PATH: demo_policy_text()}, author=DEVELOPER
    )
    login = DEVELOPER.login
    assert login is not None
    sandbox.add_user(login, name=DEVELOPER.name, email=DEVELOPER.email)
    # Write access lets the developer deploy, and lets the guard assign the incident to them.
    sandbox.set_permission(REPO, login, "write")
    token = sandbox.register_token(login)
    app = sandbox.register_app(APP_NAME)
    installation_id = sandbox.install_app(app.app_id, OWNER, [REPO])
    return DemoWorld(repo=REPO, app=app, installation_id=installation_id, developer_token=token)


def commit_healthy_version(sandbox: Sandbox, world: DemoWorld) -> str:
    """The developer pushes v1 of the shop; its SHA."""
    files = {VERSION_PATH: f"{HEALTHY_VERSION}\n", "app/shop.py": SHOP_CODE}
    return sandbox.commit(world.repo, files, V1_MESSAGE, author=DEVELOPER)


def commit_broken_version(sandbox: Sandbox, world: DemoWorld) -> str:
    """The developer pushes v2, whose database setting breaks the shop; its SHA."""
    files = {VERSION_PATH: f"{BROKEN_VERSION}\n", "app/shop.py": BROKEN_SHOP_CODE}
    return sandbox.commit(world.repo, files, V2_MESSAGE, author=DEVELOPER)
