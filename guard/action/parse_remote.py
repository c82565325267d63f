"""The guard service's JSON for one verification, read back into the step's report: the same
verdict, reasons and check rows as a verification in the runner, so one summary serves both."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from guard.action.report import ActionReport
from guard.action.runner_env import Runner
from guard.outcomes import Phase, ProbeResult, ProbeStatus, Reason, Severity, Verdict, VerdictKind
from guard.report.checks import check_rows
from guard.severity import Action, Decision

E = TypeVar("E", bound=StrEnum)

DECIDED_BY_SERVICE = (
    "The guard service acts on this verdict as the repository's policy says; "
    "its page of the verification shows what it did."
)
REMEDY_BY_SERVICE = "The guard service rolled the deployment back."
REMEDY_DONE = "The guard service rolled {environment} back to `{ref}` ({strategy})."
REMEDY_STATES = {
    "claimed": "The guard service is rolling {environment} back ({strategy}).",
    "running": "The guard service is rolling {environment} back ({strategy}).",
    "failed": "The guard service's rollback of {environment} ({strategy}) failed.",
    "skipped": "The guard service only described the rollback ({strategy}): shadow or dry run.",
}
STOPPED = "The guard stopped the verification without a verdict (state: {state})."


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _choice(kind: type[E], value: object) -> E | None:
    """The enum member named by `value`, or None for anything else."""
    try:
        return kind(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _reason(data: dict[str, Any]) -> Reason:
    samples = data.get("samples")
    severity = _choice(Severity, data.get("severity")) or Severity.P1
    return Reason(
        subject=_text(data.get("subject")),
        observed=_text(data.get("observed")),
        condition=_text(data.get("condition")),
        window=_text(data.get("window")),
        samples=samples if isinstance(samples, int) else 0,
        message=_text(data.get("message")),
        severity=severity,
    )


def _result(data: dict[str, Any], order: int) -> ProbeResult | None:
    phase = _choice(Phase, data.get("phase"))
    status = _choice(ProbeStatus, data.get("status"))
    if phase is None or status is None:
        return None
    number = data.get("round")
    latency = data.get("latency_s")
    code = data.get("status_code")
    return ProbeResult(
        name=_text(data.get("name")),
        phase=phase,
        status=status,
        # The API lists results in the order they were taken; that order is all we need.
        at=float(order),
        round=number if isinstance(number, int) else 0,
        latency_s=float(latency) if isinstance(latency, int | float) else None,
        summary=_text(data.get("summary")),
        # The API sends no sentence per result; its summary is what the check saw.
        detail=_text(data.get("summary")),
        status_code=code if isinstance(code, int) else None,
    )


def _verdict(body: dict[str, Any]) -> Verdict | None:
    kind = _choice(VerdictKind, body.get("verdict"))
    if kind is None:
        return None
    severity = _choice(Severity, body.get("severity"))
    entries = [r for r in body.get("reasons") or [] if isinstance(r, dict)]
    reasons = tuple(_reason(r) for r in entries if r.get("kind", "reason") == "reason")
    warnings = tuple(_reason(r) for r in entries if r.get("kind") == "warning")
    return Verdict(kind, reasons, severity, decided_at=0.0, warnings=warnings)


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _remedy_words(remedy: dict[str, Any], environment: str) -> str | None:
    """The remedy in one sentence, as the service reports it (None: it took none)."""
    if not remedy:
        return None
    strategy = _text(remedy.get("strategy")) or "?"
    rolled_back_to = _text(remedy.get("rollback_ref"))
    if rolled_back_to:
        return REMEDY_DONE.format(environment=environment, ref=rolled_back_to, strategy=strategy)
    sentence = REMEDY_STATES.get(_text(remedy.get("state")), REMEDY_BY_SERVICE)
    return sentence.format(environment=environment, strategy=strategy)


def report_from_json(body: dict[str, Any], environment: str, runner: Runner) -> ActionReport:
    """The report of a verification the guard finished (or stopped)."""
    checks = [c for c in body.get("checks") or [] if isinstance(c, dict)]
    results = tuple(r for i, c in enumerate(checks) if (r := _result(c, i)) is not None)
    verdict = _verdict(body)
    links = _object(body, "links")
    deployment = _object(body, "deployment")
    deployment_id = deployment.get("id")
    remedy = _object(body, "remedy")
    incident = _object(body, "incident")
    remedy_url = _text(remedy.get("url")) or _text(links.get("remedy")) or None
    decision = None
    if verdict is not None:
        decision = Decision(Action.RECORD, verdict.severity, False, False, DECIDED_BY_SERVICE)
    return ActionReport(
        environment=environment,
        verdict=verdict,
        decision=decision,
        rows=tuple(check_rows(results)),
        results=results,
        deployment_id=deployment_id if isinstance(deployment_id, int) else None,
        sha=_text(deployment.get("sha")) or runner.sha,
        actions_run_url=runner.run_url,
        guard_run_url=_text(links.get("run")) or None,
        deployments_url=runner.environment_url(environment),
        remedy=_remedy_words(remedy, environment) or (REMEDY_BY_SERVICE if remedy_url else None),
        remedy_url=remedy_url,
        rollback_ref=_text(remedy.get("rollback_ref")) or None,
        incident_url=_text(incident.get("url")) or _text(links.get("incident")) or None,
        problem=None if verdict else STOPPED.format(state=_text(body.get("state"))),
    )
