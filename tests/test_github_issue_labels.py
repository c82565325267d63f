"""Swapping an incident's severity label over HTTP: the old one goes, the others stay, once.

`swap_issue_label` reads the issue and sets its labels with one PATCH (both operations of the
vendored REST description; the strict sandbox checks every call against it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from guard.sandbox import FaultKind, Sandbox
from tests.github_world import DEVELOPER, REPO, World
from tests.sandbox_fixtures import assert_conformant

LABELS = ["incident", "severity:P1", "env:production", "deploy-guard"]


@pytest.fixture
def world() -> Iterator[World]:
    with Sandbox(strict=True) as sandbox:
        sandbox.add_user("dee", name=DEVELOPER.name, email=DEVELOPER.email)
        sandbox.create_repo(REPO, {"README.md": "# shop\n"}, author=DEVELOPER)
        app = sandbox.register_app("deploy-guard")
        installation_id = sandbox.install_app(app.app_id, "acme")
        yield World(sandbox, app, installation_id)
        assert_conformant(sandbox)


def labels_of(world: World, number: int) -> list[str]:
    (issue,) = [
        issue for issue in world.sandbox.runtime.state.issues.values() if issue.number == number
    ]
    return list(issue.labels)


def patches(world: World, number: int) -> int:
    return len(world.sandbox.calls.matching("PATCH", f"/repos/{REPO}/issues/{number}"))


def test_the_severity_label_is_replaced_and_the_others_are_kept(world: World) -> None:
    client = world.client()
    try:
        number = client.create_issue(REPO, "Deployment 7 failed", "body", LABELS).number
        # Someone triaging the incident adds a label of their own: it must survive.
        client.swap_issue_label(REPO, number, "triage:", "triage:db")

        labels = client.swap_issue_label(REPO, number, "severity:", "severity:P0")
    finally:
        client.close()

    expected = ["incident", "env:production", "deploy-guard", "triage:db", "severity:P0"]
    assert list(labels) == expected
    assert labels_of(world, number) == expected


def test_swapping_to_the_label_the_issue_has_changes_nothing(world: World) -> None:
    client = world.client()
    try:
        number = client.create_issue(REPO, "Deployment 8 failed", "body", LABELS).number
        client.swap_issue_label(REPO, number, "severity:", "severity:P0")
        after_first = patches(world, number)

        again = client.swap_issue_label(REPO, number, "Severity:", "SEVERITY:p0")
    finally:
        client.close()

    assert after_first == 1
    # GitHub's label names are case-insensitive: the same label, so no second write.
    assert patches(world, number) == 1
    assert [name for name in again if name.lower().startswith("severity:")] == ["severity:P0"]


def test_a_lost_answer_to_the_patch_is_retried_to_the_same_labels(world: World) -> None:
    client = world.client()
    try:
        number = client.create_issue(REPO, "Deployment 9 failed", "body", LABELS).number
        world.sandbox.add_fault(
            FaultKind.SERVER_ERROR, path=f"/repos/{REPO}/issues/{number}", method="PATCH"
        )

        labels = client.swap_issue_label(REPO, number, "severity:", "severity:P0")
    finally:
        client.close()

    assert patches(world, number) == 2
    assert list(labels) == ["incident", "env:production", "deploy-guard", "severity:P0"]
    assert labels_of(world, number) == list(labels)
