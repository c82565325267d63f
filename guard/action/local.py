"""The verification run inside the runner: the workspace's policy, the same engine and probes as
`deploy-guard verify`, with private networks allowed (the runner is the user's own machine)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from guard.action.commands import Commands
from guard.action.runner_env import ActionInputs, Mode, Runner
from guard.outcomes import ProbeResult, Verdict
from guard.policy.errors import PolicyError, PolicyIssue
from guard.policy.loader import environment_or_error, load_policy_file
from guard.policy.models import Environment
from guard.probes.network import NetworkPolicy
from guard.probes.suite import ProbeSuite
from guard.report.checks import check_rows
from guard.report.terminal import checks_table, progress_line, verdict_block
from guard.runner import Progress, run_verification
from guard.severity import Decision, decide
from guard.verification import VerificationPlan

NO_BASE_URL_HINT = (
    "set the url input, url for the environment in the policy, or run the step on a "
    "deployment_status event that carries an environment_url"
)
PROGRESS_GROUP = "deploy-guard: verifying {environment} at {url}"
POLICY_INVALID_TITLE = "deploy-guard: the policy cannot be used"


@dataclass(frozen=True)
class LocalVerification:
    """What the verification in the runner found, and the policy it went by."""

    environment_name: str
    environment: Environment
    mode: Mode
    base_url: str | None
    verdict: Verdict
    decision: Decision
    results: tuple[ProbeResult, ...]


class PolicyProblem(Exception):  # noqa: N818 - a problem to report, with its lines
    """The policy cannot be used; `issues` name the file and line of each problem."""

    def __init__(self, error: PolicyError, workspace: Path) -> None:
        super().__init__(str(error))
        self.issues = tuple(_relative(issue, workspace) for issue in error.issues)


def _relative(issue: PolicyIssue, workspace: Path) -> PolicyIssue:
    """The issue named relative to the workspace: how annotations find the file."""
    try:
        name = os.path.relpath(issue.filename, workspace)
    except ValueError:
        return issue
    if name.startswith(".."):
        return issue
    return PolicyIssue(name, issue.line, issue.key_path, issue.message)


def load_environment(runner: Runner, inputs: ActionInputs) -> tuple[Environment, Mode]:
    """The environment's section of the workspace's policy, and the mode to act in."""
    path = runner.workspace / inputs.policy
    try:
        policy = load_policy_file(path)
        environment = environment_or_error(policy, inputs.environment, path)
    except PolicyError as error:
        raise PolicyProblem(error, runner.workspace) from None
    return environment, inputs.mode or policy.effective_mode(inputs.environment)


def base_url_for(runner: Runner, inputs: ActionInputs, environment: Environment) -> str | None:
    """The input wins, then the policy's url, then the deployment event's environment_url."""
    if inputs.url:
        return inputs.url
    if environment.url:
        return environment.url
    event = runner.deployment
    if event is not None and event.environment == inputs.environment:
        return event.environment_url
    return None


def verify_in_runner(
    runner: Runner,
    inputs: ActionInputs,
    environ: Mapping[str, str],
    commands: Commands,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> LocalVerification:
    """Run the environment's checks from here; raises PolicyProblem when it cannot start."""
    environment, mode = load_environment(runner, inputs)
    base_url = base_url_for(runner, inputs, environment)
    # ProbeSuite prefers the policy's url; the input must win, so it replaces it here.
    aimed = environment.model_copy(update={"url": base_url})
    plan = VerificationPlan.from_environment(aimed)

    def show(progress: Progress) -> None:
        # Waiting lines would only repeat themselves in a log: observations only.
        if progress.next_round_in is None:
            commands.line(progress_line(progress))

    title = PROGRESS_GROUP.format(environment=inputs.environment, url=base_url or "?")
    suite = ProbeSuite(
        aimed,
        base_url=base_url,
        network=NetworkPolicy(deny_private=False),
        environ=environ,
        clock=clock,
        no_base_url_hint=NO_BASE_URL_HINT,
    )
    with commands.group(title), commands.untrusted(), suite:
        verdict, verification = run_verification(
            plan, suite, clock=clock, sleep=sleep, on_progress=show
        )
    decision = decide(verdict, environment.on_failure, mode=mode)
    results = verification.results
    with commands.untrusted():
        commands.line(checks_table(check_rows(results)))
        commands.line()
        commands.line(verdict_block(verdict, decision.explanation))
    return LocalVerification(
        environment_name=inputs.environment,
        environment=environment,
        mode=mode,
        base_url=base_url,
        verdict=verdict,
        decision=decision,
        results=results,
    )
