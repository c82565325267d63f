"""The incident's labels and their colours: policy labels, severity:P1, env:NAME and our own.

GitHub creates the labels an issue names that the repository lacks, grey (`ededed`, no
description), when the issue is filed (github/docs#35718 reports it of the add-labels route;
issue creation does the same). So the guard files the issue with its labels, and afterwards
colours only those of its own that came back grey: one PATCH each, the first time a repository
sees them (`severity:P1`, `env:NAME`, `deploy-guard`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from guard.outcomes import Severity

# Every incident carries it; a retry looks for the marker among issues with this label.
GUARD_LABEL = "deploy-guard"
# GitHub refuses label names longer than this.
LABEL_LIMIT = 50
# A severity as a word of an issue title: "[P1] production: ...", "P1 INC-...: ...".
_SEVERITY_WORD = re.compile(r"\bP[0-3]\b")

SEVERITY_COLOURS = {
    Severity.P0: "b60205",
    Severity.P1: "d93f0b",
    Severity.P2: "fbca04",
    Severity.P3: "c5def5",
}
ENVIRONMENT_COLOUR = "1d76db"
GUARD_COLOUR = "5319e7"
# The colour GitHub gives a label it creates because an issue named it.
GITHUB_GREY = "ededed"
# Labels the policy or template names are the repository's own: usually there already, in
# the colours its people chose. One GitHub creates for the issue stays as GitHub makes it;
# the guard colours only the labels it names itself, whose colours carry meaning (severity).
POLICY_COLOUR = GITHUB_GREY


def severity_label(severity: Severity) -> str:
    return f"severity:{severity.value}"


def retitled(title: str, severity: Severity) -> str:
    """`title` naming `severity` where it named another: its first severity word ("[P1]" in
    the built-in title, "P1" in a template's) is the one rendered from the incident's.

    Unchanged when that word already is `severity` or the title names none, so applying it
    again changes nothing.
    """
    found = _SEVERITY_WORD.search(title)
    if found is None or found.group() == severity.value:
        return title
    return f"{title[: found.start()]}{severity.value}{title[found.end() :]}"


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


def grey_labels_to_colour(wanted: Mapping[str, str], answered: Mapping[str, str]) -> dict[str, str]:
    """The labels the issue came back with in GitHub's grey (it created them for the issue)
    that the guard has a colour for: name -> that colour."""
    colours = {name.lower(): colour.lstrip("#").lower() for name, colour in wanted.items()}
    return {
        name: colours[name.lower()]
        for name, colour in answered.items()
        if colour.lower() == GITHUB_GREY and colours.get(name.lower(), GITHUB_GREY) != GITHUB_GREY
    }
