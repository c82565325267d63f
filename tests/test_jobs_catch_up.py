"""Catching up on missed webhook deliveries: from GitHub's delivery log (the sandbox's, over
HTTP) back to the guard's real webhook endpoint, once, within the horizon and the bound."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guard.jobs.catch_up import (
    CatchUpOptions,
    CatchUpResult,
    catch_up_deliveries,
    horizon_for,
)
from guard.jobs.consumer import start_embedded_workers
from guard.jobs.queue import JobQueue, make_queue
from tests.catch_up_world import CatchUpWorld, catch_up_world, guids
from tests.jobs_world import FAST, wait_for

DELIVERIES = "/app/hook/deliveries"


def everything(world: CatchUpWorld) -> list[str]:
    return guids(world.sent(), lambda _delivery: True)


def redelivered(world: CatchUpWorld, result: CatchUpResult) -> list[str]:
    """The guids of the log entries a pass asked GitHub to redeliver, in the order asked."""
    by_id = {delivery.id: delivery.guid for delivery in world.sent()}
    return [by_id[number] for number in result.redelivered]


def test_deliveries_missed_while_the_guard_was_down_arrive_and_are_recorded_once(
    tmp_path: Path,
) -> None:
    with catch_up_world(tmp_path) as world:
        world.deploy()
        world.deploy()
        missed = everything(world)
        assert [d.status for d in world.sent()] == [503] * 4
        assert world.recorded() == {}

        world.switch.up = True
        result = catch_up_deliveries(world.context(), force=True)

        assert result.outcome == "done"
        # Oldest first, as they happened: each deployment before its status.
        assert redelivered(world, result) == missed
        again = [d for d in world.sent() if d.redelivery]
        assert [d.guid for d in again] == missed
        assert [d.event for d in again] == ["deployment", "deployment_status"] * 2
        assert all(d.status is not None and 200 <= d.status < 300 for d in again)
        assert world.recorded() == dict.fromkeys(missed, 1)
        # Nothing is left to ask for: the next pass asks for nothing.
        assert catch_up_deliveries(world.context(), force=True).redelivered == ()
        assert len(world.sent()) == 8


def test_a_delivery_already_recorded_is_not_redelivered_unless_it_ended_in_error(
    tmp_path: Path,
) -> None:
    with catch_up_world(tmp_path) as world:
        world.switch.up = True
        # The guard records both deliveries, but GitHub never sees its answers: 503 in the log.
        world.switch.answer_lost = True
        world.deploy()
        created, status = everything(world)
        assert set(world.recorded()) == {created, status}
        world.switch.answer_lost = False
        world.mark_error(status)

        result = catch_up_deliveries(world.context(), force=True)

        assert redelivered(world, result) == [status]
        assert world.recorded() == {created: 1, status: 1}


def test_deliveries_answered_but_lost_in_a_power_cut_are_redelivered_by_a_later_pass(
    tmp_path: Path,
) -> None:
    with catch_up_world(tmp_path) as world:
        world.switch.up = True
        ctx = world.context()
        # An earlier pass left its horizon: this database has been catching up all along.
        assert catch_up_deliveries(ctx, force=True).redelivered == ()
        world.deploy()
        lost = everything(world)
        world.deploy()
        created, failed = [guid for guid in everything(world) if guid not in lost]
        assert all(d.status is not None and 200 <= d.status < 300 for d in world.sent())
        world.forget(lost)
        # Answered and handled, even if it failed: a redelivery would not change that.
        world.mark_error(failed)

        result = catch_up_deliveries(ctx, force=True)

        assert redelivered(world, result) == lost
        world.sent()
        assert world.recorded() == {**dict.fromkeys(lost, 1), created: 1, failed: 1}


def test_a_first_pass_leaves_deliveries_github_saw_answered_alone(tmp_path: Path) -> None:
    with catch_up_world(tmp_path) as world:
        world.switch.up = True
        world.deploy()
        # A database newer than the App's log: it never held these, and was never meant to.
        world.forget(everything(world))

        assert catch_up_deliveries(world.context(), force=True).redelivered == ()


def test_a_pass_looks_back_to_its_horizon_and_runs_only_when_due(tmp_path: Path) -> None:
    options = CatchUpOptions()
    with catch_up_world(tmp_path) as world:
        world.deploy()
        too_old = everything(world)
        world.advance(2 * 3600)
        world.deploy()
        recent = [guid for guid in everything(world) if guid not in too_old]
        world.switch.up = True
        ctx = world.context()

        # The first pass ever looks back an hour: the deployment two hours ago is out of reach.
        first = catch_up_deliveries(ctx, force=True, options=options)
        assert redelivered(world, first) == recent
        started = datetime.fromtimestamp(world.clock(), UTC)
        assert first.horizon is not None
        assert abs(first.horizon - (started - timedelta(hours=1))) < timedelta(seconds=5)

        # Down again for half an hour: what failed then is caught up by the next pass, which
        # looks back to where the first one started (less the margin), not an hour.
        world.switch.up = False
        world.advance(1800)
        world.deploy()
        latest = [guid for guid in everything(world) if guid not in {*too_old, *recent}]
        world.switch.up = True
        # The reconciler's pass is not due until `every_s` after the last one ended.
        assert catch_up_deliveries(ctx, options=options).outcome == "done"
        # Its redeliveries are sent from the sandbox's sender thread: let them land before
        # the guard goes down again, or they would fail and be missed once more.
        world.sent()
        assert set(latest) <= set(world.recorded())
        world.switch.up = False
        world.deploy()
        world.switch.up = True
        assert catch_up_deliveries(ctx, options=options).outcome == "not_due"
        world.advance(options.every_s)
        later = catch_up_deliveries(ctx, options=options)
        assert later.outcome == "done"
        last = everything(world)[-2:]
        assert redelivered(world, later) == last
        assert latest[0] not in redelivered(world, later)
        assert later.horizon is not None
        assert later.horizon > first.horizon


def test_the_horizon_never_reaches_past_githubs_three_days() -> None:
    options = CatchUpOptions()
    now = datetime(2026, 11, 23, tzinfo=UTC)
    assert horizon_for(None, now, options) == now - timedelta(hours=1)
    stored = now - timedelta(days=5)
    assert horizon_for(stored, now, options) == now - timedelta(days=3)
    assert horizon_for(now - timedelta(minutes=7), now, options) == now - timedelta(minutes=7)


def test_a_pass_asks_for_at_most_its_bound_and_the_next_one_goes_on(tmp_path: Path) -> None:
    bounded = CatchUpOptions(max_redeliveries=3)
    with catch_up_world(tmp_path) as world:
        world.deploy()
        world.deploy()
        missed = everything(world)
        world.switch.up = True
        ctx = world.context()

        first = catch_up_deliveries(ctx, force=True, options=bounded)
        assert (first.outcome, redelivered(world, first)) == ("bounded", missed[:3])
        second = catch_up_deliveries(ctx, force=True, options=bounded)
        assert (second.outcome, redelivered(world, second)) == ("done", missed[3:])
        # The bounded pass kept its horizon for the next one.
        assert second.horizon == first.horizon
        assert world.recorded() == dict.fromkeys(missed, 1)


def test_the_log_is_read_across_pages(tmp_path: Path) -> None:
    with catch_up_world(tmp_path) as world:
        world.deploy()
        world.deploy()
        world.deploy()
        missed = everything(world)
        world.switch.up = True

        result = catch_up_deliveries(
            world.context(), force=True, options=CatchUpOptions(page_size=4)
        )

        assert redelivered(world, result) == missed
        reads = world.sandbox.calls.matching("GET", DELIVERIES)
        assert len(reads) == 2
        assert "cursor=" not in reads[0].query
        assert "cursor=" in reads[1].query
        assert all(call.auth.startswith("app:") for call in reads)


def test_on_a_plain_token_the_catch_up_skips_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with catch_up_world(tmp_path) as world:
        world.deploy()
        world.switch.up = True
        ctx = world.context(
            GUARD_GITHUB_APP_ID="",
            GUARD_GITHUB_PRIVATE_KEY="",
            GUARD_GITHUB_TOKEN=world.owner_token,
        )
        with caplog.at_level(logging.INFO, logger="guard.jobs.catch_up"):
            result = catch_up_deliveries(ctx, force=True)
        assert result == CatchUpResult("skipped_token")
        assert "catch_up.skipped" in [record.getMessage() for record in caplog.records]
        assert world.sandbox.calls.matching("GET", DELIVERIES) == []
        assert not any(d.redelivery for d in world.sent())


def race(world: CatchUpWorld) -> list[CatchUpResult]:
    """Two replicas (an engine each) start their reconciler's pass at the same moment."""
    contexts = [world.context(), world.context()]
    start = threading.Barrier(len(contexts))
    results: list[CatchUpResult] = []

    def run(index: int) -> None:
        start.wait()
        results.append(catch_up_deliveries(contexts[index]))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(contexts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def assert_raced_once(world: CatchUpWorld, results: list[CatchUpResult]) -> None:
    missed = everything(world)[:4]
    outcomes = [result.outcome for result in results]
    # One pass ran; the other found it running (busy) or just ended (not due).
    assert outcomes.count("done") == 1, outcomes
    assert {*outcomes} - {"done"} <= {"busy", "not_due"}, outcomes
    asked = [guid for result in results for guid in redelivered(world, result)]
    assert asked == missed
    assert [d.guid for d in world.sent() if d.redelivery] == missed
    assert world.recorded() == dict.fromkeys(missed, 1)


def test_two_catch_ups_racing_redeliver_once(tmp_path: Path) -> None:
    with catch_up_world(tmp_path) as world:
        world.deploy()
        world.deploy()
        world.switch.up = True
        assert_raced_once(world, race(world))


@pytest.mark.postgres
def test_two_replicas_racing_on_postgresql_redeliver_once(
    tmp_path: Path, postgres_url: str
) -> None:
    with catch_up_world(tmp_path, database_url=postgres_url) as world:
        world.deploy()
        world.deploy()
        world.switch.up = True
        assert_raced_once(world, race(world))


def test_the_jobs_process_catches_up_when_it_starts(tmp_path: Path) -> None:
    with catch_up_world(tmp_path) as world:
        world.deploy()
        missed = everything(world)
        world.switch.up = True
        settings = world.settings()
        queue = make_queue(settings, name=world.queue_name, options=FAST)
        with start_embedded_workers(settings, threads=1, queue=queue):
            wait_for(
                "the start-up pass's redeliveries",
                lambda: [d.guid for d in world.sent() if d.redelivery] == missed or None,
            )
        assert world.recorded() == dict.fromkeys(missed, 1)
        assert [d.guid for d in world.sent() if d.redelivery] == missed


def test_the_reconciler_catches_up_every_few_minutes(tmp_path: Path) -> None:
    with catch_up_world(tmp_path) as world:
        world.deploy()
        world.switch.up = True
        queue = make_queue(world.settings(), name=world.queue_name, options=FAST, clock=world.clock)
        try:
            queue.reconcile()
            # The reconciler's turn only queued the pass (once, however many turns ask)...
            queue.reconcile()
            assert [d.guid for d in world.sent() if d.redelivery] == []
            assert queued_catch_ups(queue) == 1
            # ...and a worker runs it.
            run_queued(queue)
            first = [d.guid for d in world.sent() if d.redelivery]
            assert first == everything(world)
            world.switch.up = False
            world.deploy()
            later = everything(world)[len(first) :]
            world.switch.up = True
            # The last pass just ended: the reconciler's next turns leave the log alone...
            queue.reconcile()
            assert queued_catch_ups(queue) == 0
            # ...until it is `every_s` old.
            world.advance(CatchUpOptions().every_s)
            queue.reconcile()
            run_queued(queue)
            assert [d.guid for d in world.sent() if d.redelivery] == first + later
        finally:
            queue.close()
        assert world.recorded() == dict.fromkeys(first + later, 1)


def queued_catch_ups(queue: JobQueue) -> int:
    return sum(task.name == "catch_up_deliveries" for task in queue.huey.pending())


def run_queued(queue: JobQueue) -> None:
    """What a worker does with the queue's jobs, in this thread: each one, in order."""
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)
