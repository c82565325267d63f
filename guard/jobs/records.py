"""The rows a verification job reads and writes; each write is one guarded transaction.

Every state change is a conditional UPDATE on what the step expects to find (round n-1
recorded, smoke not yet recorded, the state still open), so a step that two workers run,
or one worker runs twice, takes effect once: the loser's rowcount is 0 and it rolls back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guard.outcomes import PROBE_RESULT_FIELDS, ProbeResult, Verdict
from guard.severity import Decision
from guard.store import (
    Deployment,
    ProbeResultRow,
    TimelineEvent,
    Verification,
    VerificationState,
    insert_timeline_event,
)
from guard.verification import Finished, RunRound, VerificationPlan
from guard.verification import Verification as Engine

OPEN_STATES = (VerificationState.QUEUED, VerificationState.SMOKE, VerificationState.WATCHING)
FINAL_STATES = (
    VerificationState.FINISHED,
    VerificationState.SUPERSEDED,
    VerificationState.ERROR,
)
STEP_FAILED = "step_failed"
# Timestamps are stored to the microsecond, the clock is a float: a start time read back may
# be a hair later than the clock's reading at that moment, which the engine would refuse.
STORED_TIME_SLACK_S = 1e-6


def moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def seconds(at: datetime) -> float:
    return at.timestamp()


def _changed(session: Session, statement: sa.Update) -> bool:
    result = cast("CursorResult[tuple[()]]", session.execute(statement))
    return result.rowcount == 1


def _update(verification_id: int, *conditions: Any) -> sa.Update:
    return (
        sa.update(Verification)
        .where(Verification.id == verification_id, *conditions)
        .execution_options(synchronize_session=False)
    )


def find_deployment(session: Session, github_id: int) -> Deployment | None:
    """The deployment row of a GitHub deployment id (ids are unique within one GitHub)."""
    rows = session.scalars(
        sa.select(Deployment).where(Deployment.github_id == github_id).order_by(Deployment.id)
    ).all()
    return rows[-1] if rows else None


def latest_verification(session: Session, deployment_id: int) -> Verification | None:
    return session.scalars(
        sa.select(Verification)
        .where(Verification.deployment_id == deployment_id)
        .order_by(Verification.attempt.desc())
        .limit(1)
    ).first()


def open_verification(session: Session, deployment: Deployment, now: datetime) -> Verification:
    """The deployment's latest verification; its first one is created on the first call.

    Two start jobs of one deployment race to insert attempt 1; UNIQUE(deployment, attempt)
    lets one win and the other find the winner's row.
    """
    existing = latest_verification(session, deployment.id)
    if existing is not None:
        return existing
    row = Verification(
        deployment_id=deployment.id,
        attempt=1,
        environment=deployment.environment,
        state=VerificationState.QUEUED,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = latest_verification(session, deployment.id)
        if found is None:
            raise
        return found
    return row


# The statements of every watch round, built once: building them cost more than running them.
_LOAD = (
    sa.select(Verification, Deployment)
    .join(Deployment, Deployment.id == Verification.deployment_id)
    .where(Verification.id == sa.bindparam("load_verification"))
    .execution_options(populate_existing=True)
)
_VERIFICATIONS = cast("sa.Table", Verification.__table__)
_RESULTS = cast("sa.Table", ProbeResultRow.__table__)
# A verification's results as plain rows: a claim whose process does not hold the engine
# rebuilds it from them, and ORM objects (identity map, instance state) cost more than that.
_STORED_RESULTS = (
    sa.select(*(_RESULTS.c[name] for name in PROBE_RESULT_FIELDS))
    .where(_RESULTS.c.verification_id == sa.bindparam("results_of"))
    .order_by(_RESULTS.c.round, _RESULTS.c.id)
)
_INSERT_RESULTS = sa.insert(_RESULTS)
_STORE_ROUND = (
    sa.update(_VERIFICATIONS)
    .where(
        _VERIFICATIONS.c.id == sa.bindparam("round_verification"),
        _VERIFICATIONS.c.rounds_done == sa.bindparam("round_before"),
        _VERIFICATIONS.c.state == VerificationState.WATCHING,
        _VERIFICATIONS.c.verdict.is_(None),
    )
    .values(
        rounds_done=sa.bindparam("round_number"),
        next_round_at=sa.bindparam("round_next_at"),
    )
)


def load(session: Session, verification_id: int) -> tuple[Verification, Deployment] | None:
    """The verification and its deployment as the database has them now."""
    found = session.execute(_LOAD, {"load_verification": verification_id}).first()
    if found is None:
        return None
    row, deployment = found
    return row, deployment


def stored_results(session: Session, verification_id: int) -> list[ProbeResult]:
    rows = session.execute(_STORED_RESULTS, {"results_of": verification_id})
    return [ProbeResult(**row._mapping) for row in rows]


def restore_engine(row: Verification, results: Sequence[ProbeResult]) -> Engine:
    """The engine state the stored rows stand for: the results are the truth, not a copy."""
    if row.plan is None or row.started_at is None:
        raise ValueError(f"verification {row.id} has no plan yet")
    return Engine.restore(
        VerificationPlan.from_dict(row.plan),
        seconds(row.started_at) - STORED_TIME_SLACK_S,
        results,
        seconds(row.smoke_recorded_at) if row.smoke_recorded_at else None,
        row.rounds_done,
    )


def note(
    session: Session,
    kind: str,
    message: str,
    *,
    at: datetime,
    verification_id: int | None = None,
    deployment_id: int | None = None,
) -> None:
    insert_timeline_event(
        session,
        kind,
        message,
        deployment_id=deployment_id,
        verification_id=verification_id,
        at=at,
    )


def note_once(
    session: Session,
    kind: str,
    message: str,
    *,
    at: datetime,
    verification_id: int | None = None,
    deployment_id: int | None = None,
) -> bool:
    """Note an event unless one of its kind is there already (steps that may run again)."""
    subject = (
        TimelineEvent.verification_id == verification_id
        if verification_id is not None
        else TimelineEvent.deployment_id == deployment_id
    )
    seen = session.scalar(
        sa.select(TimelineEvent.id).where(subject, TimelineEvent.kind == kind).limit(1)
    )
    if seen is not None:
        return False
    note(
        session,
        kind,
        message,
        at=at,
        verification_id=verification_id,
        deployment_id=deployment_id,
    )
    return True


def decision_dict(decision: Decision, mode: str) -> dict[str, Any]:
    return {
        "action": decision.action.value,
        "severity": decision.severity.value if decision.severity else None,
        "shadow": decision.shadow,
        "escalated": decision.escalated,
        "rolls_back": decision.rolls_back,
        "files_incident": decision.files_incident,
        "explanation": decision.explanation,
        "mode": mode,
    }


def verdict_columns(
    verdict: Verdict, decision: Decision, mode: str, at: datetime
) -> dict[str, Any]:
    """The verdict's columns: reasons first, then warnings, each marked with its kind."""
    reasons = [{**reason.as_dict(), "kind": "reason"} for reason in verdict.reasons]
    reasons += [{**warning.as_dict(), "kind": "warning"} for warning in verdict.warnings]
    return {
        "verdict": verdict.kind,
        "verdict_at": at,
        "severity": decision.severity,
        "reasons": reasons,
        "decision": decision_dict(decision, mode),
    }


