"""The GitHub App manifest agrees with the service: the events it handles, the permissions it
explains."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from guard.events.parsing import SUBSCRIBED_EVENTS
from guard.handlers import HANDLERS
from guard.handlers.later import handled_later

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "infra" / "github-app" / "manifest.json"
DOCS = ROOT / "docs" / "github-app.md"
# GitHub sends these to every App without a subscription (and refuses them in a manifest).
ALWAYS_DELIVERED = frozenset({"installation", "ping"})
# GitHub's access levels for an App permission.
LEVELS = {"read", "write"}


def manifest() -> dict[str, Any]:
    loaded = json.loads(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def handled_events() -> set[str]:
    """Events with at least one route to a handler that acts (not "later")."""
    return {event for (event, _), handler in HANDLERS.items() if handler is not handled_later}


def test_the_manifest_subscribes_to_exactly_the_events_the_service_handles() -> None:
    events = set(manifest()["default_events"])

    assert events == handled_events() - ALWAYS_DELIVERED
    assert events <= SUBSCRIBED_EVENTS
    assert not events & ALWAYS_DELIVERED


def test_every_routed_event_is_one_the_parser_knows() -> None:
    assert {event for event, _ in HANDLERS} == SUBSCRIBED_EVENTS


def test_the_events_are_listed_once_and_sorted() -> None:
    events = manifest()["default_events"]

    assert events == sorted(set(events))


def test_the_app_is_private_and_points_at_the_placeholder_service() -> None:
    data = manifest()

    assert data["public"] is False
    assert data["hook_attributes"] == {
        "url": "https://deploy-guard.example.com/webhook",
        "active": True,
    }
    assert data["redirect_url"].startswith("https://deploy-guard.example.com/")
    assert data["name"] == "deploy-guard"
    assert data["url"].startswith("https://")


def test_the_permissions_are_the_least_the_guard_needs() -> None:
    permissions = manifest()["default_permissions"]

    assert permissions == {
        "actions": "write",
        "checks": "write",
        "contents": "write",
        "deployments": "write",
        "issues": "write",
        "metadata": "read",
        "pull_requests": "write",
    }
    assert set(permissions.values()) <= LEVELS
    # Deliberately absent: see "Not requested" in docs/github-app.md.
    assert "workflows" not in permissions
    assert "statuses" not in permissions


def test_the_docs_say_why_for_every_permission_and_event() -> None:
    text = DOCS.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (read|write) \|", text, flags=re.MULTILINE))

    assert rows == manifest()["default_permissions"]
    for event in manifest()["default_events"]:
        assert f"| `{event}` |" in text
    for skipped in ("statuses", "workflows"):
        assert f"**`{skipped}`**" in text


def test_the_docs_link_the_manifest_that_exists() -> None:
    text = DOCS.read_text(encoding="utf-8")

    assert "(../infra/github-app/manifest.json)" in text
    assert MANIFEST.is_file()
