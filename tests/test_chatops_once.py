"""Each `/guard` comment acts once and is answered once: redelivered, retried after a fault
between doing and answering, or run by two workers at the same moment."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from huey import MemoryHuey
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from guard.chatops.actions import freeze
from guard.chatops.once import claim_command, reply_mark
from guard.chatops.run import ANSWER_KEY, LATE_CHECK_AFTER_S, CommandRequest, run_command
from guard.gate.background import (
    LATE_CHECK_KEY,
    Means,
    Outcome,
    Resume,
    RunResult,
    followup_task,
)
from guard.outcomes import VerdictKind
from guard.store import Freeze, Remedy, Verification, make_engine, make_session_factory, upgrade
from tests.gate_world import REPO, REPO_URL, GateWorld, gate_world

COMMENT_ID = 4242
COMMENTS = f"/repos/{REPO}/issues/*/comments"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GateWorld]:
    with gate_world(tmp_path) as running:
        running.sandbox.set_permission(REPO, "mona", "write")
        yield running


def work(world: GateWorld, issue: int, body: str) -> dict[str, Any]:
    request = CommandRequest(
        repository=REPO,
        issue_number=issue,
        comment_id=COMMENT_ID,
        comment_url=f"{REPO_URL}/issues/{issue}#issuecomment-{COMMENT_ID}",
        body=body,
        login="mona",
        installation_id=world.installation_id,
    )
    return request.work()


def freezes(sessions: sessionmaker[Session]) -> list[tuple[str | None, str]]:
    with sessions.begin() as session:
        rows = session.scalars(sa.select(Freeze).order_by(Freeze.id)).all()
        return [(row.environment, row.frozen_by) for row in rows]


def replies(world: GateWorld, issue: int) -> list[str]:
    return [body for body in world.comments(issue) if reply_mark(COMMENT_ID) in body]


def test_a_redelivered_comment_acts_and_answers_once(world: GateWorld) -> None:
    issue = world.new_issue()
    job = work(world, issue, "/guard freeze production for 2h")

    first = run_command(world.means(), job)
    second = run_command(world.means(), job)

    assert (first, second) == (Outcome.DONE, Outcome.DONE)
    assert freezes(world.sessions) == [("production", "mona")]
    [answer] = replies(world, issue)
    assert answer.startswith("@mona froze production until Fri 27 Nov 2026 12:00 UTC")
    # The second run asked nobody anything it would act on: it found the claim.
    assert len(world.sandbox.calls.matching("POST", COMMENTS)) == 1


def test_help_and_refusals_are_answered_once_too(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "tom", "read")
    refused = {**work(world, issue, "/guard unfreeze production"), "login": "tom"}

    for _ in range(2):
        run_command(world.means(), refused)

    [answer] = replies(world, issue)
    assert answer.startswith("Sorry @tom, only people with write")


def test_a_fault_between_doing_and_answering_is_answered_by_the_next_round(
    world: GateWorld,
) -> None:
    issue = world.new_issue()
    world.sandbox.add_fault("server_error", COMMENTS, method="POST", times=None)

    first = run_command(
        world.means(), work(world, issue, "/guard unfreeze production"), final_round=False
    )

    # Done, not answered: the next round carries the answer, and acts no more.
    assert isinstance(first, Resume)
    assert (
        first.work[ANSWER_KEY] == "production is not frozen by a `/guard freeze`; nothing to lift."
    )
    assert replies(world, issue) == []
    world.sandbox.clear_faults()
    with world.session() as session:
        session.add(Freeze(repository=REPO, environment="production", frozen_by="tia"))

    second = run_command(world.means(), first.work, final_round=False)

    assert second is Outcome.DONE
    [answer] = replies(world, issue)
    assert answer.startswith("production is not frozen by a `/guard freeze`; nothing to lift.")
    # The freeze set after the first round is still there: the command did not run again.
    assert freezes(world.sessions) == [("production", "tia")]


def test_a_reply_github_took_despite_the_error_is_not_posted_again(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.add_fault("server_error", COMMENTS, method="POST", times=None)
    first = run_command(
        world.means(), work(world, issue, "/guard freeze staging"), final_round=False
    )
    assert isinstance(first, Resume)
    world.sandbox.clear_faults()

    # The next round answers; a round after it (its own answer lost) finds the reply.
    assert run_command(world.means(), first.work) is Outcome.DONE
    assert run_command(world.means(), first.work) is Outcome.DONE

    assert len(replies(world, issue)) == 1
    assert freezes(world.sessions) == [("staging", "mona")]


def test_the_last_round_gives_up_loudly_without_acting_again(world: GateWorld) -> None:
    issue = world.new_issue()
    world.sandbox.add_fault("server_error", COMMENTS, method="POST", times=None)

    first = run_command(
        world.means(), work(world, issue, "/guard freeze staging"), final_round=False
    )
    assert isinstance(first, Resume)
    last = run_command(world.means(), first.work, final_round=True)
    world.sandbox.clear_faults()

    assert last is Outcome.GAVE_UP
    assert freezes(world.sessions) == [("staging", "mona")]


def test_the_durable_job_is_retried_after_the_fault_and_answers(world: GateWorld) -> None:
    huey = MemoryHuey("followups", immediate=True, results=False)
    enqueue = followup_task(huey, world.means)
    issue = world.new_issue()
    # The first round's reply fails (a create is not sent twice blindly); the freeze is
    # done by then.
    world.sandbox.add_fault("server_error", COMMENTS, method="POST", times=1)

    enqueue(work(world, issue, "/guard freeze production"))

    assert freezes(world.sessions) == [("production", "mona")]
    assert replies(world, issue) == []
    # Two runs wait in huey's schedule: the next round, and the late check.
    retry, late = sorted(huey.scheduled(), key=lambda task: bool(task.args[0].get(LATE_CHECK_KEY)))
    assert (retry.args[1], late.args[1]) == (2, 1)
    assert retry.args[0][ANSWER_KEY].startswith("@mona froze production")
    # The late check comes after every retry round (1 then 5 minutes apart) has had its time.
    assert late.eta - retry.eta > timedelta(minutes=15)

    # Their times come (read from huey's schedule as the consumer would), and they run.
    [due] = huey.read_schedule(retry.eta)
    huey.execute(due, timestamp=retry.eta)
    assert len(replies(world, issue)) == 1
    world.clock.now += LATE_CHECK_AFTER_S
    [due] = huey.read_schedule(late.eta)
    huey.execute(due, timestamp=late.eta)

    # The late check found the comment answered: one reply, one freeze.
    assert len(replies(world, issue)) == 1
    assert freezes(world.sessions) == [("production", "mona")]
    assert huey.scheduled_count() == 0


def late_check(world: GateWorld, issue: int, body: str) -> dict[str, Any]:
    return {**work(world, issue, body), LATE_CHECK_KEY: True}


def killed_after_the_effect(world: GateWorld, issue: int, environment: str) -> None:
    """What a worker killed between its commit and its reply leaves: the claim and the
    freeze, committed together, and no reply."""
    with world.session() as session:
        assert claim_command(session, REPO, issue, COMMENT_ID, world.now(), runs=True)
        freeze(
            session,
            REPO,
            environment,
            duration=None,
            login="mona",
            now=world.now(),
            comment_url=f"{REPO_URL}/issues/{issue}#issuecomment-{COMMENT_ID}",
        )


def test_the_late_check_answers_a_comment_whose_worker_was_killed(world: GateWorld) -> None:
    issue = world.new_issue()
    killed_after_the_effect(world, issue, "production")
    world.clock.now += LATE_CHECK_AFTER_S

    first = run_command(world.means(), late_check(world, issue, "/guard freeze production"))
    again = run_command(world.means(), late_check(world, issue, "/guard freeze production"))

    assert (first, again) == (Outcome.DONE, Outcome.DONE)
    [answer] = replies(world, issue)
    assert answer.startswith(
        "@mona, deploy-guard ran your `/guard freeze production` "
        f"({REPO_URL}/issues/{issue}#issuecomment-{COMMENT_ID}) but stopped before it could reply"
    )
    assert freezes(world.sessions) == [("production", "mona")]


def test_the_late_check_runs_a_command_nobody_claimed(world: GateWorld) -> None:
    issue = world.new_issue()
    world.clock.now += LATE_CHECK_AFTER_S

    # The first run died before its effect committed (or has not run yet): the late check
    # runs the command, and the first run, if it comes, finds it claimed.
    late = run_command(world.means(), late_check(world, issue, "/guard freeze staging"))
    first = run_command(world.means(), work(world, issue, "/guard freeze staging"))

    assert (late, first) == (Outcome.DONE, Outcome.DONE)
    assert freezes(world.sessions) == [("staging", "mona")]
    [answer] = replies(world, issue)
    assert answer.startswith("@mona froze staging until someone lifts the freeze")


def test_the_late_check_leaves_a_run_still_at_work_alone(world: GateWorld) -> None:
    issue = world.new_issue()
    killed_after_the_effect(world, issue, "production")
    world.clock.now += 5 * 60

    outcome = run_command(world.means(), late_check(world, issue, "/guard freeze production"))

    assert outcome is Outcome.DONE
    assert replies(world, issue) == []


def test_the_late_check_says_when_a_refusal_was_lost(world: GateWorld) -> None:
    issue = world.new_issue()
    with world.session() as session:
        assert claim_command(session, REPO, issue, COMMENT_ID, world.now(), runs=False)
    world.clock.now += LATE_CHECK_AFTER_S

    run_command(world.means(), late_check(world, issue, "/guard unfreeze production"))

    [answer] = replies(world, issue)
    assert "deploy-guard stopped before answering your `/guard unfreeze production`" in answer
    assert "changed nothing" in answer


def test_a_retried_retry_starts_one_attempt(world: GateWorld) -> None:
    issue = world.new_issue()
    failed = world.record_deployment(500)
    world.finished_verification(failed, VerdictKind.FAIL)
    world.open_incident(failed, issue_number=issue)
    job = work(world, issue, "/guard retry")

    run_command(world.means(), job)
    run_command(world.means(), job)

    with world.session() as session:
        attempts = session.scalars(sa.select(Verification.attempt)).all()
    assert sorted(attempts) == [1, 2]
    assert world.queue.verifications == [500]
    [answer] = replies(world, issue)
    assert answer.startswith("@mona started verification attempt 2 of deployment 500")


def test_a_redelivered_rollback_rolls_back_once(world: GateWorld) -> None:
    issue = world.new_issue()
    good_sha = world.head
    bad_sha = world.sandbox.commit(REPO, {"app/version.txt": "2\n"}, "Break the shop")
    owner = world.owner_client()
    try:
        good = owner.create_deployment(REPO, good_sha, "production").id
        bad = owner.create_deployment(REPO, bad_sha, "production").id
    finally:
        owner.close()
    world.finished_verification(world.record_deployment(good, sha=good_sha), VerdictKind.PASS)
    world.open_incident(world.record_deployment(bad, sha=bad_sha), issue_number=issue)
    job = work(world, issue, "/guard rollback")

    run_command(world.means(), job)
    run_command(world.means(), job)

    deployments = world.sandbox.snapshot()["deployments"]
    assert [d["sha"] for d in deployments] == [good_sha, bad_sha, good_sha]
    with world.session() as session:
        assert len(session.scalars(sa.select(Remedy)).all()) == 1
    [answer] = replies(world, issue)
    assert answer.startswith(f"@mona asked for a rollback of deployment {bad} to production")


def race(means: Means, job: dict[str, Any]) -> list[RunResult]:
    """Two workers run the same command at the same moment; what each run ended with."""
    start = threading.Barrier(2)
    ended: list[RunResult] = []

    def worker() -> None:
        start.wait()
        ended.append(run_command(means, job))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return ended


def test_two_workers_racing_on_sqlite_act_and_answer_once(world: GateWorld) -> None:
    issue = world.new_issue()

    ended = race(world.means(), work(world, issue, "/guard freeze production"))

    assert ended == [Outcome.DONE, Outcome.DONE]
    assert freezes(world.sessions) == [("production", "mona")]
    assert len(replies(world, issue)) == 1


@pytest.mark.postgres
def test_two_workers_racing_on_postgresql_act_and_answer_once(
    world: GateWorld, postgres_url: str
) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        sessions = make_session_factory(engine)
        means = replace(world.means(), sessions=sessions)
        issue = world.new_issue()

        ended = race(means, work(world, issue, "/guard freeze production"))

        assert ended == [Outcome.DONE, Outcome.DONE]
        assert freezes(sessions) == [("production", "mona")]
        assert len(replies(world, issue)) == 1
    finally:
        engine.dispose()


def test_a_job_that_dies_before_its_effect_commits_is_run_again_and_acts_once(
    world: GateWorld,
) -> None:
    issue = world.new_issue()
    engine = world.sessions.kw["bind"]
    failures = [sqlite3.OperationalError("disk I/O error")]

    def fail_once(*args: Any) -> None:
        statement = args[2]
        if failures and statement.startswith("INSERT INTO freezes"):
            raise failures.pop()

    event.listen(engine, "before_cursor_execute", fail_once)
    try:
        first = run_command(
            world.means(), work(world, issue, "/guard freeze production"), final_round=False
        )
    finally:
        event.remove(engine, "before_cursor_execute", fail_once)

    # The claim went with the effect: neither is there, and nobody was answered.
    assert first is Outcome.RETRY
    assert freezes(world.sessions) == []
    assert replies(world, issue) == []

    assert (
        run_command(world.means(), work(world, issue, "/guard freeze production")) is Outcome.DONE
    )
    assert freezes(world.sessions) == [("production", "mona")]
    assert len(replies(world, issue)) == 1


def test_the_late_check_finishes_a_rollback_whose_worker_was_killed(world: GateWorld) -> None:
    issue = world.new_issue()
    good_sha = world.head
    bad_sha = world.sandbox.commit(REPO, {"app/version.txt": "2\n"}, "Break the shop")
    owner = world.owner_client()
    try:
        good = owner.create_deployment(REPO, good_sha, "production").id
        bad = owner.create_deployment(REPO, bad_sha, "production").id
    finally:
        owner.close()
    world.finished_verification(world.record_deployment(good, sha=good_sha), VerdictKind.PASS)
    world.open_incident(world.record_deployment(bad, sha=bad_sha), issue_number=issue)
    # Killed right after claiming the command, before the remedy began.
    with world.session() as session:
        assert claim_command(session, REPO, issue, COMMENT_ID, world.now(), runs=True)
    world.clock.now += LATE_CHECK_AFTER_S

    run_command(world.means(), late_check(world, issue, "/guard rollback"))
    run_command(world.means(), work(world, issue, "/guard rollback"))

    deployments = world.sandbox.snapshot()["deployments"]
    assert [d["sha"] for d in deployments] == [good_sha, bad_sha, good_sha]
    [answer] = replies(world, issue)
    assert answer.startswith(f"@mona asked for a rollback of deployment {bad} to production")
