"""Known-bad commits through the gate: recorded on failure (by the verification worker's
`record_known_bad`), allowed by a person, held again when they fail again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from guard.chatops.run import CommandRequest, run_command
from guard.gate.answer import GateRequest, answer_gate
from guard.store import Deployment, KnownBadSha, record_known_bad
from tests.gate_world import REPO, REPO_URL, GateWorld, gate_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GateWorld]:
    with gate_world(tmp_path) as running:
        yield running


def fail(world: GateWorld, deployment_row: int, reason: str) -> None:
    """What the worker does with a failed verdict."""
    with world.session() as session:
        deployment = session.get_one(Deployment, deployment_row)
        record_known_bad(
            session,
            repository=deployment.repository,
            sha=deployment.sha,
            deployment_id=deployment.id,
            reason=reason,
            now=world.now(),
        )


def gate(world: GateWorld, run_id: int) -> str:
    request = GateRequest(
        REPO, REPO_URL, "production", run_id, world.head, None, world.installation_id
    )
    answer_gate(world.means(), request.work())
    [review] = [r for r in world.sandbox.reviews() if r["run_id"] == run_id]
    state: str = review["state"]
    return state


def known_bad(world: GateWorld) -> list[tuple[str, str | None, str | None]]:
    with world.session() as session:
        rows = session.scalars(sa.select(KnownBadSha)).all()
        return [(row.sha, row.reason, row.allowed_by) for row in rows]


def test_a_failed_commit_is_held_allowed_then_held_again_when_it_fails_again(
    world: GateWorld,
) -> None:
    issue = world.new_issue()
    world.sandbox.set_permission(REPO, "mona", "write")
    first = world.record_deployment(500)
    fail(world, first, "home page answered 503")
    assert gate(world, 1) == "rejected"
    assert "(home page answered 503)" in world.sandbox.reviews()[0]["comment"]

    allow = CommandRequest(
        REPO,
        issue,
        1,
        f"{REPO_URL}/issues/{issue}",
        f"/guard allow {world.head}",
        "mona",
        world.installation_id,
    )
    run_command(world.means(), allow.work())
    assert gate(world, 2) == "approved"
    assert known_bad(world) == [(world.head, "home page answered 503", "mona")]

    again = world.record_deployment(501)
    fail(world, again, "checkout answered 500")

    assert gate(world, 3) == "rejected"
    assert known_bad(world) == [(world.head, "checkout answered 500", None)]


def test_two_failures_of_one_commit_make_one_row_that_holds(world: GateWorld) -> None:
    fail(world, world.record_deployment(500), "first")
    fail(world, world.record_deployment(501), "second")

    assert known_bad(world) == [(world.head, "first", None)]
    assert gate(world, 1) == "rejected"
