"""A raw body is parsed straight from its JSON: the same models and messages as from a dict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guard.events import EVENT_MODELS, EventShapeError, Ignored, parse_event
from guard.events.parsing import _parse_raw

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
PAYLOADS = sorted(
    path for path in FIXTURES.rglob("*.json") if "schemas" not in path.relative_to(FIXTURES).parts
)


def _event(path: Path) -> str:
    return path.name.split(".", 1)[0]


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_every_fixture_parses_the_same_from_its_bytes_and_from_a_dict(path: Path) -> None:
    body = path.read_bytes()
    event = _event(path)

    from_bytes = parse_event(event, body)
    from_dict = parse_event(event, json.loads(body))

    assert from_bytes == from_dict
    assert type(from_bytes) is type(from_dict)
    if not isinstance(from_bytes, Ignored) and not isinstance(from_dict, Ignored):
        # What the request stores for the jobs process: the fields given, by alias.
        assert from_bytes.model_dump_json(by_alias=True, exclude_unset=True) == (
            from_dict.model_dump_json(by_alias=True, exclude_unset=True)
        )


# Bodies that say their action, or events without one: the raw path parses these itself. The
# others (GHES's deployment events without an action) are decoded as a dict, by design.
WITH_ACTION = [
    path
    for path in PAYLOADS
    if json.loads(path.read_bytes()).get("action") is not None
    or (_event(path), None) in EVENT_MODELS
]


def test_most_fixtures_take_the_raw_path() -> None:
    assert len(WITH_ACTION) > len(PAYLOADS) // 2


@pytest.mark.parametrize("path", WITH_ACTION, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_fixtures_with_their_action_take_the_raw_path(path: Path) -> None:
    body = path.read_bytes()
    event = _event(path)

    assert _parse_raw(event, body) == parse_event(event, json.loads(body))


DEPLOYMENT_STATUS = (FIXTURES / "deployment_status.created.0.json").read_bytes()


def _changed(**top: object) -> bytes:
    payload = json.loads(DEPLOYMENT_STATUS)
    payload.update(top)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("event", "body"),
    [
        ("deployment_status", b"not json"),
        ("deployment_status", b"[1, 2]"),
        ("deployment_status", b"\xff\xfe"),
        ("deployment_status", _changed(action=7)),
        ("deployment_status", _changed(deployment_status={"state": "sunny"})),
        ("deployment_status", _changed(repository=None, sender=3)),
        ("issue_comment", _changed(action=None)),
    ],
    ids=["not-json", "array", "not-utf8", "action-number", "bad-state", "bad-fields", "no-action"],
)
def test_a_bad_body_gets_the_same_message_either_way(event: str, body: bytes) -> None:
    with pytest.raises(EventShapeError) as from_bytes:
        parse_event(event, body)
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        # No dict to compare with: the raw path gave up, and the decoding says why.
        assert "the body is" in str(from_bytes.value)
        return
    with pytest.raises(EventShapeError) as from_dict:
        parse_event(event, decoded)

    assert str(from_bytes.value) == str(from_dict.value)
