"""The repository's own rollback workflow: dispatched once with templated inputs, then awaited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from guard.github.models import DeploymentRef
from guard.github.port import GitHubPort
from guard.outcomes import VerdictKind
from guard.policy.models import Rollback, WorkflowTarget
from guard.remedies import OutcomeKind, adopt_rollback_deployment, execute_remedy
from guard.store import Deployment, RemedyState
from tests.remedies_world import RemedyWorld, remedy_world

INPUTS = {
    "sha": "{{ last_good.sha }}",
    "ref": "{{ last_good.ref }}",
    "failed": "{{ failed.id }}",
    "failed_sha": "{{ failed.sha }}",
    "environment": "{{ environment }}",
}


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[RemedyWorld]:
    with remedy_world(f"sqlite:///{tmp_path / 'guard.db'}", tmp_path / "clones") as world:
        yield world


def rollback(inputs: dict[str, str] | None = None) -> Rollback:
    return Rollback(
        strategy="workflow",
        workflow=WorkflowTarget(file="rollback.yml", ref="main", inputs=inputs or INPUTS),
    )


def story(shop: RemedyWorld) -> DeploymentRef:
    good = shop.deploy("v1.3.2")
    shop.record(good, VerdictKind.PASS)
    bad = shop.deploy("main")
    shop.record(bad, VerdictKind.FAIL)
    return bad


def test_the_workflow_is_dispatched_with_its_inputs_filled_in(shop: RemedyWorld) -> None:
    bad = story(shop)

    outcome = execute_remedy(shop.context(), shop.request(bad, rollback=rollback()))

    assert outcome.kind is OutcomeKind.DONE, outcome.message
    (dispatch,) = shop.sandbox.dispatches()
    assert (dispatch["workflow_id"], dispatch["ref"]) == ("rollback.yml", "main")
    assert dispatch["inputs"] == {
        "sha": shop.good_sha,
        "ref": "v1.3.2",
        "failed": str(bad.id),
        "failed_sha": shop.bad_sha,
        "environment": "production",
    }
    assert "the next deployment to production is taken as the rollback" in outcome.message
    assert [s.state for s in shop.statuses(bad.id)] == ["success", "failure"]
    kinds = [kind for kind, _ in shop.timeline(bad.id)]
    assert kinds == [
        "remedy_claimed",
        "remedy_started",
        "workflow_dispatching",
        "workflow_dispatched",
        "remedy_done",
    ]


def test_templates_run_in_a_sandbox(shop: RemedyWorld) -> None:
    bad = story(shop)
    escape = {"target": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}

    outcome = execute_remedy(shop.context(), shop.request(bad, rollback=rollback(escape)))

    assert outcome.kind is OutcomeKind.REFUSED
    assert "input 'target' of rollback.yml cannot be filled in" in outcome.message
    assert shop.sandbox.dispatches() == []


def test_last_good_is_required_only_by_inputs_that_use_it(shop: RemedyWorld) -> None:
    bad = shop.deploy("main")
    shop.record(bad, VerdictKind.FAIL)

    needs_it = execute_remedy(shop.context(), shop.request(bad, rollback=rollback()))
    assert needs_it.kind is OutcomeKind.REFUSED
    assert "'last_good' is undefined" in needs_it.message
    assert shop.sandbox.dispatches() == []

    without = execute_remedy(
        shop.context(), shop.request(bad, rollback=rollback({"deployment": "{{ failed.id }}"}))
    )
    assert without.kind is OutcomeKind.DONE, without.message
    assert [d["inputs"] for d in shop.sandbox.dispatches()] == [{"deployment": str(bad.id)}]


class DiesAfterDispatch:
    """The port; the process dies right after the dispatch went out."""

    def __init__(self, port: GitHubPort) -> None:
        self._port = port

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._port, name)
        if name != "dispatch_workflow":
            return real

        def dying(*args: Any, **kwargs: Any) -> None:
            real(*args, **kwargs)
            raise KeyboardInterrupt

        return dying


def test_a_dispatch_that_may_have_happened_is_not_sent_again(shop: RemedyWorld) -> None:
    bad = story(shop)
    dying = cast("GitHubPort", DiesAfterDispatch(shop.client()))
    with pytest.raises(KeyboardInterrupt):
        execute_remedy(shop.context(dying), shop.request(bad, rollback=rollback()))

    resumed = execute_remedy(
        shop.context(resume_after=timedelta(0)), shop.request(bad, rollback=rollback())
    )

    assert resumed.kind is OutcomeKind.FAILED
    assert "may have dispatched rollback.yml already" in resumed.message
    assert len(shop.sandbox.dispatches()) == 1
    (remedy,) = shop.remedies()
    assert remedy.state is RemedyState.FAILED


def test_the_next_deployment_is_taken_as_the_workflows_rollback(shop: RemedyWorld) -> None:
    bad = story(shop)
    execute_remedy(shop.context(), shop.request(bad, rollback=rollback()))
    elsewhere = shop.deploy("v1.3.2", environment="staging")
    made = shop.deploy("v1.3.2")
    elsewhere_row = shop.record(elsewhere, None)
    made_row = shop.record(made, None)

    with shop.sessions.begin() as session:
        not_it = adopt_rollback_deployment(session, session.get_one(Deployment, elsewhere_row))
        adopted = adopt_rollback_deployment(session, session.get_one(Deployment, made_row))
        again = adopt_rollback_deployment(session, session.get_one(Deployment, made_row))
        assert not_it is None
        assert adopted is not None
        assert adopted.created_deployment_id == made.id
        assert again is None

    rollback_row = shop.row(made.id)
    failed_row = shop.row(bad.id)
    assert rollback_row is not None
    assert failed_row is not None
    assert rollback_row.is_remedy
    assert rollback_row.remedied_deployment_id == failed_row.id
    assert shop.timeline(bad.id)[-1][0] == "rollback_deployment"
