"""Every recorded webhook payload in tests/fixtures/webhooks parses: add a payload, get a test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from guard.events import EVENT_MODELS, SUBSCRIBED_EVENTS, Ignored, parse_event

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
SCHEMAS = FIXTURES / "schemas" / "events.schema.json"
# Payloads written by hand (see the README there); they must still match GitHub's schema.
HAND_MADE = ("deployment_protection_rule.requested.0.json",)


def _payload_files() -> list[Path]:
    # Sub-folders hold GHES variants (ghes-3.14/...); `schemas` holds no payloads.
    return sorted(
        path
        for path in FIXTURES.rglob("*.json")
        if "schemas" not in path.relative_to(FIXTURES).parts
    )


PAYLOADS = _payload_files()


def _expected_key(path: Path) -> tuple[str, str | None]:
    event, action, _ = path.name.split(".", 2)
    return event, None if action == "none" else action


def _get(raw: dict[str, Any], *keys: str) -> Any:
    value: Any = raw
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def test_the_fixtures_cover_every_event_the_guard_acts_on() -> None:
    covered = {_expected_key(path)[0] for path in PAYLOADS}
    assert covered >= SUBSCRIBED_EVENTS
    assert len(PAYLOADS) >= 40


@pytest.mark.parametrize(
    "path", PAYLOADS, ids=[str(path.relative_to(FIXTURES)) for path in PAYLOADS]
)
def test_payload_parses(path: Path) -> None:
    body = path.read_bytes()
    raw = json.loads(body)
    key = _expected_key(path)
    event = key[0]

    parsed = parse_event(event, body)

    if key not in EVENT_MODELS:
        assert isinstance(parsed, Ignored)
        assert parsed.key == key
        assert event in parsed.reason
        return
    assert isinstance(parsed, EVENT_MODELS[key])
    assert not isinstance(parsed, Ignored)
    assert parsed.key == key
    assert parsed.installation_id == _get(raw, "installation", "id")
    repository = getattr(parsed, "repository", None)
    if repository is not None:
        assert repository.id == raw["repository"]["id"]
        assert repository.full_name == raw["repository"]["full_name"]
        assert repository.owner_login == raw["repository"]["owner"]["login"]
        assert repository.default_branch == raw["repository"]["default_branch"]
        assert repository.html_url == raw["repository"]["html_url"]
    sender = getattr(parsed, "sender", None)
    if sender is not None:
        assert sender.login == raw["sender"]["login"]
    deployment = getattr(parsed, "deployment", None)
    if deployment is not None:
        raw_deployment = raw["deployment"]
        assert deployment.id == raw_deployment["id"]
        assert deployment.sha == raw_deployment["sha"]
        assert deployment.ref == raw_deployment["ref"]
        assert deployment.environment == raw_deployment["environment"]
        assert deployment.task == raw_deployment["task"]
        assert deployment.statuses_url == raw_deployment["statuses_url"]
        assert deployment.url == raw_deployment["url"]
        assert deployment.creator_login == raw_deployment["creator"]["login"]
        assert deployment.created_at.isoformat().startswith(raw_deployment["created_at"][:19])


@pytest.mark.parametrize("name", HAND_MADE)
def test_hand_made_payloads_match_githubs_schema(name: str) -> None:
    definitions = json.loads(SCHEMAS.read_text(encoding="utf-8"))["definitions"]
    event, action = _expected_key(FIXTURES / name)
    schema = {"$ref": f"#/definitions/{event}${action}", "definitions": definitions}
    payload = json.loads((FIXTURES / name).read_text(encoding="utf-8"))

    errors = [
        f"{list(error.absolute_path)}: {error.message}"
        for error in Draft7Validator(schema).iter_errors(payload)
    ]

    assert errors == []
