"""Answering protection rules through the callback, in the GitHub sandbox, with a set clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from guard.gate.answer import GateRequest, answer_gate
from guard.gate.background import Outcome
from guard.store import Remedy
from tests.gate_world import REPO, REPO_URL, GateWorld, gate_world

CALLBACK = f"/repos/{REPO}/actions/runs/*/deployment_protection_rule"
RUN_ID = 9001


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GateWorld]:
    with gate_world(tmp_path) as running:
        yield running


def request(world: GateWorld, deployment_id: int | None = 501, **values: Any) -> GateRequest:
    fields: dict[str, Any] = {
        "repository": REPO,
        "repository_url": REPO_URL,
        "environment": "production",
        "run_id": RUN_ID,
        "sha": world.head,
        "deployment_id": deployment_id,
        "installation_id": world.installation_id,
    }
    fields.update(values)
    return GateRequest(**fields)


def reviews(world: GateWorld) -> list[tuple[int, str, str | None]]:
    return [(r["run_id"], r["environment_name"], r["state"]) for r in world.sandbox.reviews()]


def test_a_deployment_with_nothing_against_it_is_approved_in_the_sandbox(world: GateWorld) -> None:
    world.record_deployment(501)

    outcome = answer_gate(world.means(), request(world).work())

    assert outcome is Outcome.DONE
    assert reviews(world) == [(RUN_ID, "production", "approved")]
    comment = world.sandbox.reviews()[0]["comment"]
    assert comment.startswith("Approved by deploy-guard")
    assert f"{REPO_URL}/blob/{world.head}/.github/deploy-guard.yml" in comment
    assert world.timeline()[-1][0] == "gate_approved"


def test_friday_16_00_in_berlin_is_rejected_by_the_policy_freeze(world: GateWorld) -> None:
    world.clock.now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC).timestamp()  # 16:00 CET

    answer_gate(world.means(), request(world).work())

    assert reviews(world) == [(RUN_ID, "production", "rejected")]
    assert "which ends Mon 30 Nov 2026 08:00 CET" in world.sandbox.reviews()[0]["comment"]


def test_friday_15_59_is_still_approved(world: GateWorld) -> None:
    world.clock.now = datetime(2026, 11, 27, 14, 59, tzinfo=UTC).timestamp()  # 15:59 CET

    answer_gate(world.means(), request(world).work())

    assert reviews(world) == [(RUN_ID, "production", "approved")]


def test_an_environment_without_a_gate_section_is_not_frozen(world: GateWorld) -> None:
    world.clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp()  # Saturday

    answer_gate(world.means(), request(world, environment="staging").work())

    assert reviews(world) == [(RUN_ID, "staging", "approved")]


def test_an_open_incident_on_the_environment_rejects_with_its_link(world: GateWorld) -> None:
    failed = world.record_deployment(500)
    world.open_incident(failed)

    answer_gate(world.means(), request(world).work())

    assert reviews(world) == [(RUN_ID, "production", "rejected")]
    comment = world.sandbox.reviews()[0]["comment"]
    assert "incident INC-20261127-001 (P1) on production is still open" in comment
    assert comment.endswith(f"{REPO_URL}/issues/7.")


def test_an_incident_on_another_environment_does_not_hold_this_one(world: GateWorld) -> None:
    world.open_incident(world.record_deployment(500, environment="staging"), "staging")

    answer_gate(world.means(), request(world).work())

    assert reviews(world) == [(RUN_ID, "production", "approved")]


def test_a_known_bad_commit_is_rejected_with_its_run_page(world: GateWorld) -> None:
    failed = world.record_deployment(500)
    verification = world.finished_verification(failed)
    world.mark_known_bad(world.head, failed)

    answer_gate(world.means(), request(world).work())

    assert reviews(world) == [(RUN_ID, "production", "rejected")]
    comment = world.sandbox.reviews()[0]["comment"]
    assert f"`/guard allow {world.head[:12]}`" in comment
    assert comment.endswith(f"https://guard.example.test/runs/{verification}.")


def test_a_request_without_a_known_deployment_is_still_answered(world: GateWorld) -> None:
    answer_gate(world.means(), request(world, deployment_id=None).work())

    assert reviews(world) == [(RUN_ID, "production", "approved")]
    assert world.timeline() == []


def test_a_failing_callback_is_retried_with_backoff(world: GateWorld) -> None:
    world.record_deployment(501)
    world.sandbox.add_fault("server_error", CALLBACK, method="POST", times=2)

    outcome = answer_gate(world.means(), request(world).work())

    assert outcome is Outcome.DONE
    assert reviews(world) == [(RUN_ID, "production", "approved")]
    assert len(world.sandbox.calls.matching("POST", CALLBACK)) == 3
    assert world.slept == [1.0, 2.0]


def test_a_callback_that_keeps_failing_is_retried_later_then_given_up_loudly(
    world: GateWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world.record_deployment(501)
    world.sandbox.add_fault("server_error", CALLBACK, method="POST", times=None)

    first = answer_gate(world.means(), request(world).work(), final_round=False)
    assert first is Outcome.RETRY
    assert world.timeline() == []

    with caplog.at_level(logging.ERROR, logger="guard.gate.answer"):
        last = answer_gate(world.means(), request(world).work(), final_round=True)

    assert last is Outcome.GAVE_UP
    assert reviews(world) == []
    kind, message = world.timeline()[-1]
    assert kind == "gate_unanswered"
    assert f"run {RUN_ID} could not be answered" in message
    assert "approve or reject it on GitHub" in message
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["gate.unanswered"]
    # Four attempts a round, bounded backoff between them.
    assert len(world.sandbox.calls.matching("POST", CALLBACK)) == 8
    world.sandbox.clear_faults()


def test_an_invalid_policy_rejects_and_names_the_line(tmp_path: Path) -> None:
    broken = "version: 1\nenvironments:\n  production:\n    gate:\n      freeze: nope\n"
    with gate_world(tmp_path, {".github/deploy-guard.yml": broken}) as world:
        answer_gate(world.means(), request(world).work())

        assert reviews(world) == [(RUN_ID, "production", "rejected")]
        comment = world.sandbox.reviews()[0]["comment"]
        assert "is invalid: .github/deploy-guard.yml:5" in comment


def test_a_repository_without_a_policy_is_approved(tmp_path: Path) -> None:
    with gate_world(tmp_path) as world:
        world.sandbox.commit(REPO, {".github/deploy-guard.yml": None}, "Drop the policy")

        answer_gate(world.means(), request(world).work())

        assert reviews(world) == [(RUN_ID, "production", "approved")]


def test_the_guard_s_rollback_passes_its_own_incident_and_the_weekend(world: GateWorld) -> None:
    world.clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp()  # Saturday
    failed = world.record_deployment(500)
    world.open_incident(failed)
    with world.session() as session:
        session.add(Remedy(deployment_id=failed, strategy="redeploy", created_deployment_id=502))

    answer_gate(world.means(), request(world, deployment_id=502).work())
    answer_gate(world.means(), request(world, deployment_id=503, run_id=RUN_ID + 1).work())

    assert reviews(world) == [
        (RUN_ID, "production", "approved"),
        (RUN_ID + 1, "production", "rejected"),
    ]
