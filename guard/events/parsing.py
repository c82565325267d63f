"""Turns a delivery's body into the event model the guard reads, or says why it is ignored."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, ValidationError

from guard.events.deployment import DeploymentCreated
from guard.events.deployment_protection_rule import DeploymentProtectionRuleRequested
from guard.events.deployment_status import DeploymentStatusCreated
from guard.events.installation import InstallationChanged
from guard.events.issue_comment import IssueCommentCreated
from guard.events.ping import Ping
from guard.events.workflow_run import WorkflowRunEvent

ParsedEvent: TypeAlias = (
    DeploymentCreated
    | DeploymentStatusCreated
    | DeploymentProtectionRuleRequested
    | InstallationChanged
    | IssueCommentCreated
    | Ping
    | WorkflowRunEvent
)

# (X-GitHub-Event, action) -> the model of that body. None stands for events without actions.
# Anything not listed is acknowledged and ignored, with the reason recorded.
EVENT_MODELS: Mapping[tuple[str, str | None], type[ParsedEvent]] = {
    ("deployment", "created"): DeploymentCreated,
    ("deployment_status", "created"): DeploymentStatusCreated,
    ("deployment_protection_rule", "requested"): DeploymentProtectionRuleRequested,
    ("installation", "created"): InstallationChanged,
    ("installation", "deleted"): InstallationChanged,
    ("installation", "suspend"): InstallationChanged,
    ("installation", "unsuspend"): InstallationChanged,
    ("installation", "new_permissions_accepted"): InstallationChanged,
    ("issue_comment", "created"): IssueCommentCreated,
    ("ping", None): Ping,
    ("workflow_run", "requested"): WorkflowRunEvent,
    ("workflow_run", "in_progress"): WorkflowRunEvent,
    ("workflow_run", "completed"): WorkflowRunEvent,
}

# The events an App running the guard subscribes to.
SUBSCRIBED_EVENTS = frozenset(event for event, _ in EVENT_MODELS)
_EVENTS_WITHOUT_ACTION = frozenset(event for event, action in EVENT_MODELS if action is None)
# Events whose only action older GHES releases leave out of the body.
_IMPLIED_ACTIONS: Mapping[str, str] = {"deployment": "created", "deployment_status": "created"}
# How many validation errors an EventShapeError names before it summarises the rest.
_ERRORS_SHOWN = 3


class _Envelope(BaseModel):
    """Only a body's action: pydantic reads it from the raw JSON, skipping everything else."""

    model_config = ConfigDict(extra="ignore")

    action: str | None = None


class EventShapeError(ValueError):
    """A body that is not the shape its event promises; the message says what was wrong."""


@dataclass(frozen=True)
class Ignored:
    """A delivery the guard acknowledges without acting on it, and why."""

    event: str
    action: str | None
    reason: str

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.event, self.action)

    def __str__(self) -> str:
        return f"ignored: {self.reason}"


def parse_event(event_name: str, payload: bytes | str | Mapping[str, Any]) -> ParsedEvent | Ignored:
    """Parse one delivery: its `X-GitHub-Event` header and its raw (or decoded) JSON body.

    Raises EventShapeError when the body is not JSON, not an object, or not the shape of
    an event the guard acts on. Events and actions it does not act on come back as Ignored.
    """
    if not event_name:
        raise EventShapeError("the delivery names no event (X-GitHub-Event is empty)")
    if not isinstance(payload, Mapping):
        parsed = _parse_raw(event_name, payload)
        if parsed is not None:
            return parsed
    body = _decode(event_name, payload)
    raw_action = body.get("action")
    if event_name in _EVENTS_WITHOUT_ACTION:
        action = None
    elif raw_action is None and event_name in _IMPLIED_ACTIONS:
        # GitHub Enterprise Server 3.1-3.5 send these events without an `action`; they have
        # only ever had one action, so its absence means that one.
        action = _IMPLIED_ACTIONS[event_name]
    elif raw_action is None or isinstance(raw_action, str):
        action = raw_action
    else:
        raise EventShapeError(f"{event_name}: action is a {_json_type(raw_action)}, not a string")

    if event_name not in SUBSCRIBED_EVENTS:
        return Ignored(event_name, action, f"the guard does not act on {event_name} events")
    model = EVENT_MODELS.get((event_name, action))
    if model is None:
        if action is None:
            raise EventShapeError(f"{event_name}: the body has no action")
        return Ignored(event_name, action, f"the guard does not act on {event_name}.{action}")
    if raw_action is None and action is not None:
        body = {**body, "action": action}
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise EventShapeError(_describe(_label(event_name, action), exc)) from None


def _parse_raw(event_name: str, payload: bytes | str) -> ParsedEvent | Ignored | None:
    """The common case straight from the raw JSON, without building the whole body as Python
    objects (a webhook request's largest parsing cost). None for anything else (a body that
    is not a valid event, an action left out): `parse_event` then decodes the body and
    answers as before, with the same models and the same messages.
    """
    try:
        action = _Envelope.model_validate_json(payload).action
    except ValidationError:
        return None
    if event_name in _EVENTS_WITHOUT_ACTION:
        action = None
    elif action is None:
        return None
    if event_name not in SUBSCRIBED_EVENTS:
        return Ignored(event_name, action, f"the guard does not act on {event_name} events")
    model = EVENT_MODELS.get((event_name, action))
    if model is None:
        return Ignored(event_name, action, f"the guard does not act on {event_name}.{action}")
    try:
        return model.model_validate_json(payload)
    except ValidationError:
        return None


def _decode(event_name: str, payload: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(payload, Mapping):
        return payload
    try:
        decoded = json.loads(payload)
    except UnicodeDecodeError:
        raise EventShapeError(f"{event_name}: the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise EventShapeError(
            f"{event_name}: the body is not JSON ({exc.msg} at {where})"
        ) from None
    if not isinstance(decoded, dict):
        raise EventShapeError(
            f"{event_name}: the body is a JSON {_json_type(decoded)}, not an object"
        )
    return decoded


def _label(event_name: str, action: str | None) -> str:
    return event_name if action is None else f"{event_name}.{action}"


def _describe(label: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(f"{_path(error['loc'])}: {error['msg']}" for error in errors[:_ERRORS_SHOWN])
    hidden = len(errors) - _ERRORS_SHOWN
    more = f" (and {hidden} more)" if hidden > 0 else ""
    return f"{label}: {shown}{more}"


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(body)"


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
