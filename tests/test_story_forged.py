"""A deployment whose payload claims to be the guard's rollback is judged like any other.

Anyone who can create a deployment can write `payload.deploy_guard`. Only the guard's records
make a deployment its rollback (the remedy row bound to the deployment it created or
adopted), so a forged claim neither spares a bad deployment its rollback nor turns its
failure into an escalation of somebody else's incident.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from guard.outcomes import VerdictKind
from guard.store import Deployment, RemedyState
from tests.jobs_world import wait_for
from tests.story_world import ENVIRONMENT, GOOD_TAG, REPO, Story, settled, story_world, workers


def forged_deployment(story: Story, ref: str, remedy_of: int) -> int:
    """A deployment the pipeline creates with the guard's payload key, claiming a rollback."""
    pipeline = story.pipeline()
    try:
        claim = {"deploy_guard": {"remedy_of": remedy_of, "strategy": "redeploy"}}
        return pipeline.create_deployment(REPO, ref, ENVIRONMENT, payload=claim).id
    finally:
        pipeline.close()


def test_a_forged_rollback_claim_is_rolled_back_and_filed_like_any_failure(
    tmp_path: Path,
) -> None:
    with story_world(tmp_path) as story, workers(story):
        good = story.deploy_good()
        story.break_main()
        forged = forged_deployment(story, "main", remedy_of=good)
        story.ship(forged, "v2")
        row = settled(story, forged)

        assert row.verdict is VerdictKind.FAIL
        assert row.decision is not None
        # Judged as an ordinary deployment: P1 and a rollback, not a rollback's escalation.
        assert (row.decision["action"], row.decision["severity"]) == ("rollback", "P1")
        with story.session() as session:
            recorded = session.scalars(
                sa.select(Deployment).where(Deployment.github_id == forged)
            ).one()
        assert (recorded.is_remedy, recorded.remedied_deployment_id) == (False, None)
        (remedy,) = story.remedies()
        assert remedy.state is RemedyState.DONE
        made = [d for d in story.rollbacks() if d.id != forged]
        (rollback,) = made
        assert (remedy.created_deployment_id, rollback.ref) == (rollback.id, GOOD_TAG)
        (issue,) = story.issues()
        assert "severity:P1" in issue.labels
        assert f"deployment={forged} -->" in (issue.body or "")
        (incident,) = story.incidents()
        assert incident.severity.value == "P1"

        # The guard's own rollback, by contrast, is known from its records: it passes and
        # tells the incident.
        story.ship(rollback.id, "v1")
        wait_for("the rollback's verdict", lambda: story.finished(rollback.id))
        with story.session() as session:
            ours = session.scalars(
                sa.select(Deployment).where(Deployment.github_id == rollback.id)
            ).one()
        assert ours.is_remedy
