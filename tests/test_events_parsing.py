"""parse_event: the fields the guard reads, what it ignores, and how a wrong body is reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from guard.events import (
    DeploymentCreated,
    DeploymentProtectionRuleRequested,
    DeploymentState,
    DeploymentStatusCreated,
    EventShapeError,
    Ignored,
    InstallationChanged,
    IssueCommentCreated,
    Ping,
    WorkflowRunEvent,
    parse_event,
)

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def test_deployment_status_success_carries_what_a_verification_needs() -> None:
    parsed = parse_event("deployment_status", load("deployment_status.created.3.json"))

    assert isinstance(parsed, DeploymentStatusCreated)
    assert parsed.deployment_status.state is DeploymentState.SUCCESS
    assert parsed.deployment_status.id == 209916254
    assert parsed.environment == "production"
    assert parsed.deployment.id == 145988746
    assert parsed.deployment.sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert parsed.installation_id == 1
    # GitHub sends "" for a URL that was never set.
    assert parsed.deployment_status.target_url is None
    assert parsed.deployment_status.log_link is None


def test_deployment_status_links_and_flags() -> None:
    parsed = parse_event("deployment_status", load("deployment_status.created.1.json"))

    assert isinstance(parsed, DeploymentStatusCreated)
    status = parsed.deployment_status
    assert status.state is DeploymentState.IN_PROGRESS
    assert status.environment_url is None
    assert (
        status.log_link
        == "https://github.com/CorsixTH/CorsixTH/runs/4687056418?check_suite_focus=true"
    )
    assert parsed.deployment.production_environment is False
    assert parsed.deployment.transient_environment is False
    assert parsed.environment == "github-pages"


def test_deployment_status_prefers_log_url_and_keeps_environment_url() -> None:
    body = load("deployment_status.created.0.json")
    body["deployment_status"].update(
        environment_url="https://app.example.com",
        log_url="https://ci.example.com/log/1",
        target_url="https://ci.example.com/old",
        environment="staging",
    )

    parsed = parse_event("deployment_status", body)

    assert isinstance(parsed, DeploymentStatusCreated)
    assert parsed.deployment_status.environment_url == "https://app.example.com"
    assert parsed.deployment_status.log_link == "https://ci.example.com/log/1"
    assert parsed.environment == "staging"


def test_deployment_fields_and_an_object_payload() -> None:
    body = load("deployment.created.0.json")
    body["deployment"]["payload"] = {"deploy_guard": {"rollback_of": 7}}

    parsed = parse_event("deployment", json.dumps(body).encode())

    assert isinstance(parsed, DeploymentCreated)
    assert parsed.deployment.task == "deploy"
    assert parsed.deployment.creator_login == "Codertocat"
    assert parsed.deployment.payload == {"deploy_guard": {"rollback_of": 7}}
    assert parsed.deployment.created_at.tzinfo is not None
    assert parsed.installation_id is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ('{"deploy_guard": {"rollback_of": 7}}', {"deploy_guard": {"rollback_of": 7}}),
        ("", {}),
        ("not json", {}),
        ("[1, 2]", {}),
        (None, {}),
    ],
)
def test_deployment_payload_given_as_a_string(
    payload: str | None, expected: dict[str, Any]
) -> None:
    body = load("deployment.created.0.json")
    body["deployment"]["payload"] = payload

    parsed = parse_event("deployment", body)

    assert isinstance(parsed, DeploymentCreated)
    assert parsed.deployment.payload == expected


def test_deployment_without_a_creator_still_parses() -> None:
    body = load("deployment.created.0.json")
    body["deployment"]["creator"] = None

    parsed = parse_event("deployment", body)

    assert isinstance(parsed, DeploymentCreated)
    assert parsed.deployment.creator_login is None


def test_protection_rule_gives_the_run_id_from_the_callback() -> None:
    parsed = parse_event(
        "deployment_protection_rule", load("deployment_protection_rule.requested.0.json")
    )

    assert isinstance(parsed, DeploymentProtectionRuleRequested)
    assert parsed.workflow_run_id == 11223344556
    assert parsed.environment == "production"
    assert parsed.event == "push"
    assert parsed.deployment is not None
    assert parsed.deployment.production_environment is True
    assert parsed.pull_requests == ()
    assert parsed.installation_id == 1


def test_protection_rule_with_an_unexpected_callback_has_no_run_id() -> None:
    body = load("deployment_protection_rule.requested.0.json")
    body["deployment_callback_url"] = "https://api.github.com/somewhere/else"
    body["pull_requests"] = [{"number": 12, "title": "ignored"}]

    parsed = parse_event("deployment_protection_rule", body)

    assert isinstance(parsed, DeploymentProtectionRuleRequested)
    assert parsed.workflow_run_id is None
    assert [pull.number for pull in parsed.pull_requests] == [12]


def test_ping_from_an_organization_hook_has_no_repository() -> None:
    parsed = parse_event("ping", load("ping.none.3.json"))

    assert isinstance(parsed, Ping)
    assert parsed.hook_id == 109948940
    assert parsed.repository is None
    assert parsed.hook is not None
    assert parsed.hook.type == "Organization"
    assert parsed.key == ("ping", None)


def test_ping_from_an_app_names_the_app() -> None:
    body = {
        "zen": "Keep it logically awesome.",
        "hook_id": 5,
        "hook": {"id": 5, "type": "App", "app_id": 42},
    }

    parsed = parse_event("ping", body)

    assert isinstance(parsed, Ping)
    assert parsed.hook is not None
    assert parsed.hook.app_id == 42
    assert parsed.sender is None


@pytest.mark.parametrize(
    ("name", "active", "account"),
    [
        ("installation.created.1.json", True, "Codertocat"),
        ("installation.deleted.0.json", False, "octocat"),
        ("installation.suspend.5.json", False, "Codertocat"),
        ("installation.unsuspend.6.json", True, "Codertocat"),
        ("installation.new_permissions_accepted.4.json", True, "Codertocat"),
    ],
)
def test_installation_events_say_whether_the_guard_may_act(
    name: str, active: bool, account: str
) -> None:
    parsed = parse_event("installation", load(name))

    assert isinstance(parsed, InstallationChanged)
    assert parsed.active is active
    assert parsed.installation.account.login == account
    assert parsed.installation_id == parsed.installation.id


def test_installation_created_lists_its_repositories() -> None:
    parsed = parse_event("installation", load("installation.created.1.json"))

    assert isinstance(parsed, InstallationChanged)
    assert [repo.full_name for repo in parsed.repositories] == ["Codertocat/Hello-World"]
    assert parsed.installation.id == 957387


def test_workflow_run_completed() -> None:
    parsed = parse_event("workflow_run", load("workflow_run.completed.1.json"))

    assert isinstance(parsed, WorkflowRunEvent)
    assert parsed.action == "completed"
    assert parsed.workflow_run.conclusion == "success"
    assert parsed.workflow_run.path == ".github/workflows/test.yml"
    assert parsed.workflow_run.run_attempt == 1


def test_issue_comment_on_an_incident_issue_and_on_a_pull_request() -> None:
    on_issue = parse_event("issue_comment", load("issue_comment.created.0.json"))
    on_pull = parse_event("issue_comment", load("issue_comment.created.1.json"))

    assert isinstance(on_issue, IssueCommentCreated)
    assert isinstance(on_pull, IssueCommentCreated)
    assert on_issue.comment.body == "/guard rollback"
    assert on_issue.comment.user.login == "Codertocat"
    assert on_issue.comment.author_association == "OWNER"
    assert on_issue.issue.is_pull_request is False
    assert [label.name for label in on_issue.issue.labels] == ["incident"]
    assert on_pull.issue.is_pull_request is True
    assert on_pull.comment.body.startswith("/guard allow ")


def test_unknown_event_is_ignored_with_the_reason() -> None:
    parsed = parse_event("push", load("push.none.0.json"))

    assert parsed == Ignored("push", None, "the guard does not act on push events")
    assert str(parsed) == "ignored: the guard does not act on push events"


def test_unknown_action_of_a_known_event_is_ignored() -> None:
    body = load("workflow_run.completed.1.json")
    body["action"] = "archived"

    parsed = parse_event("workflow_run", body)

    assert isinstance(parsed, Ignored)
    assert parsed.key == ("workflow_run", "archived")
    assert str(parsed) == "ignored: the guard does not act on workflow_run.archived"


def test_extra_fields_are_ignored() -> None:
    body = load("deployment.created.0.json")
    body["something_new"] = {"nested": True}
    body["deployment"]["brand_new_field"] = 1

    assert isinstance(parse_event("deployment", body), DeploymentCreated)


def test_models_are_read_only() -> None:
    parsed = parse_event("deployment", load("deployment.created.0.json"))
    assert isinstance(parsed, DeploymentCreated)

    with pytest.raises(ValidationError):
        parsed.deployment.sha = "0" * 40  # type: ignore[misc]


@pytest.mark.parametrize(
    ("event", "body", "message"),
    [
        ("deployment", b"{not json", "deployment: the body is not JSON (Expecting property name"),
        ("deployment", b"\xff\xfe\xfa", "deployment: the body is not"),
        ("deployment", b"[1, 2]", "deployment: the body is a JSON array, not an object"),
        ("deployment", b'"text"', "deployment: the body is a JSON string, not an object"),
        ("workflow_run", b'{"workflow_run": {}}', "workflow_run: the body has no action"),
        # GHES 3.1-3.5 send deployments without an action: read as created, then checked.
        ("deployment", b'{"deployment": {}}', "deployment.created: deployment.id: Field required"),
        ("deployment", b'{"action": 3}', "deployment: action is a number, not a string"),
        ("", b"{}", "the delivery names no event (X-GitHub-Event is empty)"),
    ],
)
def test_bodies_that_are_not_an_event(event: str, body: bytes, message: str) -> None:
    with pytest.raises(EventShapeError) as caught:
        parse_event(event, body)

    assert str(caught.value).startswith(message)


def test_a_missing_field_is_named_by_its_path() -> None:
    body = load("deployment_status.created.0.json")
    del body["deployment"]["sha"]

    with pytest.raises(EventShapeError) as caught:
        parse_event("deployment_status", body)

    assert str(caught.value) == "deployment_status.created: deployment.sha: Field required"


def test_an_unknown_deployment_state_is_a_shape_error() -> None:
    body = load("deployment_status.created.0.json")
    body["deployment_status"]["state"] = "exploded"

    with pytest.raises(EventShapeError) as caught:
        parse_event("deployment_status", body)

    assert str(caught.value).startswith(
        "deployment_status.created: deployment_status.state: Input should be 'error', "
    )


def test_many_errors_are_summarised_after_the_first_three() -> None:
    body = {"action": "created", "deployment": {"id": "x"}, "repository": [], "sender": 5}

    with pytest.raises(EventShapeError) as caught:
        parse_event("deployment", body)

    message = str(caught.value)
    assert message.startswith("deployment.created: deployment.id: Input should be a valid integer")
    assert message.count(";") == 2
    assert message.endswith("more)")
    assert "\n" not in message


def test_list_positions_appear_in_paths() -> None:
    body = load("installation.created.1.json")
    body["repositories"][0]["id"] = "not a number"

    with pytest.raises(EventShapeError) as caught:
        parse_event("installation", body)

    assert str(caught.value).startswith("installation.created: repositories[0].id: ")