def next_round_at(engine: Engine, now: float) -> datetime | None:
    step = engine.next_step(now)
    return moment(step.due_at) if isinstance(step, RunRound) else None


def mark_prepared(
    session: Session,
    verification_id: int,
    plan: VerificationPlan,
    *,
    policy_ref: str,
    policy_sha: str,
    now: datetime,
) -> bool:
    """queued -> smoke: the plan and the commit of the policy it came from are fixed now."""
    return _changed(
        session,
        _update(verification_id, Verification.state == VerificationState.QUEUED).values(
            state=VerificationState.SMOKE,
            plan=plan.to_dict(),
            policy_ref=policy_ref,
            policy_sha=policy_sha,
            rounds_planned=plan.rounds_planned,
            started_at=now,
        ),
    )


def store_check_run_id(session: Session, verification_id: int, check_run_id: int) -> bool:
    return _changed(
        session,
        _update(verification_id, Verification.check_run_id.is_(None)).values(
            check_run_id=check_run_id
        ),
    )


def _add_results(session: Session, verification_id: int, results: Sequence[ProbeResult]) -> None:
    if results:
        values = [ProbeResultRow.values_of(verification_id, result) for result in results]
        session.execute(_INSERT_RESULTS, values)


def store_smoke(
    session: Session,
    verification_id: int,
    *,
    results: Sequence[ProbeResult],
    engine: Engine,
    verdict: dict[str, Any] | None,
    now: float,
) -> bool:
    """The smoke results and the state they lead to, together, unless they are stored already."""
    assert engine.smoke_recorded_at is not None
    changed = _changed(
        session,
        _update(
            verification_id,
            Verification.smoke_recorded_at.is_(None),
            Verification.state == VerificationState.SMOKE,
        ).values(
            smoke_recorded_at=moment(engine.smoke_recorded_at),
            state=VerificationState.WATCHING,
            next_round_at=next_round_at(engine, now),
            **(verdict or {}),
        ),
    )
    if changed:
        _add_results(session, verification_id, results)
    return changed


