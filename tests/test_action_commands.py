"""The runner's side of the step: workflow commands, GITHUB_OUTPUT, the summary's limit, the
inputs, the event file and the secrets it reads."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from guard.action.commands import (
    SUMMARY_CUT_NOTE,
    Commands,
    append_summary,
    fit_summary,
    write_outputs,
)
from guard.action.permissions import RefusalLog, missing_permissions
from guard.action.runner_env import (
    ActionUsageError,
    SecretsBundleError,
    read_event_deployment,
    read_inputs,
    secret_environment,
)
from guard.cli import main
from tests.action_world import read_outputs

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"


def commands() -> tuple[Commands, io.StringIO]:
    stream = io.StringIO()
    return Commands(stream), stream


def test_outputs_survive_newlines_and_anything_that_looks_like_a_delimiter(tmp_path: Path) -> None:
    output = tmp_path / "output"
    values = {
        "verdict": "fail",
        "severity": "",
        "incident-url": "line one\nline two\nEOF\nghadelimiter_0\n",
    }
    run, _ = commands()

    write_outputs(output, values, run)
    write_outputs(output, {"run-url": "https://example.test/1"}, run)

    assert read_outputs(output.read_text(encoding="utf-8")) == {
        **values,
        "run-url": "https://example.test/1",
    }


def test_masks_come_first_once_per_line_and_redact_everything_after() -> None:
    run, stream = commands()
    run.mask("first-secret\nsecond-secret\n")
    run.mask("first-secret")
    run.mask("abc")

    run.line("the token is first-secret, then second-secret")
    run.annotate("error", "first-secret failed", title="about second-secret")

    assert stream.getvalue().splitlines() == [
        "::add-mask::first-secret",
        "::add-mask::second-secret",
        "the token is ***, then ***",
        "::error title=about ***::*** failed",
    ]


def test_annotations_escape_what_would_break_the_command() -> None:
    run, stream = commands()

    run.annotate(
        "warning", "50% of\nrounds", title="a: b, c", file=".github/deploy-guard.yml", line=3
    )

    assert stream.getvalue() == (
        "::warning file=.github/deploy-guard.yml,line=3,title=a%3A b%2C c::50%25 of%0Arounds\n"
    )


def test_what_a_service_answered_cannot_run_a_workflow_command() -> None:
    run, stream = commands()

    with run.untrusted():
        run.line("::add-mask::nothing")

    first, quoted, last = stream.getvalue().splitlines()
    token = first.removeprefix("::stop-commands::")
    assert len(token) == 32
    assert quoted == "::add-mask::nothing"
    assert last == f"::{token}::"


def test_the_summary_is_cut_to_one_mebibyte_and_says_so(tmp_path: Path) -> None:
    text = "é" * (600 * 1024)

    fitted = fit_summary(text)

    assert len(fitted.encode("utf-8")) <= 1024 * 1024
    assert fitted.endswith(SUMMARY_CUT_NOTE)
    assert fit_summary("short") == "short"
    run, _ = commands()
    run.mask("hidden-value")
    append_summary(tmp_path / "summary.md", "a hidden-value here", run)
    assert (tmp_path / "summary.md").read_text(encoding="utf-8") == "a *** here"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("INPUT_ENVIRONMENT", " ", "the input environment is required"),
        ("INPUT_DEPLOYMENT_ID", "latest", "deployment-id must be a deployment's number"),
        ("INPUT_MODE", "yolo", "mode must be enforce or shadow"),
        ("INPUT_URL", "shop.example.com", "url must be an http(s) URL"),
        ("INPUT_GUARD_URL", "ftp://guard", "guard-url must be an http(s) URL"),
    ],
)
def test_wrong_inputs_say_what_to_change(variable: str, value: str, problem: str) -> None:
    environ = {"INPUT_ENVIRONMENT": "production", variable: value}

    with pytest.raises(ActionUsageError, match=re.escape(problem)):
        read_inputs(environ)


def test_inputs_are_read_with_their_defaults() -> None:
    inputs = read_inputs(
        {
            "INPUT_ENVIRONMENT": "production",
            "INPUT_DEPLOYMENT_ID": "42",
            "INPUT_GUARD_URL": "https://guard.example.com/",
            "INPUT_MODE": "shadow",
            "GUARD_TOKEN_IS_JOB_TOKEN": "true",
        }
    )

    assert inputs.policy == ".github/deploy-guard.yml"
    assert inputs.deployment_id == 42
    assert inputs.guard_url == "https://guard.example.com"
    assert inputs.guard_audience == "https://guard.example.com"
    assert inputs.mode == "shadow"
    assert inputs.token_is_job_token


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("deployment*.created.*")))
def test_every_recorded_deployment_event_gives_its_deployment(name: str) -> None:
    payload = json.loads((FIXTURES / name).read_text(encoding="utf-8"))

    found = read_event_deployment(str(FIXTURES / name))

    assert found is not None
    assert found.id == payload["deployment"]["id"]
    assert found.sha == payload["deployment"]["sha"]
    status = payload.get("deployment_status") or {}
    assert found.environment_url == (status.get("environment_url") or None)


def test_other_events_and_unreadable_files_give_no_deployment(tmp_path: Path) -> None:
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main"}), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")

    assert read_event_deployment(str(push)) is None
    assert read_event_deployment(str(broken)) is None
    assert read_event_deployment(str(tmp_path / "missing.json")) is None
    assert read_event_deployment(None) is None


def test_secrets_come_from_the_step_and_the_bundle_and_are_all_masked() -> None:
    environ = {
        "GUARD_SECRET_A": "value-a",
        "GUARD_SECRETS": "GUARD_SECRET_B=value=b\n\n",
        "INPUT_GITHUB_TOKEN": "ghs_token",
        "PATH": "/usr/bin",
    }

    found, to_mask = secret_environment(environ)

    assert found == {"GUARD_SECRET_A": "value-a", "GUARD_SECRET_B": "value=b"}
    assert set(to_mask) == {"value-a", "value=b", "ghs_token"}


def test_a_bad_bundle_line_is_refused_but_still_masked() -> None:
    with pytest.raises(SecretsBundleError, match="GUARD_SECRETS line 2") as raised:
        secret_environment({"GUARD_SECRETS": "GUARD_SECRET_OK=fine\nhunter2-plain"})

    assert "hunter2-plain" in raised.value.to_mask


def test_refused_calls_name_the_whole_block_the_policy_needs() -> None:
    log = RefusalLog()
    log("GET", "/repos/{owner}/{repo}/deployments", 200, 4999)
    log("POST", "/repos/{owner}/{repo}/git/refs", 403, 0)  # a rate limit, not a permission
    log("POST", "/repos/{owner}/{repo}/pulls", 403, 4990)

    help_ = missing_permissions(log.refused, "revert_pr", rolls_back=True)

    assert help_ is not None
    assert help_.one_line == (
        "permissions: {contents: write, deployments: write, issues: write, pull-requests: write}"
    )
    assert "POST /repos/{owner}/{repo}/pulls (pull-requests: write)" in help_.message
    assert missing_permissions([], "redeploy", rolls_back=True) is None


def test_the_command_is_registered_and_refuses_to_run_outside_actions() -> None:
    runner = CliRunner()

    listed = runner.invoke(main, ["--help"])
    result = runner.invoke(
        main,
        ["action"],
        # Under GitHub Actions (ci.yml) these are set: the test must not write to the real files.
        env={
            "GITHUB_REPOSITORY": "",
            "GITHUB_STEP_SUMMARY": "",
            "GITHUB_OUTPUT": "",
            "INPUT_ENVIRONMENT": "production",
        },
    )

    assert "action    The pipeline step: verify, remedy, report." in listed.stdout
    assert result.exit_code == 2
    assert result.stdout.startswith(
        "::error title=deploy-guard%3A the step is not set up right::GITHUB_REPOSITORY is not set"
    )
