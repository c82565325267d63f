"""Keeping the Action honest: its metadata, its README, the reusable workflow and the code that
reads the inputs all say the same thing; no input is ever pasted into a script."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from guard import __version__
from guard.action.report import ExitCode
from guard.action.runner_env import INPUT_VARIABLES
from guard.cli.action_command import action

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "actions" / "verify" / "action.yml"
ACTION_README = ROOT / "actions" / "verify" / "README.md"
README = ROOT / "README.md"
REUSABLE = ROOT / ".github" / "workflows" / "deploy-guard.yml"
SMOKE = ROOT / ".github" / "workflows" / "action-smoke.yml"
OUR_FILES = [ACTION, REUSABLE, SMOKE]
OUTPUTS = {"verdict", "severity", "incident-url", "rollback-ref", "run-url"}
# Passed to setup-python, not to `deploy-guard action`.
SETUP_ONLY = {"python-version"}
# The reusable workflow takes these as secrets, not inputs (tokens must not be inputs).
AS_SECRETS = {"github-token"}
WORKFLOW_ONLY_SECRETS = {"guard-secrets"}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def workflow_call(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1).
    data = load(path)
    triggers = data.get("on", data.get(True))
    assert isinstance(triggers, dict)
    call = triggers["workflow_call"]
    assert isinstance(call, dict)
    return call


def steps_of(path: Path) -> list[dict[str, Any]]:
    data = load(path)
    if "runs" in data:
        return list(data["runs"]["steps"])
    return [step for job in data["jobs"].values() for step in job.get("steps", [])]


def test_every_input_has_a_description_and_is_in_the_readme() -> None:
    inputs = load(ACTION)["inputs"]
    readme = ACTION_README.read_text(encoding="utf-8")
    for name, spec in inputs.items():
        assert spec.get("description", "").strip(), f"input {name} has no description"
        assert f"| `{name}` |" in readme, f"input {name} is not in {ACTION_README.name}"
    assert set(inputs) == set(INPUT_VARIABLES) | SETUP_ONLY


def test_only_the_environment_is_required_and_the_rest_have_defaults() -> None:
    inputs = load(ACTION)["inputs"]
    assert [name for name, spec in inputs.items() if spec.get("required")] == ["environment"]
    assert inputs["policy"]["default"] == ".github/deploy-guard.yml"
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert all("default" in spec for name, spec in inputs.items() if name != "environment")


def test_every_output_is_described_and_comes_from_the_step() -> None:
    outputs = load(ACTION)["outputs"]
    readme = ACTION_README.read_text(encoding="utf-8")
    assert set(outputs) == OUTPUTS
    for name, spec in outputs.items():
        assert spec["description"].strip()
        assert spec["value"] == f"${{{{ steps.guard.outputs.{name} }}}}"
        assert f"| `{name}` |" in readme


def test_the_step_gets_every_input_through_its_environment() -> None:
    step = next(s for s in steps_of(ACTION) if s.get("id") == "guard")
    env = step["env"]
    for name, variable in INPUT_VARIABLES.items():
        assert env[variable] == f"${{{{ inputs.{name} }}}}"
    assert 'deploy-guard" action' in step["run"]


@pytest.mark.parametrize("path", OUR_FILES, ids=lambda p: p.name)
def test_no_expression_is_pasted_into_a_script(path: Path) -> None:
    for step in steps_of(path):
        assert "${{" not in step.get("run", ""), f"{step.get('name')}: use env, not ${{{{ }}}}"


@pytest.mark.parametrize("path", OUR_FILES, ids=lambda p: p.name)
def test_actions_are_pinned_by_sha_with_their_version(path: Path) -> None:
    pinned = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^\s*(?:- )?uses: (\S+)(.*)$", line)
        if found is None or found.group(1).startswith("./"):
            continue
        assert PINNED.match(f"{found.group(1)}{found.group(2)}"), line
        pinned += 1
    assert pinned > 0


@pytest.mark.parametrize("path", [REUSABLE, SMOKE], ids=lambda p: p.name)
def test_workflows_grant_nothing_by_default_and_keep_no_credentials(path: Path) -> None:
    data = load(path)
    assert data["permissions"] == {}
    for job in data["jobs"].values():
        assert "permissions" in job
    for step in steps_of(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_the_reusable_workflow_takes_and_gives_what_the_action_does() -> None:
    action = load(ACTION)
    call = workflow_call(REUSABLE)
    inputs, secrets = call["inputs"], call["secrets"]
    assert set(inputs) | (set(secrets) - WORKFLOW_ONLY_SECRETS) == set(action["inputs"])
    assert set(secrets) - WORKFLOW_ONLY_SECRETS == AS_SECRETS
    for name, spec in inputs.items():
        assert spec["type"] == "string"
        assert spec["description"].strip()
        assert spec.get("required", False) == action["inputs"][name].get("required", False)
        if "default" in action["inputs"][name]:
            assert spec["default"] == action["inputs"][name]["default"]
    assert set(call["outputs"]) == set(action["outputs"])
    for name, spec in call["outputs"].items():
        assert spec["value"] == f"${{{{ jobs.verify.outputs.{name} }}}}"
    job = load(REUSABLE)["jobs"]["verify"]
    assert set(job["outputs"]) == OUTPUTS
    step = next(s for s in job["steps"] if s.get("id") == "guard")
    assert set(step["with"]) == set(action["inputs"])


def test_the_reusable_workflow_uses_the_action_at_its_own_commit() -> None:
    steps = load(REUSABLE)["jobs"]["verify"]["steps"]
    checkout = next(s for s in steps if s.get("with", {}).get("path") == ".deploy-guard")
    assert checkout["with"]["ref"] == "${{ steps.self.outputs.sha }}"
    assert checkout["with"]["repository"] == "${{ steps.self.outputs.repository }}"
    guard = next(s for s in steps if s.get("id") == "guard")
    assert guard["uses"] == "./.deploy-guard/actions/verify"
    assert "job_workflow_sha" in next(s for s in steps if s.get("id") == "self")["run"]


def test_the_action_installs_deploy_guard_from_its_own_checkout() -> None:
    scripts = "\n".join(step.get("run", "") for step in steps_of(ACTION))
    assert 'install --quiet --disable-pip-version-check "$GITHUB_ACTION_PATH/../.."' in scripts
    assert '"$GITHUB_ACTION_PATH/../../pyproject.toml"' in scripts


def released_major() -> int:
    """The major the README's `@vN` names: the package's major, or 1 while it is 0.x (the
    `v1` tag starts with the first stable release, 1.0.0)."""
    return max(1, int(__version__.split(".")[0]))


def test_documented_references_follow_the_major_tag() -> None:
    pattern = re.compile(
        r"deploy-guard/(?:actions/verify|\.github/workflows/deploy-guard\.yml)@(\S+)"
    )
    found = [
        match.group(1)
        for path in (README, ACTION_README)
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found, "the READMEs show how to use the Action"
    # `<sha>` is the README's example of pinning a release's full commit SHA.
    assert set(found) - {"<sha>"} == {f"v{released_major()}"}
    assert "<sha>" in found


def test_the_release_practice_is_documented() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "immutable tag `vX.Y.Z`" in readme
    assert f"the major tag `v{released_major()}` moves" in readme
    assert "zizmor" in readme
    assert re.search(r"verify@<sha> # v\d+\.\d+\.\d+$", readme, re.MULTILINE)


def exit_table(text: str, heading: str) -> dict[int, str]:
    """The rows `| code | meaning |` of the table whose header row starts with `heading`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows: dict[int, str] = {}
    for line in lines[start + 2 :]:
        match = re.match(r"^\| (\d+) \| (.+) \|$", line)
        if match is None:
            break
        rows[int(match.group(1))] = match.group(2)
    return rows


def test_the_exit_codes_are_documented_as_the_code_has_them() -> None:
    codes = {int(code) for code in ExitCode}
    in_action_readme = exit_table(ACTION_README.read_text(encoding="utf-8"), "| exit | meaning |")
    readme = README.read_text(encoding="utf-8")
    in_readme = exit_table(readme, "| exit | `deploy-guard action`")

    assert set(in_action_readme) == codes
    # The README's table says the same of each code as the Action's README.
    assert in_readme == in_action_readme
    # The command-line table's row, and the command's own --help.
    row = next(line for line in readme.splitlines() if line.startswith("| `deploy-guard action`"))
    assert {int(n) for n in re.findall(r"(\d+) [a-z]", row.rsplit("|", 2)[1])} == codes
    assert action.help is not None
    said = re.search(r"Exit (.+)\.", action.help)
    assert said is not None
    assert {int(n) for n in re.findall(r"(\d+) [a-z]", said.group(1))} == codes