def store_round(
    session: Session,
    verification_id: int,
    *,
    number: int,
    results: Sequence[ProbeResult],
    engine: Engine,
    verdict: dict[str, Any] | None,
    now: float,
) -> bool:
    """Round `number`'s results and the state they lead to, only if round number-1 is the last."""
    if verdict is None:
        # The common case, an ordinary round, on its prebuilt statement.
        parameters = {
            "round_verification": verification_id,
            "round_before": number - 1,
            "round_number": number,
            "round_next_at": next_round_at(engine, now),
        }
        result = cast("CursorResult[tuple[()]]", session.execute(_STORE_ROUND, parameters))
        if result.rowcount == 1:
            _add_results(session, verification_id, results)
        return result.rowcount == 1
    changed = _changed(
        session,
        _update(
            verification_id,
            Verification.rounds_done == number - 1,
            Verification.state == VerificationState.WATCHING,
            Verification.verdict.is_(None),
        ).values(
            rounds_done=number,
            next_round_at=next_round_at(engine, now),
            **(verdict or {}),
        ),
    )
    if changed:
        _add_results(session, verification_id, results)
    return changed


def store_verdict(session: Session, verification_id: int, verdict: dict[str, Any]) -> bool:
    """A verdict reached without new results (a plan that checks nothing)."""
    return _changed(
        session,
        _update(
            verification_id,
            Verification.verdict.is_(None),
            Verification.state.in_(OPEN_STATES),
        ).values(next_round_at=None, **verdict),
    )


def conclude(
    session: Session, verification_id: int, state: VerificationState, now: datetime
) -> bool:
    """Move an open verification to a final state; False when it was final already."""
    assert state in FINAL_STATES
    return _changed(
        session,
        _update(verification_id, Verification.state.in_(OPEN_STATES)).values(
            state=state, finished_at=now, next_round_at=None
        ),
    )


def failed_steps(session: Session, verification_id: int) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count(TimelineEvent.id)).where(
                TimelineEvent.verification_id == verification_id, TimelineEvent.kind == STEP_FAILED
            )
        )
        or 0
    )


def needing_a_push(session: Session, now: datetime, grace: timedelta) -> list[int]:
    """Open verifications that nobody works on and whose next step is overdue.

    Their job was lost (huey drops a task its worker died running) or failed: the
    reconciler queues them again, and the step's own guards make a second copy harmless.
    """
    late = now - grace
    lease_free = sa.or_(Verification.lease_owner.is_(None), Verification.lease_expires_at < now)
    due = sa.or_(
        Verification.verdict.is_not(None),
        Deployment.superseded_by_id.is_not(None),
        sa.and_(
            Verification.state == VerificationState.WATCHING,
            sa.or_(Verification.next_round_at.is_(None), Verification.next_round_at < late),
        ),
        sa.and_(
            Verification.state.in_((VerificationState.QUEUED, VerificationState.SMOKE)),
            Verification.created_at < late,
        ),
    )
    statement = (
        sa.select(Verification.id)
        .join(Deployment, Deployment.id == Verification.deployment_id)
        .where(Verification.state.in_(OPEN_STATES), lease_free, due)
        .order_by(Verification.id)
    )
    return list(session.scalars(statement))


def finished_step(engine: Engine, now: float) -> Verdict | None:
    step = engine.next_step(now)
    return step.verdict if isinstance(step, Finished) else None
