"""An escalated incident's title names its new severity, written with the label in one PATCH
and never twice: over HTTP against the strict sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest

from guard.incidents.labels import retitled
from guard.outcomes import Severity
from guard.sandbox import Sandbox
from tests.github_world import DEVELOPER, REPO, World
from tests.sandbox_fixtures import assert_conformant

LABELS = ["incident", "severity:P1", "env:production", "deploy-guard"]
BUILT_IN = "[P1] production: deployment of abc1234 failed verification (INC-20261122-001)"
TO_P0 = partial(retitled, severity=Severity.P0)


@pytest.fixture
def world() -> Iterator[World]:
    with Sandbox(strict=True) as sandbox:
        sandbox.add_user("dee", name=DEVELOPER.name, email=DEVELOPER.email)
        sandbox.create_repo(REPO, {"README.md": "# shop\n"}, author=DEVELOPER)
        app = sandbox.register_app("deploy-guard")
        installation_id = sandbox.install_app(app.app_id, "acme")
        yield World(sandbox, app, installation_id)
        assert_conformant(sandbox)


def issue_of(world: World, number: int) -> tuple[str, list[str]]:
    (issue,) = [i for i in world.sandbox.runtime.state.issues.values() if i.number == number]
    return issue.title, list(issue.labels)


def patches(world: World, number: int) -> int:
    return len(world.sandbox.calls.matching("PATCH", f"/repos/{REPO}/issues/{number}"))


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (BUILT_IN, BUILT_IN.replace("[P1]", "[P0]")),
        # A repository template's title: its severity word wherever the template put it.
        (
            "P2 INC-20261122-002: acme/shop production is failing",
            "P0 INC-20261122-002: acme/shop production is failing",
        ),
        # Already P0: a later P3 in the text is not the severity and stays.
        ("[P0] production: P3 of the probes failed", "[P0] production: P3 of the probes failed"),
        # No severity word at all (a template without one): nothing to change.
        ("Checkout is down (INC-20261122-003)", "Checkout is down (INC-20261122-003)"),
        # A word that only contains P1 is not a severity.
        ("APP1 production failed", "APP1 production failed"),
    ],
)
def test_the_first_severity_word_becomes_p0(title: str, expected: str) -> None:
    assert TO_P0(title) == expected
    assert TO_P0(TO_P0(title)) == expected


def test_the_label_and_the_title_change_in_one_patch_and_never_again(world: World) -> None:
    client = world.client()
    try:
        number = client.create_issue(REPO, BUILT_IN, "body", LABELS).number

        labels = client.swap_issue_label(REPO, number, "severity:", "severity:P0", retitle=TO_P0)
        after_first = patches(world, number)
        again = client.swap_issue_label(REPO, number, "severity:", "severity:P0", retitle=TO_P0)
    finally:
        client.close()

    title, stored = issue_of(world, number)
    assert title == BUILT_IN.replace("[P1]", "[P0]")
    assert stored == ["incident", "env:production", "deploy-guard", "severity:P0"]
    assert list(labels) == list(again) == stored
    assert after_first == 1
    assert patches(world, number) == 1


def test_a_title_someone_already_set_to_p0_is_left_and_the_label_still_moves(
    world: World,
) -> None:
    client = world.client()
    try:
        number = client.create_issue(REPO, BUILT_IN, "body", LABELS).number
        client.swap_issue_label(
            REPO, number, "zzz:", "zzz:x", retitle=lambda _title: "[P0] by hand"
        )
        client.swap_issue_label(REPO, number, "severity:", "severity:P0", retitle=TO_P0)
    finally:
        client.close()

    title, stored = issue_of(world, number)
    assert title == "[P0] by hand"
    assert "severity:P0" in stored
    assert "severity:P1" not in stored
