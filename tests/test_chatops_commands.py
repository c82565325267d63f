"""`/guard` commands against the GitHub sandbox: who may act, what each does, what it answers."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from guard.chatops.replies import REPLY_MARKER
from guard.chatops.run import CommandRequest, run_command
from guard.gate.answer import GateRequest, answer_gate
from guard.gate.background import Outcome, RunResult
from guard.outcomes import VerdictKind
from guard.store import Freeze, KnownBadSha, Remedy, Verification, VerificationState
from tests.gate_world import REPO, REPO_URL, GateWorld, gate_world

COMMENT_URL = f"{REPO_URL}/issues/1#issuecomment-77"
# Each command() is a new comment, with an id of its own.
_comment_ids = itertools.count(1001)
_REPLY_TO = re.compile(r"\n\n<!-- deploy-guard:reply-to \d+ -->\n")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GateWorld]:
    with gate_world(tmp_path) as running:
        yield running


def command(world: GateWorld, body: str, *, login: str = "mona", issue: int = 1) -> RunResult:
    request = CommandRequest(
        repository=REPO,
        issue_number=issue,
        comment_id=next(_comment_ids),
        comment_url=COMMENT_URL,
        body=body,
        login=login,
        installation_id=world.installation_id,
    )
    return run_command(world.means(), request.work())


def replies_on(world: GateWorld, issue: int) -> list[str]:
    bodies = world.comments(issue)
    assert all(body.endswith(REPLY_MARKER) for body in bodies)
    assert all(len(_REPLY_TO.findall(body)) == 1 for body in bodies)
    return [_REPLY_TO.sub("", body.removesuffix(REPLY_MARKER)).strip() for body in bodies]


def freezes(world: GateWorld) -> list[tuple[str | None, str, datetime | None, datetime | None]]:
    with world.session() as session:
        rows = session.scalars(sa.select(Freeze).order_by(Freeze.id)).all()
        return [(r.environment, r.frozen_by, r.until, r.lifted_at) for r in rows]


def gate(world: GateWorld, run_id: int) -> str:
    request = GateRequest(
        repository=REPO,
        repository_url=REPO_URL,
        environment="production",
        run_id=run_id,
        sha=world.head,
        installation_id=world.installation_id,
    )
    answer_gate(world.means(), request.work())
    [review] = [r for r in world.sandbox.reviews() if r["run_id"] == run_id]
    state: str = review["state"]
    return state


@pytest.mark.parametrize("level", ["write", "maintain", "admin"])
def test_people_who_can_push_may_freeze(world: GateWorld, level: str) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", level)

    assert command(world, "/guard freeze production for 2h", issue=issue) is Outcome.DONE

    until = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert freezes(world) == [("production", "mona", until, None)]
    assert replies_on(world, issue) == [
        "@mona froze production until Fri 27 Nov 2026 12:00 UTC: the gate rejects new "
        "deployments there until then. `/guard unfreeze production` lifts it."
    ]


@pytest.mark.parametrize(
    ("login", "level", "shown"), [("tom", "read", "read"), ("tia", "triage", "triage")]
)
def test_people_who_cannot_push_are_refused_politely(
    world: GateWorld, login: str, level: str, shown: str
) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, login, level)

    command(world, "/guard freeze production", login=login, issue=issue)

    assert freezes(world) == []
    assert replies_on(world, issue) == [
        f"Sorry @{login}, only people with write, maintain or admin permission on {REPO} can "
        f"use `/guard` commands; your permission there is {shown}. Ask a maintainer to run it "
        "for you."
    ]


def test_an_account_github_does_not_know_is_refused(world: GateWorld) -> None:
    issue = world.new_issue()

    command(world, "/guard unfreeze production", login="ghost-of-nobody", issue=issue)

    assert "your permission there is none" in replies_on(world, issue)[0]


def test_the_permission_is_asked_of_github(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")

    command(world, "/guard freeze staging", issue=issue)

    asked = world.sandbox.calls.matching("GET", f"/repos/{REPO}/collaborators/mona/permission")
    assert len(asked) == 1


def test_a_freeze_holds_the_gate_until_unfrozen(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")

    command(world, "/guard freeze production", issue=issue)
    assert gate(world, 1) == "rejected"
    comment = world.sandbox.reviews()[0]["comment"]
    assert comment.endswith(f"{COMMENT_URL}.")

    command(world, "/guard unfreeze production", issue=issue)
    assert gate(world, 2) == "approved"
    assert replies_on(world, issue)[-1] == (
        "@mona lifted 1 freeze(s) on production: deployments there may go ahead."
    )


def test_a_timed_freeze_ends_by_itself(world: GateWorld) -> None:
    world.sandbox.set_permission(REPO, "mona", "write")
    command(world, "/guard freeze production for 30m", issue=world.new_issue())

    world.clock.advance(30 * 60)

    assert gate(world, 1) == "approved"


def test_a_freeze_of_every_environment_and_what_unfreezing_one_says(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")

    command(world, "/guard freeze *", issue=issue)
    command(world, "/guard unfreeze production", issue=issue)

    assert gate(world, 1) == "rejected"
    assert replies_on(world, issue)[-1] == (
        "production is not frozen by a `/guard freeze`; nothing to lift. production is still "
        "held by a freeze on every environment (set by @mona); `/guard unfreeze *` lifts that one."
    )
    command(world, "/guard unfreeze *", issue=issue)
    assert gate(world, 2) == "approved"


def test_a_known_bad_commit_is_rejected_then_allowed_with_guard_allow(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")
    failed = world.record_deployment(500)
    world.mark_known_bad(world.head, failed)
    assert gate(world, 1) == "rejected"

    command(world, f"/guard allow {world.head[:10]}", issue=issue)

    assert gate(world, 2) == "approved"
    assert replies_on(world, issue) == [
        f"@mona allowed commit {world.head[:12]}: the gate no longer rejects deployments of it "
        "(it failed verification on production: smoke check home page failed)."
    ]
    with world.session() as session:
        row = session.scalars(sa.select(KnownBadSha)).one()
        assert (row.allowed_by, row.allowed_at) == ("mona", world.now())


def test_allowing_twice_or_an_unknown_commit_says_so(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")
    world.mark_known_bad("ab" * 20)

    command(world, "/guard allow abababa", issue=issue)
    command(world, "/guard allow abababa", issue=issue)
    command(world, "/guard allow 1234567", issue=issue)

    said = replies_on(world, issue)
    assert said[1] == (
        "Commit abababababab was allowed already, by @mona on Fri 27 Nov 2026 10:00 UTC; "
        "nothing changed."
    )
    assert said[2] == f"Commit 1234567 is not on the known-bad list of {REPO}; nothing to allow."


def test_an_ambiguous_sha_prefix_is_not_guessed(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")
    world.mark_known_bad("abcdef1" + "0" * 33)
    world.mark_known_bad("abcdef1" + "1" * 33)

    command(world, "/guard allow abcdef1", issue=issue)

    assert replies_on(world, issue)[0].startswith("`abcdef1` matches 2 known-bad commits")


def test_retry_on_the_incident_starts_the_next_attempt(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")
    failed = world.record_deployment(500)
    world.finished_verification(failed)
    world.open_incident(failed, issue_number=issue)

    command(world, "/guard retry", issue=issue)

    assert world.queue.verifications == [500]
    with world.session() as session:
        attempts = session.execute(
            sa.select(Verification.attempt, Verification.state).order_by(Verification.attempt)
        ).all()
    assert [(a, s) for a, s in attempts] == [
        (1, VerificationState.FINISHED),
        (2, VerificationState.QUEUED),
    ]
    assert replies_on(world, issue) == [
        f"@mona started verification attempt 2 of deployment 500 ({world.head[:7]}) to production."
    ]

    command(world, "/guard retry", issue=issue)
    assert world.queue.verifications == [500]
    assert replies_on(world, issue)[-1].startswith("Verification attempt 2 of deployment 500")


def test_retry_elsewhere_names_the_environment(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")

    command(world, "/guard retry", issue=issue)
    command(world, "/guard retry staging", issue=issue)
    world.record_deployment(600, environment="staging")
    command(world, "/guard retry staging", issue=issue)

    said = replies_on(world, issue)
    assert said[0].startswith("`/guard retry` works on an incident issue")
    assert said[1] == f"deploy-guard has seen no deployment of {REPO} to staging yet."
    assert said[2].startswith("@mona started verification attempt 1 of deployment 600")
    assert world.queue.verifications == [600]


def test_rollback_on_the_incident_redeploys_the_last_good_commit(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")
    good_sha = world.head
    bad_sha = world.sandbox.commit(REPO, {"app/version.txt": "2\n"}, "Break the shop")
    owner = world.owner_client()
    try:
        good = owner.create_deployment(REPO, good_sha, "production").id
        bad = owner.create_deployment(REPO, bad_sha, "production").id
    finally:
        owner.close()
    world.finished_verification(world.record_deployment(good, sha=good_sha), VerdictKind.PASS)
    failed = world.record_deployment(bad, sha=bad_sha)
    world.open_incident(failed, issue_number=issue)

    command(world, "/guard rollback", issue=issue)

    rollback = world.sandbox.snapshot()["deployments"][-1]
    assert (rollback["sha"], rollback["environment"]) == (good_sha, "production")
    assert "deploy_guard" in rollback["payload"]
    [said] = replies_on(world, issue)
    assert said == (
        f"@mona asked for a rollback of deployment {bad} to production (redeploy): Remedy "
        f"done: created deployment {rollback['id']} of main ({good_sha[:7]}) to production."
    )
    with world.session() as session:
        remedy = session.scalars(sa.select(Remedy)).one()
        assert (remedy.deployment_id, remedy.created_deployment_id) == (failed, rollback["id"])
    # The gate lets the guard's own rollback through, though the incident is still open.
    request = GateRequest(
        repository=REPO,
        repository_url=REPO_URL,
        environment="production",
        run_id=77,
        sha=good_sha,
        deployment_id=rollback["id"],
        installation_id=world.installation_id,
    )
    answer_gate(world.means(), request.work())
    assert [r["state"] for r in world.sandbox.reviews()] == ["approved"]


def test_a_rollback_without_a_good_commit_says_why_nothing_was_done(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")
    bad_sha = world.sandbox.commit(REPO, {"app/version.txt": "2\n"}, "Break the shop")
    owner = world.owner_client()
    try:
        bad = owner.create_deployment(REPO, bad_sha, "production").id
    finally:
        owner.close()
    world.record_deployment(bad, sha=bad_sha)

    command(world, "/guard rollback production", issue=issue)

    # No verified-good commit to go back to: the runner refuses, and the reply says so.
    [said] = replies_on(world, issue)
    assert said.startswith(f"@mona asked for a rollback of deployment {bad} to production")
    assert "There is no verified-good deployment of production to roll back to" in said
    assert len(world.sandbox.snapshot()["deployments"]) == 1


def test_help_and_mistakes_are_answered_without_a_permission_check(world: GateWorld) -> None:
    issue = world.new_issue()

    command(world, "/guard", issue=issue, login="tom")
    command(world, "/guard allow main", issue=issue, login="tom")

    said = replies_on(world, issue)
    assert said[0].startswith("deploy-guard understands `/guard rollback [ENV]`")
    assert said[1] == (
        "@tom, I could not read that command: `main` is not a commit SHA "
        "(7 to 64 hexadecimal characters)."
    )
    assert world.sandbox.calls.matching("GET", "*/permission") == []


def test_a_permission_check_github_cannot_answer_is_retried_later(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.add_fault("server_error", "*/permission", method="GET", times=None)
    request = CommandRequest(
        REPO, issue, 77, COMMENT_URL, "/guard freeze production", "mona", world.installation_id
    )

    first = run_command(world.means(), request.work(), final_round=False)
    world.sandbox.clear_faults()

    assert first is Outcome.RETRY
    assert freezes(world) == []
    assert world.comments(issue) == []
