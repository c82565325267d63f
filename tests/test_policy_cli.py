"""`deploy-guard validate` and `deploy-guard schema`: output, exit codes, and a light start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.cli import main
from guard.policy.schema import SCHEMA_PATH

POLICIES = Path(__file__).parent / "fixtures" / "policies"
EXAMPLE = POLICIES / "example.yml"
# What `validate` must never load: its start-up time is benchmarked, and a pre-commit hook
# should not pay for the HTTP client, the AWS SDK, the web framework or the database layer.
HEAVY_MODULES = ("requests", "boto3", "botocore", "flask", "sqlalchemy")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_a_valid_policy(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(POLICIES)
    result = runner.invoke(main, ["validate", "example.yml"])
    assert result.exit_code == 0
    assert result.stdout == "example.yml: valid (2 environments: production, staging)\n"
    assert result.stderr == ""


def test_one_environment_is_singular(runner: CliRunner, tmp_path: Path) -> None:
    policy = tmp_path / "deploy-guard.yml"
    policy.write_text("version: 1\nenvironments:\n  production: {}\n", encoding="utf-8")
    result = runner.invoke(main, ["validate", str(policy)])
    assert result.exit_code == 0
    assert result.stdout == f"{policy}: valid (1 environment: production)\n"


def test_an_invalid_policy_lists_its_errors_and_a_count(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("deploy-guard.yml").write_text(
        "version: 1\nmode: sometimes\nenvironments:\n  production:\n    watch: {interval: fast}\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["validate", "deploy-guard.yml"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        'deploy-guard.yml:2: mode: "sometimes" is not one of: enforce, shadow\n'
        'deploy-guard.yml:5: environments.production.watch.interval: "fast" is not a duration '
        "(examples: 15s, 2m)\n"
        "deploy-guard.yml: invalid (2 errors)\n"
    )


def test_one_error_is_singular(runner: CliRunner, tmp_path: Path) -> None:
    policy = tmp_path / "p.yml"
    policy.write_text("", encoding="utf-8")
    result = runner.invoke(main, ["validate", str(policy)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"{policy}: invalid (1 error)"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.yml", "missing.yml: cannot read the policy: there is no such file\n"),
        (".", ".: cannot read the policy: it is a directory, not a file\n"),
    ],
)
def test_an_unreadable_file_is_one_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["validate", name])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message


def test_validate_needs_a_path(runner: CliRunner) -> None:
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument 'PATH'" in result.stderr


def test_schema_prints_the_committed_file(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0
    assert result.stdout_bytes == SCHEMA_PATH.read_bytes()


def run_cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command line in a fresh interpreter, reporting every module it imported."""
    return subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "from guard.cli import main; main()",
            *arguments,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def imported_modules(importtime_report: str) -> set[str]:
    # Lines look like: "import time:       412 |        412 |   yaml.error".
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_report.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def test_validate_in_a_real_process_is_light_and_exits_as_documented(tmp_path: Path) -> None:
    valid = run_cli("validate", str(EXAMPLE), cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout == f"{EXAMPLE}: valid (2 environments: production, staging)\n"
    modules = imported_modules(valid.stderr)
    assert "guard.policy.loader" in modules
    assert "yaml" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY_MODULES)
    assert heavy == []

    (tmp_path / "bad.yml").write_text("version: 1\nenvironments: {}\n", encoding="utf-8")
    invalid = run_cli("validate", "bad.yml", cwd=tmp_path)
    assert invalid.returncode == 2
    messages = [line for line in invalid.stderr.splitlines() if not line.startswith("import time:")]
    assert messages == [
        "bad.yml:2: environments: must name at least one environment (for example production)",
        "bad.yml: invalid (1 error)",
    ]
    assert "Traceback" not in invalid.stderr

    unreadable = run_cli("validate", "nowhere.yml", cwd=tmp_path)
    assert unreadable.returncode == 2
    assert "Traceback" not in unreadable.stderr
    assert unreadable.stderr.splitlines()[-1] == (
        "nowhere.yml: cannot read the policy: there is no such file"
    )
