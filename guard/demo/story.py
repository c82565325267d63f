"""The demo story: verify a healthy deploy, break it, verify again, say what it showed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from guard.demo.example_service import ExampleService
from guard.outcomes import Verdict, VerdictKind
from guard.policy.loader import load_policy
from guard.probes.network import NetworkPolicy
from guard.probes.suite import ProbeSuite
from guard.report.checks import check_rows
from guard.report.terminal import checks_table, progress_line, verdict_block
from guard.runner import Progress, run_verification
from guard.severity import decide
from guard.verification import VerificationPlan

ENVIRONMENT = "production"


@dataclass(frozen=True)
class DemoOutcome:
    """What the two verifications concluded."""

    healthy: Verdict
    broken: Verdict

    @property
    def completed(self) -> bool:
        return self.healthy.kind is VerdictKind.PASS and self.broken.kind is VerdictKind.FAIL


def demo_policy_text() -> str:
    return resources.files("guard.demo").joinpath("policy.yml").read_text(encoding="utf-8")


def run_demo(
    say: Callable[[str], None],
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> DemoOutcome:
    """Tell the story through `say`; the caller decides the exit code from the outcome."""
    policy = load_policy(demo_policy_text(), "guard/demo/policy.yml")
    environment = policy.environments[ENVIRONMENT]
    plan = VerificationPlan.from_environment(environment)

    def verify(service: ExampleService) -> Verdict:
        def show(progress: Progress) -> None:
            if progress.next_round_in is None:
                say(f"    {progress_line(progress)}")

        with ProbeSuite(
            environment,
            base_url=service.url,
            network=NetworkPolicy(deny_private=False),
            environ={},
            clock=clock,
        ) as suite:
            verdict, verification = run_verification(
                plan, suite, clock=clock, sleep=sleep, on_progress=show
            )
        say("")
        for line in checks_table(check_rows(verification.results)).splitlines():
            say(f"    {line}")
        decision = decide(verdict, environment.on_failure, mode=policy.effective_mode(ENVIRONMENT))
        for line in verdict_block(verdict, decision.explanation).splitlines():
            say(f"    {line}")
        return verdict

    with ExampleService() as service:
        say(f"1. The example shop runs {service.version} at {service.url}.")
        say(f"2. Verifying {service.version} with the demo policy (smoke, then a 3 s watch):")
        healthy = verify(service)
        service.deploy("v2")
        say("")
        say(f"3. Deployed {service.version}, which ships a bad database setting.")
        say(f"4. Verifying {service.version} the same way:")
        broken = verify(service)
    outcome = DemoOutcome(healthy=healthy, broken=broken)
    say("")
    if outcome.completed:
        say(
            "What this showed: the same checks passed v1 and failed v2 within seconds, "
            "with every reason spelled out. With the webhook service, the failing verdict "
            "rolls the deployment back through GitHub and files the incident."
        )
    else:
        say(
            f"The story did not complete: v1 was {healthy.kind.value}, v2 was "
            f"{broken.kind.value} (expected pass, then fail)."
        )
    return outcome
