"""Git over smart HTTP in the sandbox: clone, fetch and push with tokens, refused as GitHub does."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from guard.sandbox import make_app_jwt

if TYPE_CHECKING:
    from tests.sandbox_fixtures import SandboxWorld


def git_env(token: str | None) -> dict[str, str]:
    """git with no user config and no prompts; the token goes in a header, never a URL."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("GIT_")
    } | {
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Tester",
        "GIT_AUTHOR_EMAIL": "tester@example.com",
        "GIT_COMMITTER_NAME": "Tester",
        "GIT_COMMITTER_EMAIL": "tester@example.com",
    }
    if token is not None:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        environment |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        }
    return environment


def git(*args: str, token: str | None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(token), capture_output=True, text=True, check=False
    )


def installation_token(world: SandboxWorld, permissions: dict[str, str] | None = None) -> str:
    jwt = make_app_jwt(world.app.app_id, world.app.private_key_pem)
    answer = requests.post(
        f"{world.base_url}/app/installations/{world.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {jwt}"},
        json={"permissions": permissions} if permissions else {},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    token = answer.json()["token"]
    assert isinstance(token, str)
    return token


def remote(world: SandboxWorld, repo: str | None = None) -> str:
    return f"{world.base_url}/{repo or world.repo}.git"


def clone(world: SandboxWorld, token: str | None, into: Path) -> Path:
    done = git("clone", "-q", remote(world), str(into), token=token)
    assert done.returncode == 0, done.stderr
    return into


def commit(checkout: Path, path: str, text: str, message: str) -> str:
    (checkout / path).parent.mkdir(parents=True, exist_ok=True)
    (checkout / path).write_text(text)
    assert git("add", path, token=None, cwd=checkout).returncode == 0
    assert git("commit", "-q", "-m", message, token=None, cwd=checkout).returncode == 0
    return git("rev-parse", "HEAD", token=None, cwd=checkout).stdout.strip()


def test_an_installation_token_clones_pushes_and_fetches(
    world: SandboxWorld, tmp_path: Path
) -> None:
    token = installation_token(world)
    checkout = clone(world, token, tmp_path / "shop")
    assert (checkout / "app/version.txt").read_text() == "1\n"
    pushed = commit(checkout, "app/version.txt", "2\n", "Bump to 2")

    done = git("push", "-q", "origin", "HEAD:main", token=token, cwd=checkout)

    assert done.returncode == 0, done.stderr
    assert world.sandbox.branch_sha(world.repo) == pushed
    answer = requests.get(
        f"{world.base_url}/repos/{world.repo}/contents/app/version.txt",
        headers={"Authorization": f"token {token}"},
        timeout=10,
    )
    assert base64.b64decode(answer.json()["content"]) == b"2\n"
    later = world.sandbox.commit(world.repo, {"app/main.py": "print('v3')\n"}, "Three")
    assert git("fetch", "-q", "origin", token=token, cwd=checkout).returncode == 0
    assert git("rev-parse", "origin/main", token=None, cwd=checkout).stdout.strip() == later
    # The token travelled in a header only: nothing about it was written into the clone.
    assert token not in (checkout / ".git/config").read_text()
    pushes = world.sandbox.calls.matching("POST", f"/{world.repo}.git/git-receive-pack")
    assert [(call.status, call.auth) for call in pushes] == [
        (200, f"installation:{world.installation_id}")
    ]


def test_a_protected_branch_refuses_a_push_in_githubs_words(
    world: SandboxWorld, tmp_path: Path
) -> None:
    token = installation_token(world)
    checkout = clone(world, token, tmp_path / "shop")
    before = world.sandbox.branch_sha(world.repo)
    commit(checkout, "app/main.py", "print('direct')\n", "Direct change")
    world.sandbox.protect_branch(world.repo, "main")

    refused = git("push", "origin", "HEAD:main", token=token, cwd=checkout)
    allowed = git("push", "-q", "origin", "HEAD:refs/heads/topic", token=token, cwd=checkout)

    assert refused.returncode != 0
    assert "GH006: Protected branch update failed for refs/heads/main." in refused.stderr
    assert "Changes must be made through a pull request." in refused.stderr
    assert world.sandbox.branch_sha(world.repo) == before
    assert allowed.returncode == 0, allowed.stderr
    assert world.sandbox.branch_sha(world.repo, "topic") is not None


