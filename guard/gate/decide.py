"""The gate's decision: may a deployment to this environment go ahead now, and why (not).

Pure: it is given what the database and the policy say, and the time, and answers with a
state and one sentence with a link. The first rule that holds decides, in this order:
an unreadable policy, a known-bad commit, an open incident, a ChatOps freeze, a freeze window.
The guard's own rollbacks pass every rule but the known-bad commit: they restore a state the
guard verified, which is what an incident or a freeze is waiting for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from guard.gate.freeze import Window, WindowError, describe_end
from guard.policy.models import Gate

GateState = Literal["approved", "rejected"]

ROLLBACK = (
    "Approved by deploy-guard: this is its own rollback of deployment {remedied}, which "
    "incidents and freezes never hold back{link}."
)
APPROVED = (
    "Approved by deploy-guard: no open incident, freeze or known-bad commit holds "
    "{environment} back{link}."
)
POLICY_PROBLEM = (
    "Rejected by deploy-guard: {problem}; the gate holds deployments until the policy "
    "can be read{link}."
)
KNOWN_BAD = (
    "Rejected by deploy-guard: commit {sha} failed verification before ({reason}); "
    "comment `/guard allow {sha}` on the incident or a pull request to let it through{link}."
)
INCIDENT_OPEN = (
    "Rejected by deploy-guard: incident {code} ({severity}) on {environment} is still open, "
    "and the policy holds deployments until it is closed{link}."
)
CHATOPS_FREEZE = (
    "Rejected by deploy-guard: {who} froze {environment} {until}; comment "
    "`/guard unfreeze {environment}` to lift it{link}."
)
FREEZE_WINDOW = (
    "Rejected by deploy-guard: {environment} is inside the freeze window {window}, "
    "which ends {ends}{link}."
)
UNTIL_LIFTED = "until someone lifts the freeze"
UNTIL = "until {moment}"
NO_REASON = "no reason recorded"
LINK = ": {url}"


class Rule(StrEnum):
    """Which rule decided; stable words for logs and the timeline."""

    CLEAR = "clear"
    ROLLBACK = "rollback"
    POLICY_PROBLEM = "policy_problem"
    KNOWN_BAD_SHA = "known_bad_sha"
    INCIDENT_OPEN = "incident_open"
    CHATOPS_FREEZE = "chatops_freeze"
    FREEZE_WINDOW = "freeze_window"


@dataclass(frozen=True)
class OpenIncident:
    code: str
    severity: str
    url: str | None = None


@dataclass(frozen=True)
class ActiveFreeze:
    """A `/guard freeze` not lifted and not expired; `url` is the comment that made it."""

    frozen_by: str
    until: datetime | None = None
    url: str | None = None


@dataclass(frozen=True)
class KnownBad:
    sha: str
    reason: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class GateFacts:
    """Everything the decision reads. `gate` is None when no policy covers the environment."""

    environment: str
    gate: Gate | None = None
    policy_problem: str | None = None
    known_bad: KnownBad | None = None
    open_incident: OpenIncident | None = None
    freezes: tuple[ActiveFreeze, ...] = field(default_factory=tuple)
    # Where a reader learns more when the rule itself has no page: the policy file.
    policy_url: str | None = None
    # The GitHub id of the deployment this one rolls back, when a remedy of the guard made it.
    rollback_of: int | None = None


@dataclass(frozen=True)
class GateDecision:
    state: GateState
    rule: Rule
    comment: str

    @property
    def approved(self) -> bool:
        return self.state == "approved"


def _link(url: str | None) -> str:
    return LINK.format(url=url) if url else ""


def _rejected(rule: Rule, comment: str) -> GateDecision:
    return GateDecision("rejected", rule, comment)


def decide(facts: GateFacts, now: datetime) -> GateDecision:
    """Approve or reject, with the sentence GitHub shows on the waiting run."""
    environment = facts.environment
    if facts.rollback_of is not None and facts.known_bad is None:
        return GateDecision(
            "approved",
            Rule.ROLLBACK,
            ROLLBACK.format(remedied=facts.rollback_of, link=_link(facts.policy_url)),
        )
    if facts.policy_problem is not None:
        return _rejected(
            Rule.POLICY_PROBLEM,
            POLICY_PROBLEM.format(problem=facts.policy_problem, link=_link(facts.policy_url)),
        )
    if facts.known_bad is not None:
        bad = facts.known_bad
        return _rejected(
            Rule.KNOWN_BAD_SHA,
            KNOWN_BAD.format(sha=bad.sha[:12], reason=bad.reason or NO_REASON, link=_link(bad.url)),
        )
    gate = facts.gate
    incident = facts.open_incident
    if gate is not None and gate.block_while_incident_open and incident is not None:
        return _rejected(
            Rule.INCIDENT_OPEN,
            INCIDENT_OPEN.format(
                code=incident.code,
                severity=incident.severity,
                environment=environment,
                link=_link(incident.url),
            ),
        )
    if facts.freezes:
        freeze = _longest(facts.freezes)
        until = UNTIL_LIFTED if freeze.until is None else UNTIL.format(moment=_utc(freeze.until))
        return _rejected(
            Rule.CHATOPS_FREEZE,
            CHATOPS_FREEZE.format(
                who=freeze.frozen_by, environment=environment, until=until, link=_link(freeze.url)
            ),
        )
    for policy_window in gate.freeze if gate is not None else ():
        try:
            window = Window.of(policy_window)
        except WindowError as error:
            return _rejected(
                Rule.POLICY_PROBLEM,
                POLICY_PROBLEM.format(problem=str(error), link=_link(facts.policy_url)),
            )
        if window.contains(now):
            return _rejected(
                Rule.FREEZE_WINDOW,
                FREEZE_WINDOW.format(
                    environment=environment,
                    window=window.label,
                    ends=describe_end(window.ends_at(now)),
                    link=_link(facts.policy_url),
                ),
            )
    return GateDecision(
        "approved",
        Rule.CLEAR,
        APPROVED.format(environment=environment, link=_link(facts.policy_url)),
    )


def _longest(freezes: tuple[ActiveFreeze, ...]) -> ActiveFreeze:
    """The freeze that holds longest: one without an end beats any with one."""
    return max(freezes, key=lambda f: (f.until is None, f.until.timestamp() if f.until else 0.0))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC")
