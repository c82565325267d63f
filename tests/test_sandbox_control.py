"""The sandbox's control API, its data dir across restarts, and `deploy-guard sandbox`."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from click.testing import CliRunner

from guard.cli import main
from guard.sandbox.seed import DEMO_OWNER_TOKEN, DEMO_REPO, describe, seed_demo

if TYPE_CHECKING:
    from guard.sandbox import Sandbox


def test_control_api_builds_a_world_over_http(sandbox: Sandbox) -> None:
    control = f"{sandbox.base_url}/_sandbox"
    with requests.Session() as http:
        created = http.post(
            f"{control}/repos",
            json={
                "full_name": "acme/api",
                "files": {"a.txt": "a\n", "dir/b.txt": "b\n"},
                "default_branch": "trunk",
                "author": {"name": "Ada", "email": "ada@example.com", "login": "ada"},
            },
        )
        assert created.status_code == 201
        assert created.json()["default_branch"] == "trunk"
        first = created.json()["head_sha"]
        commit = http.post(
            f"{control}/repos/acme/api/commits",
            json={"files": {"a.txt": None, "c.txt": "c\n"}, "message": "Swap", "branch": "trunk"},
        )
        assert commit.status_code == 201
        assert http.put(f"{control}/repos/acme/api/branches/trunk/protection", json={}).ok
        assert http.put(
            f"{control}/repos/acme/api/collaborators/bob", json={"permission": "maintain"}
        ).ok
        app = http.post(f"{control}/apps", json={"name": "Guard Test"}).json()
        assert app["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
        installed = http.post(
            f"{control}/apps/{app['app_id']}/installations", json={"account": "acme"}
        )
        assert installed.status_code == 201
        token = http.post(f"{control}/tokens", json={"login": "acme"}).json()["token"]
        assert token.startswith("ghp_")
        assert http.post(f"{control}/repos/acme/api/environments", json={"name": "prod"}).ok
        assert http.post(f"{control}/repos", json={"full_name": "acme/api"}).status_code == 422
        assert http.post(f"{control}/repos/acme/nope/commits", json={}).status_code == 404
        state = http.get(f"{control}/state").json()
        headers = {"Authorization": f"token {token}"}
        listing = http.get(f"{sandbox.base_url}/repos/acme/api/contents/", headers=headers)
    assert state["branches"]["acme/api"]["refs/heads/trunk"] == commit.json()["sha"]
    assert [p["branch"] for p in state["protections"]] == ["trunk"]
    assert state["repos"][0]["collaborators"] == {"bob": "maintain"}
    assert state["installations"][0]["account"] == "acme"
    assert "public_key_pem" not in state["apps"][0]
    assert {"kind": "user", "login": "acme", "installation_id": None} in state["tokens"]
    assert [u["login"] for u in state["users"] if u["login"] == "ada"] == ["ada"]
    assert sorted(item["name"] for item in listing.json()) == ["c.txt", "dir"]
    assert first != commit.json()["sha"]


def test_state_survives_a_restart_from_the_data_dir(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    first = make_sandbox(data_dir=tmp_path)
    first.create_repo("acme/api", {"a.txt": "a\n"})
    token = first.register_token("acme")
    url = f"{first.base_url}/repos/acme/api/deployments"
    headers = {"Authorization": f"token {token}"}
    made = requests.post(url, headers=headers, json={"ref": "main"}, timeout=10).json()
    head = first.branch_sha("acme/api")
    first.stop()
    assert (tmp_path / "state.json").is_file()
    second = make_sandbox(data_dir=tmp_path)
    url = f"{second.base_url}/repos/acme/api/deployments"
    listed = requests.get(url, headers=headers, timeout=10).json()
    assert [(d["id"], d["sha"]) for d in listed] == [(made["id"], head)]
    again = requests.post(url, headers=headers, json={"ref": "main"}, timeout=10).json()
    assert again["id"] == made["id"] + 1
    assert second.branch_sha("acme/api") == head


def test_control_token_guards_the_control_api(make_sandbox: Callable[..., Sandbox]) -> None:
    guarded = make_sandbox(control_token="let-me-in")
    state_url = f"{guarded.base_url}/_sandbox/state"
    assert requests.get(state_url, timeout=10).status_code == 401
    allowed = requests.get(state_url, headers={"X-Sandbox-Control-Token": "let-me-in"}, timeout=10)
    assert allowed.status_code == 200


def test_demo_seed_is_idempotent_and_described(sandbox: Sandbox) -> None:
    world = seed_demo(sandbox)
    assert seed_demo(sandbox) == world
    assert world.private_key_path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    text = describe(sandbox.base_url, world, kept=False)
    assert f"GitHub REST sandbox at {sandbox.base_url}" in text
    assert DEMO_REPO in text
    assert f"GUARD_GITHUB_API_URL={sandbox.base_url} GUARD_GITHUB_TOKEN={DEMO_OWNER_TOKEN}" in text
    answer = requests.get(
        f"{sandbox.base_url}/repos/{DEMO_REPO}",
        headers={"Authorization": f"token {world.owner_token}"},
        timeout=10,
    )
    assert answer.json()["default_branch"] == "main"


def test_sandbox_command_help_lists_its_options() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--data-dir", "--strict"):
        assert option in result.output


@pytest.mark.slow
def test_sandbox_command_serves_until_interrupted(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-c",
        "from guard.cli import main; main()",
        "sandbox",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("GitHub REST sandbox at http://127.0.0.1:")
        base_url = banner.rsplit(" ", 1)[1].strip()
        answer = requests.get(
            f"{base_url}/repos/{DEMO_REPO}",
            headers={"Authorization": f"token {DEMO_OWNER_TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.json()["url"] == f"{base_url}/repos/{DEMO_REPO}"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert process.returncode == 0
    assert (tmp_path / "state.json").is_file()
    assert (tmp_path / "repos" / "octo-org" / "demo-service.git").is_dir()


def test_a_plain_sandbox_runs_without_openapi_core() -> None:
    # The demo runs the sandbox without development dependencies; only strict mode needs them.
    script = (
        "import sys\n"
        "from guard.sandbox import Sandbox\n"
        "with Sandbox() as sandbox:\n"
        "    sandbox.create_repo('o/r', {'a': 'a'})\n"
        "print('openapi_core' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
