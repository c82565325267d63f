"""Redeploy the last verified-good ref, and the guards that say no: over HTTP to the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from guard.github.models import DeploymentRef
from guard.outcomes import VerdictKind
from guard.remedies import FailedDeployment, OutcomeKind, execute_remedy
from guard.sandbox import FaultKind
from guard.store import Remedy, RemedyState, claim_remedy
from tests.remedies_world import (
    ENVIRONMENT,
    REASON,
    REPO,
    RUN_URL,
    RemedyWorld,
    an_hour_ago,
    remedy_world,
)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[RemedyWorld]:
    with remedy_world(f"sqlite:///{tmp_path / 'guard.db'}", tmp_path / "clones") as world:
        yield world


def story(shop: RemedyWorld) -> tuple[DeploymentRef, DeploymentRef]:
    """v1.3.2 deployed and verified good; then main (the bad commit) deployed and failed."""
    good = shop.deploy("v1.3.2")
    shop.record(good, VerdictKind.PASS)
    bad = shop.deploy("main")
    shop.record(bad, VerdictKind.FAIL)
    return good, bad


def test_the_last_verified_good_tag_is_deployed_again_with_our_payload(shop: RemedyWorld) -> None:
    good, bad = story(shop)
    # A red context on the good commit: GitHub's default required_contexts would refuse (409).
    red = requests.post(
        f"{shop.sandbox.base_url}/repos/{REPO}/statuses/{shop.good_sha}",
        headers={"Authorization": f"token {shop.owner_token}"},
        json={"state": "failure", "context": "ci/flaky"},
        timeout=10,
    )
    assert red.status_code == 201

    outcome = execute_remedy(shop.context(), shop.request(bad))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    rollback = shop.deployments()[-1]
    assert len(shop.deployments()) == 3
    assert (rollback.ref, rollback.sha, rollback.environment) == (
        "v1.3.2",
        shop.good_sha,
        ENVIRONMENT,
    )
    assert rollback.creator == "deploy-guard[bot]"
    assert rollback.payload["deploy_guard"] == {
        "remedy_of": bad.id,
        "failed_sha": shop.bad_sha,
        "strategy": "redeploy",
        "reason": REASON.rstrip("."),
        "target_sha": shop.good_sha,
        "idempotency_key": f"deploy-guard:rollback:{REPO}:{bad.id}",
    }
    assert outcome.created_deployment_id == rollback.id
    assert outcome.message == (
        f"Remedy done: created deployment {rollback.id} of v1.3.2 ({shop.good_sha[:7]}) "
        f"to {ENVIRONMENT}."
    )
    states = [(s.state, s.log_url) for s in shop.statuses(bad.id)]
    assert states == [("success", ""), ("failure", RUN_URL), ("inactive", "")]
    failure = shop.statuses(bad.id)[1]
    assert len(failure.description) <= 140
    assert failure.description.startswith("deploy-guard: verification failed (Smoke check")
    assert failure.description.endswith(f"rolled back to v1.3.2 ({shop.good_sha[:7]})")
    assert shop.statuses(good.id)[-1].state == "success"


def test_the_store_knows_the_rollback_and_the_timeline_tells_it(shop: RemedyWorld) -> None:
    _, bad = story(shop)
    outcome = execute_remedy(shop.context(), shop.request(bad))
    failed_row = shop.row(bad.id)
    rollback_row = shop.row(outcome.created_deployment_id or 0)
    assert failed_row is not None
    assert rollback_row is not None
    assert rollback_row.is_remedy
    assert rollback_row.remedied_deployment_id == failed_row.id
    (remedy,) = shop.remedies()
    assert (remedy.state, remedy.strategy, remedy.deployment_id) == (
        RemedyState.DONE,
        "redeploy",
        failed_row.id,
    )
    assert (remedy.target_sha, remedy.target_ref) == (shop.good_sha, "v1.3.2")
    assert remedy.created_deployment_id == outcome.created_deployment_id
    assert remedy.finished_at is not None
    kinds = [kind for kind, _ in shop.timeline(bad.id)]
    assert kinds == ["remedy_claimed", "remedy_started", "remedy_done"]


def test_a_branch_that_moved_is_deployed_by_its_good_sha(shop: RemedyWorld) -> None:
    shop.sandbox.commit(REPO, {}, "Branch point", branch="release", start_from=shop.good_sha)
    release_good = shop.sandbox.branch_sha(REPO, "release")
    assert release_good is not None
    good = shop.deploy("release")
    shop.record(good, VerdictKind.PASS)
    shop.sandbox.commit(REPO, {"app/version.txt": "2.0.0\n"}, "Release 2", branch="release")
    bad = shop.deploy("release")

    outcome = execute_remedy(shop.context(), shop.request(bad))

    assert outcome.kind is OutcomeKind.DONE
    rollback = shop.deployments()[-1]
    assert (rollback.ref, rollback.sha) == (release_good, release_good)
    assert outcome.target is not None
    assert outcome.target.label == f"release ({release_good[:7]})"


def test_without_our_records_githubs_last_real_success_is_used(shop: RemedyWorld) -> None:
    # Superseded: the success still counts under the inactive on top of it.
    shop.deploy("v1.3.2", "success", "inactive")
    banner = shop.sandbox.commit(
        REPO, {"app/banner.txt": "sale\n"}, "Banner", branch="banner", start_from=shop.good_sha
    )
    # Reached success, then failed (by an earlier guard): not good.
    shop.deploy(banner, "success", "failure")
    bad = shop.deploy("main")

    outcome = execute_remedy(shop.context(), shop.request(bad))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert outcome.target is not None
    assert (outcome.target.source, outcome.target.sha) == ("github", shop.good_sha)
    assert shop.deployments()[-1].sha == shop.good_sha


def test_no_verified_good_ref_means_no_remedy_and_says_so(shop: RemedyWorld) -> None:
    bad = shop.deploy("main")
    shop.record(bad, VerdictKind.FAIL)
    mark = shop.sandbox.calls.last_seq

    outcome = execute_remedy(shop.context(), shop.request(bad))

    assert outcome.kind is OutcomeKind.REFUSED
    assert "no verified-good deployment of production" in outcome.message
    assert shop.writes(mark) == []
    assert len(shop.deployments()) == 1
    assert shop.remedies() == []
    assert [kind for kind, _ in shop.timeline(bad.id)] == ["remedy_refused"]
    # Asked again, it says so again but notes it once.
    execute_remedy(shop.context(), shop.request(bad))
    assert [kind for kind, _ in shop.timeline(bad.id)] == ["remedy_refused"]


def test_a_superseded_deployment_is_not_rolled_back(shop: RemedyWorld) -> None:
    _, bad = story(shop)
    newer = shop.deploy("v1.3.2")
    mark = shop.sandbox.calls.last_seq

    outcome = execute_remedy(shop.context(), shop.request(bad))

    assert outcome.kind is OutcomeKind.REFUSED
    assert f"superseded by deployment {newer.id}" in outcome.message
    assert shop.writes(mark) == []
    assert len(shop.deployments()) == 3
    assert shop.remedies() == []


def test_a_superseded_mark_in_our_records_is_respected(shop: RemedyWorld) -> None:
    _, bad = story(shop)
    # The webhook of a newer deployment marked it; GitHub's list agrees later or never.
    other = shop.deploy("v1.3.2", environment="staging")
    newer_row = shop.record(other, None)
    with shop.sessions.begin() as session:
        failed_row = shop.row(bad.id)
        assert failed_row is not None
        session.get_one(type(failed_row), failed_row.id).superseded_by_id = newer_row

    outcome = execute_remedy(shop.context(), shop.request(bad))

    assert outcome.kind is OutcomeKind.REFUSED
    assert "superseded" in outcome.message
    assert len(shop.deployments()) == 3


def test_a_rollback_that_fails_is_never_rolled_back_again(shop: RemedyWorld) -> None:
    _, bad = story(shop)
    first = execute_remedy(shop.context(), shop.request(bad))
    rollback = shop.listed(first.created_deployment_id or 0)
    rollback_row = shop.row(rollback.id)
    assert rollback_row is not None
    mark = shop.sandbox.calls.last_seq

    from_github = execute_remedy(shop.context(), shop.request(rollback))
    from_row = execute_remedy(
        shop.context(),
        replace(shop.request(rollback), failed=FailedDeployment.from_row(rollback_row)),
    )

    for outcome in (from_github, from_row):
        assert outcome.kind is OutcomeKind.REFUSED
        assert outcome.escalate
        assert "a person must act now" in outcome.message
    assert shop.writes(mark) == []
    assert len(shop.deployments()) == 3


def test_a_dry_run_describes_and_changes_nothing(shop: RemedyWorld) -> None:
    _, bad = story(shop)
    mark = shop.sandbox.calls.last_seq

    outcome = execute_remedy(shop.context(), shop.request(bad, dry_run=True))

    assert outcome.kind is OutcomeKind.DESCRIBED
    assert outcome.message == (
        f"Dry run: the guard would redeploy v1.3.2 ({shop.good_sha[:7]}) to production. "
        "It changed nothing."
    )
    assert shop.writes(mark) == []
    assert shop.remedies() == []
    assert shop.timeline(bad.id) == []
    # Nothing was claimed, so the real remedy can follow.
    assert execute_remedy(shop.context(), shop.request(bad)).kind is OutcomeKind.DONE


def test_shadow_mode_says_what_it_would_have_done_once(shop: RemedyWorld) -> None:
    _, bad = story(shop)
    mark = shop.sandbox.calls.last_seq

    outcome = execute_remedy(shop.context(), shop.request(bad, shadow=True))
    again = execute_remedy(shop.context(), shop.request(bad, shadow=True))

    assert outcome.kind is OutcomeKind.DESCRIBED
    assert outcome.message.startswith(
        f"Shadow mode: the guard would have rolled back to v1.3.2 ({shop.good_sha[:7]}): "
    )
    assert (again.kind, again.state) == (OutcomeKind.TAKEN, "skipped")
    assert shop.writes(mark) == []
    (remedy,) = shop.remedies()
    assert (remedy.state, remedy.dry_run) == (RemedyState.SKIPPED, True)
    assert [kind for kind, _ in shop.timeline(bad.id)] == ["remedy_described"]


def test_asking_again_finds_the_remedy_done(shop: RemedyWorld) -> None:
    _, bad = story(shop)
    first = execute_remedy(shop.context(), shop.request(bad))
    mark = shop.sandbox.calls.last_seq

    again = execute_remedy(shop.context(), shop.request(bad))

    assert (again.kind, again.state, again.succeeded) == (OutcomeKind.TAKEN, "done", True)
    assert again.created_deployment_id == first.created_deployment_id
    assert shop.writes(mark) == []
    assert len(shop.deployments()) == 3
    assert [s.state for s in shop.statuses(bad.id)] == ["success", "failure", "inactive"]


def test_a_remedy_shadow_mode_described_can_still_be_done_for_real(shop: RemedyWorld) -> None:
    _, bad = story(shop)
    execute_remedy(shop.context(), shop.request(bad, shadow=True))

    real = execute_remedy(shop.context(), shop.request(bad, manual=True))

    assert real.kind is OutcomeKind.DONE, real.message
    (remedy,) = shop.remedies()
    assert (remedy.state, remedy.dry_run) == (RemedyState.DONE, False)
    assert len(shop.deployments()) == 3
    kinds = [kind for kind, _ in shop.timeline(bad.id)]
    assert kinds == ["remedy_described", "remedy_claimed", "remedy_started", "remedy_done"]


def test_an_abandoned_remedy_elsewhere_does_not_hold_the_environment(
    shop: RemedyWorld,
) -> None:
    good, bad = story(shop)
    # An older failed deployment whose remedy was claimed long ago and never finished.
    with shop.sessions.begin() as session:
        older = shop.row(good.id)
        assert older is not None
        claimed = claim_remedy(session, older.id, "redeploy")
        assert claimed is not None
        session.flush()
        session.get_one(Remedy, claimed.id).updated_at = an_hour_ago()

    fresh = execute_remedy(shop.context(resume_after=timedelta(hours=2)), shop.request(bad))
    stale = execute_remedy(shop.context(), shop.request(bad))

    assert fresh.kind is OutcomeKind.REFUSED
    assert f"Deployment {good.id} to production is being rolled back right now" in fresh.message
    assert stale.kind is OutcomeKind.DONE, stale.message


def test_a_status_github_will_not_take_does_not_undo_the_rollback(shop: RemedyWorld) -> None:
    _, bad = story(shop)
    statuses = f"/repos/{REPO}/deployments/{bad.id}/statuses"
    shop.sandbox.add_fault(FaultKind.SERVER_ERROR, path=statuses, method="POST", times=None)

    outcome = execute_remedy(shop.context(), shop.request(bad))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert len(shop.deployments()) == 3
    assert [s.state for s in shop.statuses(bad.id)] == ["success"]
    kinds = [kind for kind, _ in shop.timeline(bad.id)]
    assert kinds == ["remedy_claimed", "remedy_started", "remedy_status_not_posted", "remedy_done"]


def test_the_workers_first_attempt_creates_without_looking_and_leaves_the_statuses(
    shop: RemedyWorld,
) -> None:
    """With durable records (the worker's database) a fresh claim means nothing was made
    before: no look for the idempotency key; and the statuses are the caller's to post."""
    _, bad = story(shop)
    mark = shop.sandbox.calls.last_seq
    outcome = execute_remedy(
        shop.context(durable_records=True, statuses_later=True), shop.request(bad)
    )
    assert outcome.kind is OutcomeKind.DONE, outcome.message
    made = [
        f"{call.method} {call.path.removeprefix(f'/repos/{REPO}')}"
        for call in shop.sandbox.calls.all(since=mark)
        # The installation token is minted on the client's first call.
        if not call.path.startswith("/app/")
    ]
    # The plan's one read of the deployments (for a newer one), the tag's commit, the rollback.
    assert made == ["GET /deployments", "GET /commits/v1.3.2", "POST /deployments"]
    assert [s.state for s in shop.statuses(bad.id)] == ["success"]
    assert outcome.status is not None
    assert outcome.status.inactive
    assert outcome.status.log_url == RUN_URL
    assert outcome.status.description.startswith("deploy-guard: verification failed (")
    assert outcome.status.description.endswith(f"rolled back to v1.3.2 ({shop.good_sha[:7]})")


def test_a_deployment_forging_our_key_is_not_taken_for_our_rollback(shop: RemedyWorld) -> None:
    """The key is predictable: a deployment carrying it that the guard did not create (GitHub's
    `creator` says who did) is left alone, and the guard makes its own rollback."""
    _, bad = story(shop)
    key = f"deploy-guard:rollback:{REPO}:{bad.id}"
    claim = {"deploy_guard": {"remedy_of": bad.id, "idempotency_key": key}}
    # Of another task: a newer deployment of the same task would supersede the failed one.
    created = requests.post(
        f"{shop.sandbox.base_url}/repos/{REPO}/deployments",
        headers={"Authorization": f"token {shop.owner_token}"},
        json={
            "ref": "main",
            "environment": ENVIRONMENT,
            "task": "deploy:forged",
            "payload": claim,
            "auto_merge": False,
            "required_contexts": [],
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    forged = shop.listed(created.json()["id"])

    outcome = execute_remedy(shop.context(), shop.request(bad))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert outcome.created_deployment_id not in (None, forged.id)
    made = shop.listed(outcome.created_deployment_id or 0)
    assert (made.ref, made.creator_login, made.idempotency_key) == (
        "v1.3.2",
        "deploy-guard[bot]",
        key,
    )
    assert len(shop.deployments()) == 4
    row = shop.row(forged.id)
    assert row is None or not row.is_remedy


def test_a_newer_deployment_claiming_to_be_our_rollback_still_supersedes(
    shop: RemedyWorld,
) -> None:
    """`remedy_of` in a payload is anyone's to write: only GitHub's creator makes a newer
    deployment this remedy's own, so the pipeline's claim is a newer deployment like any."""
    _, bad = story(shop)
    claim = {"deploy_guard": {"remedy_of": bad.id, "strategy": "redeploy"}}
    forged = shop.deploy("v1.3.2", payload=claim)
    mark = shop.sandbox.calls.last_seq

    outcome = execute_remedy(shop.context(), shop.request(bad))

    assert outcome.kind is OutcomeKind.REFUSED, outcome.message
    assert f"superseded by deployment {forged.id}" in outcome.message
    assert shop.writes(mark) == []


def test_a_failed_deployment_claiming_to_be_a_rollback_is_rolled_back(shop: RemedyWorld) -> None:
    """A payload saying "rollback" does not spare a deployment the guard did not make."""
    good = shop.deploy("v1.3.2")
    shop.record(good, VerdictKind.PASS)
    claim = {"deploy_guard": {"remedy_of": good.id, "strategy": "redeploy"}}
    bad = shop.deploy("main", payload=claim)
    shop.record(bad, VerdictKind.FAIL)

    request = shop.request(bad)
    outcome = execute_remedy(shop.context(), request)

    assert not request.failed.is_remedy
    assert outcome.kind is OutcomeKind.DONE, outcome.message
    assert shop.listed(outcome.created_deployment_id or 0).creator_login == "deploy-guard[bot]"
