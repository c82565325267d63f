"""Undo a failed deployment through GitHub (or AWS): redeploy, revert, revert PR, workflow, AWS.

The one entry point is `execute_remedy(RemedyContext(...), RemedyRequest(...))`; the
verification worker calls it from its `on_verdict` hook and `deploy-guard rollback` by hand.
"""

from guard.remedies.models import (
    FailedDeployment,
    OutcomeKind,
    RemedyContext,
    RemedyOutcome,
    RemedyRequest,
    Target,
)
from guard.remedies.runner import execute_remedy
from guard.remedies.workflow import adopt_rollback_deployment

__all__ = [
    "FailedDeployment",
    "OutcomeKind",
    "RemedyContext",
    "RemedyOutcome",
    "RemedyRequest",
    "Target",
    "adopt_rollback_deployment",
    "execute_remedy",
]
