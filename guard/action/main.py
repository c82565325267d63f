"""`deploy-guard action` from start to end: mask, read the runner, verify (here or through the
guard service), act, then annotations, outputs and the job summary; the exit code last.

    0 pass · 1 fail · 2 the step is set up wrongly (inputs, policy, permissions, guard-url
    credentials) · 3 inconclusive, or no verdict from the guard service in time
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

import requests

from guard.action.acting import act_on_verdict
from guard.action.commands import Commands, append_summary, write_outputs
from guard.action.local import POLICY_INVALID_TITLE, PolicyProblem, verify_in_runner
from guard.action.permissions import RefusalLog, missing_permissions
from guard.action.remote import Polling, RemoteProblem, verify_remotely
from guard.action.report import ActionReport, ExitCode, Note, annotate
from guard.action.runner_env import (
    ActionInputs,
    ActionUsageError,
    Runner,
    SecretsBundleError,
    read_inputs,
    read_runner,
    secret_environment,
)
from guard.action.summary import render_summary
from guard.github.auth import TokenAuth
from guard.github.client import GitHubClient
from guard.github.errors import GitHubError
from guard.report.checks import check_rows
from guard.severity import Action

USAGE_TITLE = "deploy-guard: the step is not set up right"
USAGE_SUMMARY = "## deploy-guard: the step is not set up right\n\n{message}\n"
POLICY_SUMMARY = "## deploy-guard: the policy cannot be used\n\n```text\n{problems}\n```\n"
NO_CREDENTIAL = (
    "The policy asks for a remedy or an incident, but the step has no GitHub token: "
    "leave github-token at its default (the job's token) or give one."
)
NO_CREDENTIAL_TITLE = "deploy-guard: no GitHub token"
GITHUB_FAILED = "GitHub failed the step: {error}"
GITHUB_FAILED_TITLE = "deploy-guard: GitHub failed"
FINISHED = "deploy-guard: verdict {verdict}, exit {code}"


def run_action(
    environ: Mapping[str, str],
    stream: TextIO,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    github_pacing: bool = True,
    poll_interval_s: float | None = None,
    poll_timeout_s: float | None = None,
) -> int:
    """The whole step; returns its exit code (see the module's docstring)."""
    commands = Commands(stream)
    try:
        secrets, to_mask = secret_environment(environ)
    except SecretsBundleError as problem:
        for value in problem.to_mask:
            commands.mask(value)
        return _usage(commands, environ, str(problem))
    # Before anything else is printed: from here on the runner hides these everywhere.
    for value in to_mask:
        commands.mask(value)
    try:
        runner = read_runner(environ)
        inputs = read_inputs(environ)
    except ActionUsageError as error:
        return _usage(commands, environ, str(error))
    if inputs.remote:
        polling = Polling(clock, sleep)
        if poll_interval_s is not None:
            polling = Polling(clock, sleep, poll_interval_s, poll_timeout_s or polling.timeout_s)
        report = _remote(runner, inputs, commands, polling)
    else:
        try:
            report = _local(runner, inputs, secrets, commands, environ, clock, sleep, github_pacing)
        except PolicyProblem as problem:
            return _policy_problem(commands, runner, problem)
    annotate(report, commands)
    write_outputs(runner.output_path, report.outputs(), commands)
    append_summary(runner.summary_path, render_summary(report), commands)
    verdict = report.verdict.kind.value if report.verdict else "none"
    commands.line(FINISHED.format(verdict=verdict, code=int(report.exit_code)))
    return int(report.exit_code)


def _remote(
    runner: Runner, inputs: ActionInputs, commands: Commands, polling: Polling
) -> ActionReport:
    with requests.Session() as http:
        try:
            return verify_remotely(runner, inputs, commands, http, polling)
        except RemoteProblem as problem:
            return ActionReport(
                environment=inputs.environment,
                verdict=None,
                decision=None,
                sha=runner.sha,
                actions_run_url=runner.run_url,
                problem=problem.message,
                permissions=problem.permissions,
                setup_problem=problem.message if problem.usage else None,
            )


def _local(  # noqa: PLR0917 - the step's whole context
    runner: Runner,
    inputs: ActionInputs,
    secrets: Mapping[str, str],
    commands: Commands,
    environ: Mapping[str, str],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    github_pacing: bool,
) -> ActionReport:
    found = verify_in_runner(runner, inputs, secrets, commands, clock=clock, sleep=sleep)
    report = ActionReport(
        environment=inputs.environment,
        verdict=found.verdict,
        decision=found.decision,
        rows=tuple(check_rows(found.results)),
        results=found.results,
        sha=runner.sha,
        actions_run_url=runner.run_url,
        deployments_url=runner.environment_url(inputs.environment),
    )
    if found.decision.action in (Action.NONE, Action.RECORD):
        return report
    token = inputs.github_token or environ.get("GITHUB_TOKEN")
    if not token:
        report.notes.append(Note("error", NO_CREDENTIAL_TITLE, NO_CREDENTIAL))
        report.setup_problem = NO_CREDENTIAL
        return report
    refusals = RefusalLog()
    github = GitHubClient(
        TokenAuth(token),
        runner.api_url,
        observer=refusals,
        sleep=sleep,
        clock=clock,
        seconds_between_requests=0.25 if github_pacing else None,
        seconds_between_writes=1.0 if github_pacing else None,
    )
    try:
        acted = act_on_verdict(runner, inputs, found, github, secrets, clock=clock)
    except GitHubError as error:
        message = GITHUB_FAILED.format(error=error.message)
        report.notes.append(Note("error", GITHUB_FAILED_TITLE, message))
    else:
        report.decision = acted.decision
        report.deployment_id = acted.deployment.id if acted.deployment else None
        report.sha = acted.deployment.sha if acted.deployment else runner.sha
        report.remedy = acted.remedy
        report.remedy_url = acted.remedy_url
        report.rollback_ref = acted.rollback_ref
        report.incident_url = acted.incident_url
        report.notes.extend(acted.notes)
    finally:
        github.close()
    report.permissions = missing_permissions(
        refusals.refused,
        found.environment.on_failure.rollback.strategy,
        rolls_back=found.decision.action is Action.ROLLBACK,
    )
    return report


def _summary_path(environ: Mapping[str, str]) -> Path | None:
    value = environ.get("GITHUB_STEP_SUMMARY", "").strip()
    return Path(value) if value else None


def _usage(commands: Commands, environ: Mapping[str, str], message: str) -> int:
    commands.annotate("error", message, title=USAGE_TITLE)
    append_summary(_summary_path(environ), USAGE_SUMMARY.format(message=message), commands)
    return int(ExitCode.USAGE)


def _policy_problem(commands: Commands, runner: Runner, problem: PolicyProblem) -> int:
    for issue in problem.issues:
        where = f"{issue.key_path}: " if issue.key_path else ""
        commands.annotate(
            "error",
            f"{where}{issue.message}",
            title=POLICY_INVALID_TITLE,
            file=issue.filename,
            line=issue.line,
        )
    problems = "\n".join(issue.render() for issue in problem.issues)
    append_summary(runner.summary_path, POLICY_SUMMARY.format(problems=problems), commands)
    return int(ExitCode.USAGE)
