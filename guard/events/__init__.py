"""Webhook payloads as minimal pydantic models: the guard parses only the fields it reads."""

from guard.events.common import Account, InstallationRef, Repository, WebhookEvent
from guard.events.deployment import Deployment, DeploymentCreated
from guard.events.deployment_protection_rule import DeploymentProtectionRuleRequested
from guard.events.deployment_status import (
    DeploymentState,
    DeploymentStatus,
    DeploymentStatusCreated,
)
from guard.events.installation import Installation, InstallationChanged
from guard.events.issue_comment import Comment, Issue, IssueCommentCreated
from guard.events.parsing import (
    EVENT_MODELS,
    SUBSCRIBED_EVENTS,
    EventShapeError,
    Ignored,
    ParsedEvent,
    parse_event,
)
from guard.events.ping import Ping
from guard.events.workflow_run import WorkflowRun, WorkflowRunEvent

__all__ = [
    "EVENT_MODELS",
    "SUBSCRIBED_EVENTS",
    "Account",
    "Comment",
    "Deployment",
    "DeploymentCreated",
    "DeploymentProtectionRuleRequested",
    "DeploymentState",
    "DeploymentStatus",
    "DeploymentStatusCreated",
    "EventShapeError",
    "Ignored",
    "Installation",
    "InstallationChanged",
    "InstallationRef",
    "Issue",
    "IssueCommentCreated",
    "ParsedEvent",
    "Ping",
    "Repository",
    "WebhookEvent",
    "WorkflowRun",
    "WorkflowRunEvent",
    "parse_event",
]
