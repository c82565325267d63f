"""`deploy-guard demo` plays the whole story for real, and GitHub's records show every act."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from guard.cli import main
from guard.cli.demo_command import OUTCOME_KEY
from guard.demo.facts import RESTORED_HEADING, StoryFacts
from guard.demo.story import StoryOutcome
from guard.demo.verify_only import run_verify_only
from guard.demo.world import DEVELOPER, REPO
from guard.outcomes import VerdictKind
from tests.serve_process import running

BOT = "deploy-guard[bot]"
# The story takes well under a minute, but its bound here is 150 s plus stopping serve.
pytestmark = pytest.mark.timeout(300)


@dataclass(frozen=True)
class Played:
    exit_code: int
    output: str
    outcome: StoryOutcome

    @property
    def facts(self) -> StoryFacts:
        assert self.outcome.facts is not None
        return self.outcome.facts


@pytest.fixture(scope="module")
def played() -> Played:
    """The demo command, run once for the whole module: it starts serve, so it takes a while."""
    holder: dict[str, object] = {}
    # A longer bound than the default 90 s: on a busy machine the story must not be cut short.
    result = CliRunner().invoke(main, ["demo", "--strict", "--timeout", "150"], obj=holder)
    outcome = holder.get(OUTCOME_KEY)
    assert isinstance(outcome, StoryOutcome), result.output
    return Played(result.exit_code, result.output, outcome)


@pytest.mark.slow
def test_the_demo_completes_and_exits_0(played: Played) -> None:
    assert played.outcome.missing == (), played.output
    assert played.exit_code == 0, played.output
    assert played.outcome.violations == ()


@pytest.mark.slow
def test_v1_passed_and_v2_failed_on_their_check_runs(played: Played) -> None:
    facts = played.facts
    assert facts.v1_deployment is not None
    assert facts.v2_deployment is not None
    assert facts.v1_deployment.creator == DEVELOPER.login
    assert facts.v1_check is not None
    assert (facts.v1_check.status, facts.v1_check.conclusion) == ("completed", "success")
    assert facts.v2_check is not None
    assert (facts.v2_check.status, facts.v2_check.conclusion) == ("completed", "failure")
    v2_states = [(s.state, s.creator) for s in facts.statuses_of(facts.v2_deployment.id)]
    assert ("failure", BOT) in v2_states


@pytest.mark.slow
def test_one_rollback_of_v1s_commit_was_made_shipped_and_verified(played: Played) -> None:
    facts = played.facts
    assert facts.v1_deployment is not None
    assert facts.v2_deployment is not None
    [rollback] = facts.remedies
    assert rollback.sha == facts.v1_deployment.sha
    assert rollback.creator == BOT
    assert rollback.payload["deploy_guard"]["remedy_of"] == facts.v2_deployment.id
    shipped = [s for s in played.outcome.shipments if s.deployment_id == rollback.id]
    assert [(s.version, s.by_guard, s.state) for s in shipped] == [("v1", True, "success")]
    assert facts.remedy_check is not None
    assert facts.remedy_check is not facts.v1_check
    assert (facts.remedy_check.status, facts.remedy_check.conclusion) == ("completed", "success")


@pytest.mark.slow
def test_one_incident_was_filed_and_told_the_service_is_restored(played: Played) -> None:
    facts = played.facts
    [incident] = facts.incidents
    assert [i.number for i in facts.tables.issues] == [incident.number]
    assert incident.user == BOT
    assert {"incident", "demo-shop"} <= set(incident.labels)
    assert incident.assignees == [DEVELOPER.login]
    assert incident.title in played.output
    restored = [c for c in facts.comments_on(incident.number) if RESTORED_HEADING in c.body]
    assert len(restored) == 1


@pytest.mark.slow
def test_the_webhooks_were_signed_and_accepted(played: Played) -> None:
    deliveries = played.outcome.deliveries
    assert deliveries
    assert all(d.status in (200, 202) for d in deliveries), deliveries
    # v1, v2 and the rollback: each success status started a verification.
    accepted = [d for d in deliveries if d.event == "deployment_status" and d.status == 202]
    assert len(accepted) >= 3


@pytest.mark.slow
def test_the_output_tells_the_story_and_where_to_look(played: Played) -> None:
    facts = played.facts
    output = played.output
    assert output.startswith("deploy-guard demo:")
    assert "GUARD_ALLOW_PRIVATE_NETWORKS=true" in output
    assert "1. @mona pushes v1" in output
    assert "deploy-guard rolled back: deployment" in output
    assert "The story completed in" in output
    for run in (facts.v1_check, facts.v2_check, facts.remedy_check):
        assert run is not None
        assert run.details_url
        assert run.details_url in output
    assert f"/repos/{REPO}/issues/" in output


@pytest.mark.slow
def test_everything_it_started_is_stopped_and_removed(played: Played) -> None:
    assert played.outcome.serve_pid is not None
    assert not running(played.outcome.serve_pid)
    assert played.outcome.temporary_paths
    for path in played.outcome.temporary_paths:
        assert not path.exists(), path
    assert played.output.rstrip().endswith("removed the temporary files.")


def test_in_process_the_demo_policy_passes_v1_and_fails_v2() -> None:
    class ManualClock:
        now = 5_000.0

        def __call__(self) -> float:
            return self.now

        def sleep(self, seconds: float) -> None:
            self.now += seconds

    lines: list[str] = []
    clock = ManualClock()
    outcome = run_verify_only(lines.append, clock=clock, sleep=clock.sleep)
    text = "\n".join(lines)
    assert outcome.completed
    assert outcome.healthy.kind is VerdictKind.PASS
    assert outcome.broken.kind is VerdictKind.FAIL
    assert "Verdict: PASS after 4 of 4 watch rounds" in text
    assert "Smoke check home page failed" in text