def test_required_checks_and_force_pushes_are_judged_on_the_pushed_commits(
    world: SandboxWorld, tmp_path: Path
) -> None:
    token = installation_token(world)
    checkout = clone(world, token, tmp_path / "shop")
    world.sandbox.protect_branch(
        world.repo, "main", required_status_checks=["ci/test"], require_pull_request=False
    )
    commit(checkout, "app/main.py", "print('unchecked')\n", "Unchecked")
    unchecked = git("push", "origin", "HEAD:main", token=token, cwd=checkout)
    assert unchecked.returncode != 0
    assert 'Required status check "ci/test" is expected.' in unchecked.stderr

    # The same commit, once its check passed on a branch, may go to main.
    branch = git("push", "-q", "origin", "HEAD:refs/heads/ci", token=token, cwd=checkout)
    assert branch.returncode == 0, branch.stderr
    head = git("rev-parse", "HEAD", token=None, cwd=checkout).stdout.strip()
    checked = requests.post(
        f"{world.base_url}/repos/{world.repo}/statuses/{head}",
        headers={"Authorization": f"token {world.owner_token}"},
        json={"state": "success", "context": "ci/test"},
        timeout=10,
    )
    assert checked.status_code == 201
    assert git("push", "-q", "origin", "HEAD:main", token=token, cwd=checkout).returncode == 0
    assert world.sandbox.branch_sha(world.repo) == head

    assert git("reset", "-q", "--hard", "HEAD~1", token=None, cwd=checkout).returncode == 0
    forced = git("push", "--force", "origin", "HEAD:main", token=token, cwd=checkout)
    assert forced.returncode != 0
    assert "Cannot force-push to this branch" in forced.stderr
    assert world.sandbox.branch_sha(world.repo) == head


def test_an_unprotected_branch_takes_a_force_push(world: SandboxWorld, tmp_path: Path) -> None:
    token = installation_token(world)
    checkout = clone(world, token, tmp_path / "shop")
    base = git("rev-parse", "HEAD", token=None, cwd=checkout).stdout.strip()
    commit(checkout, "a.txt", "a\n", "A")
    first = git("push", "-q", "origin", "HEAD:refs/heads/work", token=token, cwd=checkout)
    assert first.returncode == 0, first.stderr
    assert git("reset", "-q", "--hard", base, token=None, cwd=checkout).returncode == 0
    rewritten = commit(checkout, "b.txt", "b\n", "B")
    done = git("push", "-q", "--force", "origin", "HEAD:refs/heads/work", token=token, cwd=checkout)
    assert done.returncode == 0, done.stderr
    assert world.sandbox.branch_sha(world.repo, "work") == rewritten


def test_credentials_are_checked_like_github_checks_them(
    world: SandboxWorld, tmp_path: Path
) -> None:
    anonymous = clone(world, None, tmp_path / "anonymous")
    commit(anonymous, "x.txt", "x\n", "Anonymous change")
    pushed = git("push", "origin", "HEAD:refs/heads/x", token=None, cwd=anonymous)
    assert pushed.returncode != 0
    assert world.sandbox.branch_sha(world.repo, "x") is None

    mark = world.sandbox.calls.last_seq
    wrong = git("clone", "-q", remote(world), str(tmp_path / "wrong"), token="ghs_not_a_token")
    assert wrong.returncode != 0
    # A bad token is a 401 with a challenge, so git goes looking for other credentials.
    assert [call.status for call in world.sandbox.calls.all(mark)] == [401]
    challenge = requests.get(
        f"{remote(world)}/info/refs?service=git-upload-pack",
        auth=("x-access-token", "ghs_not_a_token"),
        timeout=10,
    )
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"] == 'Basic realm="GitHub"'

    reader = installation_token(world, {"contents": "read"})
    read_only = clone(world, reader, tmp_path / "reader")
    commit(read_only, "y.txt", "y\n", "Reader change")
    denied = git("push", "origin", "HEAD:refs/heads/y", token=reader, cwd=read_only)
    assert denied.returncode != 0
    assert f"Permission to {world.repo}.git denied to deploy-guard[bot]." in denied.stderr

    world.sandbox.create_repo("octo-org/private", {"s.txt": "s\n"}, private=True)
    hidden = git("clone", "-q", remote(world, "octo-org/private"), str(tmp_path / "p"), token=None)
    assert hidden.returncode != 0
    # The App is installed on octo-org/shop only: another repository does not exist for it.
    outside = installation_token(world)
    missing = git(
        "clone", "-q", remote(world, "octo-org/private"), str(tmp_path / "q"), token=outside
    )
    assert missing.returncode != 0
    assert "Repository not found." in missing.stderr


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/octo-org/nothing.git/info/refs?service=git-upload-pack", 404),
        ("/octo-org/shop.git/info/refs", 404),
        ("/octo-org/shop.git/info/refs?service=git-upload-pack", 200),
    ],
)
def test_unknown_repositories_and_services_are_not_found(
    world: SandboxWorld, path: str, status: int
) -> None:
    answer = requests.get(f"{world.base_url}{path}", timeout=10)
    assert answer.status_code == status
    if status == 200:
        assert answer.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"


def test_git_calls_spend_no_rest_rate_limit(world: SandboxWorld, tmp_path: Path) -> None:
    token = installation_token(world)
    clone(world, token, tmp_path / "shop")
    answer = requests.get(
        f"{world.base_url}/rate_limit", headers={"Authorization": f"token {token}"}, timeout=10
    )
    assert answer.json()["resources"]["core"]["used"] == 0
