"""`deploy-guard verify`: run an environment's smoke checks, watch and metrics from this machine."""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

import click

from guard.outcomes import VerdictKind

EXIT_CODES = {VerdictKind.PASS: 0, VerdictKind.FAIL: 1, VerdictKind.INCONCLUSIVE: 3}
EXIT_USAGE = 2
PRIVATE_NETWORK_HINT = "verify refuses private networks because --deny-private-networks was given"
NO_BASE_URL_HINT = "set url for the environment in the policy, or pass --url"


class ProgressPrinter:
    """Progress on stderr: a line rewritten in place on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self._width = 0

    def __call__(self, progress: object) -> None:
        from guard.report.terminal import progress_line
        from guard.runner import Progress

        assert isinstance(progress, Progress)
        line = progress_line(progress)
        if self.interactive:
            padding = " " * max(0, self._width - len(line))
            self.stream.write(f"\r{line}{padding}")
            self._width = len(line)
        elif progress.next_round_in is None:
            # Waiting lines would only repeat themselves in a log; print observations only.
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.interactive and self._width:
            self.stream.write("\n")
            self.stream.flush()


@click.command()
@click.option("--policy", "policy_path", required=True, help="The policy file to read.")
@click.option("--environment", "-e", "environment_name", required=True, help="Environment.")
@click.option("--url", help="Base URL of the deployment (default: the environment's url).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--skip-watch", is_flag=True, help="Run the smoke checks (and metrics once) only.")
@click.option(
    "--deny-private-networks",
    is_flag=True,
    help="Refuse loopback, private, link-local and metadata addresses, as the service does.",
)
def verify(  # noqa: PLR0917 - click passes every option as an argument
    policy_path: str,
    environment_name: str,
    url: str | None,
    as_json: bool,
    skip_watch: bool,
    deny_private_networks: bool,
) -> None:
    """Run the checks of ENVIRONMENT from this machine and print the verdict.

    Exit 0 pass, 1 fail, 2 usage or policy error, 3 inconclusive.
    """
    from guard.policy.loader import PolicyError, environment_or_error, load_policy_file
    from guard.probes.network import NetworkPolicy
    from guard.probes.suite import ProbeSuite
    from guard.report.checks import check_rows, verdict_dict
    from guard.report.terminal import checks_table, verdict_block
    from guard.runner import run_verification
    from guard.severity import decide
    from guard.verification import VerificationPlan

    try:
        policy = load_policy_file(policy_path)
        environment = environment_or_error(policy, environment_name, policy_path)
    except PolicyError as error:
        click.echo(str(error), err=True)
        sys.exit(EXIT_USAGE)

    plan = VerificationPlan.from_environment(environment, skip_watch=skip_watch)
    network = NetworkPolicy(deny_private=deny_private_networks, private_hint=PRIVATE_NETWORK_HINT)
    printer = ProgressPrinter(sys.stderr)
    with ProbeSuite(
        environment,
        base_url=url,
        network=network,
        environ=dict(os.environ),
        no_base_url_hint=NO_BASE_URL_HINT,
    ) as suite:
        verdict, verification = run_verification(plan, suite, on_progress=printer)
    printer.finish()

    mode = policy.effective_mode(environment_name)
    decision = decide(verdict, environment.on_failure, mode=mode)
    rows = check_rows(verification.results)
    if as_json:
        document = {
            **verdict_dict(verdict),
            "environment": environment_name,
            "checks": [row.as_dict() for row in rows],
            "decision": {
                "action": decision.action.value,
                "shadow": decision.shadow,
                "explanation": decision.explanation,
            },
        }
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(checks_table(rows))
        click.echo()
        click.echo(verdict_block(verdict, decision.explanation))
    sys.exit(EXIT_CODES[verdict.kind])
