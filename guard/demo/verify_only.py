"""The demo policy checked in-process: verify the healthy shop, break it, verify again.

No GitHub and no service: the quick proof (for tests) that the demo's policy passes v1 and
fails v2. `deploy-guard demo` tells the whole story (guard.demo.story).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from guard.demo.example_service import ExampleService
from guard.demo.world import ENVIRONMENT, demo_policy_text
from guard.outcomes import Verdict, VerdictKind
from guard.policy.loader import load_policy
from guard.policy.types import format_duration
from guard.probes.network import NetworkPolicy
from guard.probes.suite import ProbeSuite
from guard.report.checks import check_rows
from guard.report.terminal import checks_table, progress_line, verdict_block
from guard.runner import Progress, run_verification
from guard.severity import decide
from guard.verification import VerificationPlan

WATCH_WORDS = "smoke, then {rounds} watch rounds every {interval}"
SHOWED = (
    "What this showed: the same checks passed v1 and failed v2 within seconds, with every "
    "reason spelled out. `deploy-guard demo` shows the rest: the webhook service rolling the "
    "deployment back through GitHub and filing the incident."
)
NOT_COMPLETED = (
    "The checks did not tell v1 from v2: v1 was {v1}, v2 was {v2} (expected pass, then fail)."
)


@dataclass(frozen=True)
class DemoOutcome:
    """What the two verifications concluded."""

    healthy: Verdict
    broken: Verdict

    @property
    def completed(self) -> bool:
        return self.healthy.kind is VerdictKind.PASS and self.broken.kind is VerdictKind.FAIL


def run_verify_only(
    say: Callable[[str], None],
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> DemoOutcome:
    """Verify v1 and v2 through `say`; the caller decides what the outcome means."""
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
        watch = WATCH_WORDS.format(
            rounds=plan.rounds_planned, interval=format_duration(plan.interval_s)
        )
        say(f"2. Verifying {service.version} with the demo policy ({watch}):")
        healthy = verify(service)
        service.deploy("v2")
        say("")
        say(f"3. Deployed {service.version}, which ships a bad database setting.")
        say(f"4. Verifying {service.version} the same way:")
        broken = verify(service)
    outcome = DemoOutcome(healthy=healthy, broken=broken)
    say("")
    if outcome.completed:
        say(SHOWED)
    else:
        say(NOT_COMPLETED.format(v1=healthy.kind.value, v2=broken.kind.value))
    return outcome
