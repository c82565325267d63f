"""The incident's labels and their colours: policy labels, severity:P1, env:NAME and our own."""

from __future__ import annotations

from collections.abc import Iterable

from guard.outcomes import Severity

# Every incident carries it; a retry looks for the marker among issues with this label.
GUARD_LABEL = "deploy-guard"
# GitHub refuses label names longer than this.
LABEL_LIMIT = 50

SEVERITY_COLOURS = {
    Severity.P0: "b60205",
    Severity.P1: "d93f0b",
    Severity.P2: "fbca04",
    Severity.P3: "c5def5",
}
ENVIRONMENT_COLOUR = "1d76db"
GUARD_COLOUR = "5319e7"
# Labels the policy or template names: GitHub's red for "incident"-like labels.
POLICY_COLOUR = "d73a4a"


def severity_label(severity: Severity) -> str:
    return f"severity:{severity.value}"


def environment_label(environment: str) -> str:
    return f"env:{environment}"[:LABEL_LIMIT]


def incident_labels(
    configured: Iterable[str], severity: Severity, environment: str
) -> dict[str, str]:
    """Label name -> colour, in the order they are put on the issue, without duplicates."""
    labels: dict[str, str] = {}
    seen: set[str] = set()
    named = [(name.strip(), POLICY_COLOUR) for name in configured]
    ours = [
        (severity_label(severity), SEVERITY_COLOURS[severity]),
        (environment_label(environment), ENVIRONMENT_COLOUR),
        (GUARD_LABEL, GUARD_COLOUR),
    ]
    for name, colour in [*named, *ours]:
        # GitHub's label names are case-insensitive.
        if name and name.lower() not in seen:
            seen.add(name.lower())
            labels[name[:LABEL_LIMIT]] = colour
    return labels
