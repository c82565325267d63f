"""`deploy-guard action`: the pipeline step behind actions/verify, run by the Action itself."""

from __future__ import annotations

import os
import sys

import click


@click.command()
@click.option(
    "--github-pacing/--no-github-pacing",
    default=True,
    hidden=True,
    help="Pace GitHub calls as GitHub asks (off only for tests against the sandbox).",
)
def action(github_pacing: bool) -> None:
    """Verify the deployment this job made; remedy, file the incident and report.

    Reads the runner's GITHUB_* variables and the inputs actions/verify passes as INPUT_*
    (INPUT_ENVIRONMENT, INPUT_URL, INPUT_POLICY, INPUT_DEPLOYMENT_ID, INPUT_GITHUB_TOKEN,
    INPUT_GUARD_URL, INPUT_GUARD_AUDIENCE, INPUT_MODE); writes GITHUB_OUTPUT and
    GITHUB_STEP_SUMMARY.

    Exit 0 pass, 1 fail, 2 the step is set up wrongly, 3 inconclusive or no verdict.
    """
    from guard.action.main import run_action

    sys.exit(run_action(os.environ, sys.stdout, github_pacing=github_pacing))
