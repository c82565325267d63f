"""The demo world a standalone sandbox starts with, and the lines that tell a user how to use it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from guard.sandbox.control import SandboxControl
from guard.sandbox.repo_ops import Author

DEMO_REPO = "octo-org/demo-service"
# A fixed, printed token for the local demo only: the sandbox is not GitHub and guards nothing.
DEMO_OWNER_TOKEN = "ghp_sandboxdemoownertoken000000000000000"  # noqa: S105
DEMO_APP_KEY_FILE = "demo-app.private-key.pem"
DEMO_FILES = {
    "README.md": "# demo-service\n\nA tiny service that deploy-guard watches in the sandbox.\n",
    "service/version.txt": "1.0.0\n",
    "service/app.py": 'VERSION = "1.0.0"\n',
}
DEMO_AUTHOR = Author(name="Mona Lisa", email="mona@example.com", login="mona")


@dataclass(frozen=True)
class DemoWorld:
    repo: str
    default_branch: str
    head_sha: str
    owner_token: str
    app_id: int
    installation_id: int
    private_key_path: Path


def seed_demo(control: SandboxControl) -> DemoWorld:
    """Create the demo repository, a token and an installed App, unless a previous run did."""
    state = control.runtime.state
    key_path = control.runtime.data_dir / DEMO_APP_KEY_FILE
    if state.repo(DEMO_REPO) is None:
        control.create_repo(DEMO_REPO, DEMO_FILES, author=DEMO_AUTHOR)
        control.register_token("octo-org", DEMO_OWNER_TOKEN)
        credentials = control.register_app("deploy-guard")
        control.install_app(credentials.app_id, "octo-org", [DEMO_REPO])
        # The sandbox keeps only the public key; the private one is written once for the user.
        key_path.write_text(credentials.private_key_pem)
        key_path.chmod(0o600)
    repo = state.repo(DEMO_REPO)
    assert repo is not None
    installation = min(state.installations.values(), key=lambda i: i.id)
    return DemoWorld(
        repo=repo.full_name,
        default_branch=repo.default_branch,
        head_sha=control.branch_sha(DEMO_REPO) or "",
        owner_token=DEMO_OWNER_TOKEN,
        app_id=installation.app_id,
        installation_id=installation.id,
        private_key_path=key_path,
    )


def describe(base_url: str, world: DemoWorld, *, kept: bool) -> str:
    """What `deploy-guard sandbox` prints: where it is, what is in it, how to authenticate."""
    storage = "kept in the data dir" if kept else "temporary (pass --data-dir to keep it)"
    return "\n".join(
        [
            f"GitHub REST sandbox at {base_url}",
            f"  demo repository  {world.repo} ({world.default_branch} at {world.head_sha[:12]})",
            f"  personal token   {world.owner_token}  (owner of {world.repo.split('/')[0]})",
            f"  GitHub App       id {world.app_id}, installation {world.installation_id}, "
            f"private key {world.private_key_path}",
            f"  state            {storage}",
            "",
            "Try:",
            f'  curl -H "Authorization: token {world.owner_token}" {base_url}/repos/{world.repo}',
            f"  curl {base_url}/_sandbox/state",
            "Point deploy-guard at it:",
            f"  GUARD_GITHUB_API_URL={base_url} GUARD_GITHUB_TOKEN={world.owner_token}",
            f"  GUARD_GITHUB_API_URL={base_url} GUARD_GITHUB_APP_ID={world.app_id} "
            f"GUARD_GITHUB_PRIVATE_KEY_FILE={world.private_key_path}",
            "Stop with Ctrl-C.",
        ]
    )
