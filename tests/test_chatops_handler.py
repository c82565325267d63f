"""The issue_comment handler: which comments become commands, and that none runs in the request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guard.chatops.run import LATE_CHECK_AFTER_S
from guard.events import IssueCommentCreated, parse_event
from guard.gate.background import LATE_CHECK_AFTER_KEY
from guard.handlers import HandlerContext, HandlerResult, Status
from guard.handlers.chatops import on_issue_comment
from guard.observability.logs import get_logger
from tests.gate_world import REPO, GateWorld, gate_world
from tests.service_support import encode, fixture_json


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GateWorld]:
    with gate_world(tmp_path) as running:
        yield running


def comment_event(
    world: GateWorld, body: str, *, login: str = "mona", kind: str = "User"
) -> IssueCommentCreated:
    payload = fixture_json("issue_comment.created.0.json")
    payload["comment"].update(body=body)
    payload["comment"]["user"].update(login=login, type=kind)
    payload["sender"].update(login=login, type=kind)
    payload["repository"].update(full_name=REPO, html_url=f"https://github.com/{REPO}")
    payload["installation"] = {"id": world.installation_id}
    parsed = parse_event("issue_comment", encode(payload))
    assert isinstance(parsed, IssueCommentCreated)
    return parsed


def handle(world: GateWorld, event: IssueCommentCreated) -> HandlerResult:
    with world.session() as session:
        context = HandlerContext(session, world.queue, world.settings, event, get_logger("test"))
        return on_issue_comment(context)


def test_a_command_is_queued_with_everything_the_follow_up_needs(world: GateWorld) -> None:
    event = comment_event(world, "Frozen for the release.\n/guard freeze production for 2h")

    result = handle(world, event)

    assert result.status is Status.ACCEPTED
    [work] = world.queue.followups
    expected: dict[str, Any] = {
        "kind": "chatops",
        "repository": REPO,
        "issue_number": event.issue.number,
        "comment_id": event.comment.id,
        "comment_url": event.comment.html_url,
        "body": event.comment.body,
        "login": "mona",
        "installation_id": world.installation_id,
    }
    assert {key: work[key] for key in expected} == expected
    # The durable queue puts the late check in its schedule before the first run.
    assert work[LATE_CHECK_AFTER_KEY] == LATE_CHECK_AFTER_S
    # Nothing was asked of GitHub inside the request.
    assert world.sandbox.calls.all() == []


@pytest.mark.parametrize(
    ("login", "kind"), [("deploy-guard[bot]", "Bot"), ("renovate[bot]", "User"), ("ci", "Bot")]
)
def test_comments_by_bots_are_ignored(world: GateWorld, login: str, kind: str) -> None:
    result = handle(world, comment_event(world, "/guard rollback", login=login, kind=kind))

    assert result.status is Status.IGNORED
    assert "by bots" in result.reason
    assert world.queue.followups == []


def test_the_guard_s_own_replies_are_ignored_even_when_quoted(world: GateWorld) -> None:
    quoted = "> /guard freeze production\n\n<!-- deploy-guard:chatops -->\n/guard freeze production"

    result = handle(world, comment_event(world, quoted))

    assert result.status is Status.IGNORED
    assert world.queue.followups == []


def test_comments_without_a_command_are_ignored(world: GateWorld) -> None:
    result = handle(world, comment_event(world, "Looks like the checkout broke again."))

    assert (result.status, result.reason) == (Status.IGNORED, "the comment holds no /guard command")


def test_edits_never_reach_the_handler() -> None:
    payload = fixture_json("issue_comment.created.0.json")
    payload["action"] = "edited"

    parsed = parse_event("issue_comment", encode(payload))

    assert not isinstance(parsed, IssueCommentCreated)
    assert "issue_comment.edited" in str(parsed)
