"""The GitHub calls of each outcome, counted at the sandbox's call log, and their order.

Issue 4's budget: a verified-good deployment makes at most 6 GitHub calls; a failed one with
its redeploy and incident at most 15. And the order of the writes after a failing verdict:
GitHub asks for a second between writes, so the remedy's deployment and the incident issue
come first, everything else (check run, the failed deployment's statuses, labels) after.
Counting is deterministic: the guard's own calls (as its App or an installation), from the
deployment's creation until its verification has ended.
"""

from __future__ import annotations

import re
from pathlib import Path

from guard.sandbox.calllog import CallRecord
from tests.story_world import (
    GOOD_TAG,
    REPO,
    Story,
    settled,
    story_world,
    workers,
)

GOOD_BUDGET = 6
FAILED_BUDGET = 15
_NUMBER = re.compile(r"/\d+(?=/|$)")
_SHA = re.compile(r"\b[0-9a-f]{40}\b")


def guards_calls(story: Story, since: int) -> list[CallRecord]:
    """The calls the guard made after call number `since` (the pipeline's are left out)."""
    return [
        call
        for call in story.sandbox.calls.all(since=since)
        if call.auth.startswith(("installation:", "app:"))
    ]


def route(call: CallRecord) -> str:
    path = _NUMBER.sub("/{n}", _SHA.sub("{sha}", call.path.replace(f"/repos/{REPO}", "")))
    return f"{call.method} {path}"


def shown(calls: list[CallRecord]) -> str:
    return "\n".join(route(call) for call in calls)


def test_each_outcome_stays_within_its_github_call_budget_and_acts_first(
    tmp_path: Path,
) -> None:
    with story_world(tmp_path) as story, workers(story):
        # The first verification also mints the installation token: not the steady state.
        story.deploy_good()
        mark = story.sandbox.calls.last_seq
        story.deploy_good()
        good = guards_calls(story, mark)

        story.break_main()
        mark = story.sandbox.calls.last_seq
        bad = story.deploy("main", "v2")
        settled(story, bad)
        failed = guards_calls(story, mark)

    assert len(good) <= GOOD_BUDGET, shown(good)
    assert len(failed) <= FAILED_BUDGET, shown(failed)
    # No read before a write where our own records show a first attempt: no look for an
    # earlier check run, issue or status, and no label made one by one.
    looks = {"GET /commits/{sha}/check-runs", "GET /issues", "GET /deployments/{n}/statuses"}
    made = {route(call) for call in [*good, *failed]}
    assert not made & {*looks, "POST /labels"}, made

    writes = [route(call) for call in failed if call.method != "GET"]
    remedy = writes.index("POST /deployments")
    # The remedy and the issue are the first two writes after the verdict; before them only
    # the check run's own writes of the watch can come (its creation, its progress).
    assert writes[remedy + 1] == "POST /issues", writes
    assert all("/check-runs" in write for write in writes[:remedy]), writes
    after = writes[remedy + 2 :]
    # The check run's conclusion, the failed deployment's one `failure` (then `inactive`):
    # all after the issue.
    assert any("/check-runs" in write for write in after), writes
    assert [w for w in writes if w.endswith("/statuses")] == [
        "POST /deployments/{n}/statuses",
        "POST /deployments/{n}/statuses",
    ]
    assert all(w in after for w in writes if w.endswith("/statuses") or "/labels/" in w)
    assert story.statuses(bad)[-2:] == ["failure", "inactive"]
    (rollback,) = story.rollbacks()
    assert rollback.ref == GOOD_TAG
