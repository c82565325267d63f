"""Catch up on missed webhook deliveries: ask GitHub to redeliver what never reached the guard.

GitHub never retries a failed delivery by itself, so a deployment made while the guard was
down, restarting or answering 5xx would never be verified. GitHub keeps the App's delivery log
for three days: one pass reads it newest first back to a horizon, and asks GitHub to redeliver
every subscribed delivery that failed, was never redelivered with success, and that the
deliveries table does not hold (as anything but `error`); and, from the second pass on, every
delivery answered 2xx that the table does not hold at all (lost in a power cut after its
answer: see `missed`). The redelivery carries the same X-GitHub-Delivery, so the webhook
endpoint records it once whatever happens twice.

The reconciler queues a periodic pass as a job (`JobQueue.enqueue_catch_up`), so its own turn
never waits on a pass's paced redeliveries.

One pass at a time across workers and replicas: a lease in the `service_markers` row named
`catch-up`, whose JSON `state` also keeps the
horizon durably, as JSON, changed only by compare-and-set. No schema change.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from guard.events import SUBSCRIBED_EVENTS
from guard.github.auth import AppAuth
from guard.github.hook_deliveries import PAGE_SIZE, HookDeliveries, HookDelivery
from guard.github.retry import Retrier, RetryPolicy
from guard.jobs.context import PACED_WRITES_S, JobContext
from guard.observability.logs import get_logger
from guard.observability.metrics import count_redelivery, observe_github_call
from guard.store.models import Delivery, DeliveryOutcome, ServiceMarker

log = get_logger(__name__)

# The name of the catch-up's row in the service_markers table.
MARKER_NAME: Final = "catch-up"
# A pass that fails is simply tried again at the next one: a short budget, so a GitHub that
# does not answer holds the reconciler up for seconds, not minutes.
CATCH_UP_RETRIES: Final = RetryPolicy(max_attempts=2, max_total_wait_s=5.0)
# The guids looked up in the deliveries table per query (well under any IN-list limit).
LOOKUP_CHUNK: Final = 500


@dataclass(frozen=True)
class CatchUpOptions:
    """How often and how far a pass looks, and how much it may ask for."""

    # A pass runs at start-up and then when the last one is this old (from the reconciler).
    every_s: float = 300.0
    # Redeliveries asked for per pass at most: a long outage is caught up over several passes.
    max_redeliveries: int = 100
    # The first pass ever looks this far back.
    first_look_back_s: float = 3600.0
    # A later pass looks back to where the last complete one started, less this margin
    # (deliveries still in flight then, clocks apart).
    margin_s: float = 600.0
    # GitHub keeps (and redelivers) deliveries for three days: never look further.
    retention_s: float = 3 * 24 * 3600.0
    # A pass's lease: a worker killed mid-pass holds it no longer than this.
    lease_s: float = 600.0
    # Pages read per pass at most, however busy the App's hook was.
    max_pages: int = 100
    page_size: int = PAGE_SIZE


@dataclass(frozen=True)
class CatchUpResult:
    """What one call did: `outcome` is skipped_token, not_due, busy, done or bounded."""

    outcome: str
    redelivered: tuple[int, ...] = ()
    horizon: datetime | None = None


@dataclass
class _Marker:
    """The marker row's JSON: the lease and where the next pass looks back to."""

    horizon: datetime | None = None
    finished_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None

    def dump(self) -> str:
        values = {
            "horizon": self.horizon,
            "finished_at": self.finished_at,
            "lease_owner": self.lease_owner,
            "lease_until": self.lease_until,
        }
        return json.dumps(
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()},
            sort_keys=True,
        )

    @classmethod
    def load(cls, text: str | None) -> _Marker:
        try:
            raw = json.loads(text or "{}")
        except ValueError:
            raw = {}
        if not isinstance(raw, dict):
            raw = {}

        def when(key: str) -> datetime | None:
            value = raw.get(key)
            try:
                return datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                return None

        owner = raw.get("lease_owner")
        return cls(
            horizon=when("horizon"),
            finished_at=when("finished_at"),
            lease_owner=owner if isinstance(owner, str) else None,
            lease_until=when("lease_until"),
        )


@dataclass
class _Pass:
    """One pass's reading of the log."""

    horizon: datetime
    attempts: dict[str, list[HookDelivery]] = field(default_factory=dict)
    complete: bool = True


def _at(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


# -- the marker row ----------------------------------------------------------------------------


def _marker_detail(session: Session) -> str | None:
    """The marker's JSON text, the row made first if it is missing."""
    select = sa.select(ServiceMarker.state).where(ServiceMarker.name == MARKER_NAME)
    found = session.execute(select).first()
    if found is not None:
        return found[0]
    try:
        with session.begin_nested():
            session.add(ServiceMarker(name=MARKER_NAME, state=_Marker().dump()))
    except IntegrityError:
        # Another replica made it at the same moment: read theirs.
        pass
    return session.scalar(select)


def _swap(session: Session, before: str | None, after: _Marker, now: datetime) -> bool:
    """Compare-and-set of the marker's JSON: False when someone changed it since `before`."""
    condition = ServiceMarker.state.is_(None) if before is None else ServiceMarker.state == before
    statement = (
        sa.update(ServiceMarker)
        .where(ServiceMarker.name == MARKER_NAME, condition)
        .values(state=after.dump(), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    result = cast("CursorResult[tuple[()]]", session.execute(statement))
    return result.rowcount == 1


def _waiting(marker: _Marker, now: datetime, options: CatchUpOptions, *, force: bool) -> str | None:
    """Why no pass may start now ("busy", "not_due"), or None when one may."""
    if marker.lease_owner is not None and (marker.lease_until is None or marker.lease_until > now):
        return "busy"
    recent = marker.finished_at is not None and now - marker.finished_at < timedelta(
        seconds=options.every_s
    )
    return "not_due" if recent and not force else None


def _waiting_at_a_look(
    readers: sessionmaker[Session], now: datetime, options: CatchUpOptions, *, force: bool
) -> str | None:
    """`_waiting` as a read sees it, without a write lock (no marker yet: nothing waits)."""
    with readers() as session:
        seen = session.scalar(
            sa.select(ServiceMarker.state).where(ServiceMarker.name == MARKER_NAME)
        )
    return None if seen is None else _waiting(_Marker.load(seen), now, options, force=force)


def _claim(
    sessions: sessionmaker[Session],
    readers: sessionmaker[Session],
    owner: str,
    now: datetime,
    options: CatchUpOptions,
    *,
    force: bool,
) -> tuple[str, _Marker | None]:
    """Take the pass's lease: ("claimed", marker) or ("not_due" | "busy", None)."""
    # A look first, that takes no write lock: a pass queued twice stops here.
    waiting = _waiting_at_a_look(readers, now, options, force=force)
    if waiting is not None:
        return waiting, None
    with sessions.begin() as session:
        before = _marker_detail(session)
        marker = _Marker.load(before)
        waiting = _waiting(marker, now, options, force=force)
        if waiting is not None:
            return waiting, None
        marker.lease_owner = owner
        marker.lease_until = now + timedelta(seconds=options.lease_s)
        if not _swap(session, before, marker, now):
            return "busy", None
    return "claimed", marker


def _settle(
    sessions: sessionmaker[Session], owner: str, now: datetime, horizon: datetime | None
) -> None:
    """End the pass: keep the next horizon (None: leave it) and give the lease back."""
    with sessions.begin() as session:
        before = _marker_detail(session)
        marker = _Marker.load(before)
        if marker.lease_owner != owner:
            # The lease expired and another pass took it: that pass's word counts.
            log.warning("catch_up.lease_lost")
            return
        if horizon is not None:
            marker.horizon = horizon
        marker.finished_at = now
        marker.lease_owner = None
        marker.lease_until = None
        _swap(session, before, marker, now)


# -- reading the log and choosing ---------------------------------------------------------------


def horizon_for(
    marker_horizon: datetime | None, now: datetime, options: CatchUpOptions
) -> datetime:
    """How far back this pass looks: the stored horizon, or the first look back; never past
    GitHub's retention."""
    oldest = now - timedelta(seconds=options.retention_s)
    wanted = marker_horizon or now - timedelta(seconds=options.first_look_back_s)
    return max(wanted, oldest)


def read_log(deliveries: HookDeliveries, horizon: datetime, options: CatchUpOptions) -> _Pass:
    """The log's attempts since `horizon`, by guid (pages stop once one reaches past it)."""
    reading = _Pass(horizon=horizon)
    pages = 0
    for page in deliveries.pages(options.page_size):
        pages += 1
        reached = False
        for attempt in page:
            if attempt.delivered_at < horizon:
                reached = True
                continue
            reading.attempts.setdefault(attempt.guid, []).append(attempt)
        if reached:
            break
        if pages >= options.max_pages:
            reading.complete = False
            log.warning("catch_up.page_limit", pages=pages)
            break
    return reading


def recorded_guids(session: Session, guids: Iterable[str]) -> dict[str, DeliveryOutcome]:
    """The guids the deliveries table holds, with their outcome."""
    wanted = list(guids)
    found: dict[str, DeliveryOutcome] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        statement = sa.select(Delivery.delivery_id, Delivery.outcome).where(
            Delivery.delivery_id.in_(chunk)
        )
        rows = session.execute(statement)
        found.update((str(guid), DeliveryOutcome(outcome)) for guid, outcome in rows)
    return found


def missed(
    attempts: dict[str, list[HookDelivery]],
    recorded: Mapping[str, DeliveryOutcome],
    subscribed: frozenset[str] = SUBSCRIBED_EVENTS,
    *,
    answered_too: bool = False,
) -> list[HookDelivery]:
    """The deliveries to redeliver, oldest first (as they happened), one attempt per guid
    (its newest), of a subscribed event:
    - no attempt answered 2xx, and the guard holds it as nothing but `error` (it has not
      handled it, nor will: a `queued` one is the dispatcher's);
    - with `answered_too`, also those answered 2xx that the guard holds no row of at all. A
      2xx comes from a committed row, so a missing one was lost after its answer: the last
      commits before a power cut, where the request's commit left its fsync to the next one
      (Settings.intake_sqlite_synchronous). Only from a pass that continues an earlier one:
      on a first pass, a database newer than the App's log would have all of them redone.
    """
    chosen: list[HookDelivery] = []
    for guid, tries in attempts.items():
        outcome = recorded.get(guid)
        if any(t.succeeded for t in tries):
            if not answered_too or outcome is not None:
                continue
        elif outcome is not None and outcome is not DeliveryOutcome.ERROR:
            continue
        newest = max(tries, key=lambda t: (t.delivered_at, t.id))
        if newest.event not in subscribed:
            continue
        chosen.append(newest)
    first_seen = {guid: min(t.delivered_at for t in tries) for guid, tries in attempts.items()}
    return sorted(chosen, key=lambda t: (first_seen[t.guid], t.id))


# -- one pass ------------------------------------------------------------------------------------


def _log_for(ctx: JobContext) -> HookDeliveries:
    settings = ctx.settings
    key = settings.github_private_key()
    if settings.github_app_id is None or key is None:
        raise ValueError("the delivery log needs the GitHub App's id and private key")
    auth = AppAuth(
        settings.github_app_id,
        key,
        api_url=settings.github_api_url,
        clock=ctx.clock,
        observer=observe_github_call,
    )
    return HookDeliveries(
        auth,
        settings.github_api_url,
        retrier=Retrier(CATCH_UP_RETRIES, clock=ctx.clock),
        observer=observe_github_call,
        seconds_between_writes=PACED_WRITES_S if ctx.options.github_pacing else None,
    )


def catch_up_deliveries(
    ctx: JobContext,
    *,
    force: bool = False,
    options: CatchUpOptions | None = None,
) -> CatchUpResult:
    """One catch-up pass when it is due (always when `force`: at start-up), unless another
    worker or replica is running one; on a plain token there is no delivery log to read."""
    chosen = options or CatchUpOptions()
    if ctx.settings.github_auth_mode != "app":
        if force:
            log.info(
                "catch_up.skipped",
                reason="the guard runs on a plain token: only a GitHub App has a delivery "
                "log to redeliver missed webhooks from",
            )
        return CatchUpResult("skipped_token")
    owner = uuid.uuid4().hex
    started = _at(ctx.clock)
    claimed, marker = _claim(ctx.sessions, ctx.readers, owner, started, chosen, force=force)
    if marker is None:
        return CatchUpResult(claimed)
    next_horizon: datetime | None = None
    try:
        result = _pass(ctx, marker, started, chosen)
        if result.outcome == "done":
            # Complete: the next pass looks back to this one's start, less the margin.
            next_horizon = started - timedelta(seconds=chosen.margin_s)
        else:
            # Bounded: what is left stays behind the same horizon for the next pass.
            next_horizon = result.horizon
        return result
    finally:
        _settle(ctx.sessions, owner, _at(ctx.clock), next_horizon)


def _pass(
    ctx: JobContext, marker: _Marker, started: datetime, options: CatchUpOptions
) -> CatchUpResult:
    horizon = horizon_for(marker.horizon, started, options)
    deliveries = _log_for(ctx)
    reading = read_log(deliveries, horizon, options)
    with ctx.readers() as session:
        recorded = recorded_guids(session, reading.attempts)
    todo = missed(reading.attempts, recorded, answered_too=marker.horizon is not None)
    bounded = len(todo) > options.max_redeliveries or not reading.complete
    redelivered: list[int] = []
    for attempt in todo[: options.max_redeliveries]:
        deliveries.redeliver(attempt.id)
        redelivered.append(attempt.id)
        count_redelivery(attempt.event, subscribed=SUBSCRIBED_EVENTS)
        log.info(
            "catch_up.redelivered",
            delivery=attempt.guid,
            delivery_log_id=attempt.id,
            event=attempt.event,
            action=attempt.action,
            status_code=attempt.status_code,
            installation=attempt.installation_id,
        )
    log.info(
        "catch_up.pass",
        horizon=horizon.isoformat(),
        looked_at=sum(len(tries) for tries in reading.attempts.values()),
        missed=len(todo),
        redelivered=len(redelivered),
        bounded=bounded,
    )
    return CatchUpResult("bounded" if bounded else "done", tuple(redelivered), horizon=horizon)


def catch_up_due(ctx: JobContext, options: CatchUpOptions | None = None) -> bool:
    """Whether a periodic pass may start now (no lease held, the last one `every_s` old).

    A read that takes no lease: the pass claims its own, so a pass queued by two replicas at
    once still runs once.
    """
    if ctx.settings.github_auth_mode != "app":
        return False
    chosen = options or CatchUpOptions()
    return _waiting_at_a_look(ctx.readers, _at(ctx.clock), chosen, force=False) is None


def catch_up_quietly(context: Callable[[], JobContext], *, force: bool = False) -> None:
    """`catch_up_deliveries` for the reconciler and the start-up: a failure (GitHub or the
    database down) is logged and left to the next pass, never raised into their work."""
    try:
        result = catch_up_deliveries(context(), force=force)
    except Exception:
        log.exception("catch_up.failed")
        return
    if result.outcome == "busy" and force:
        log.info("catch_up.busy", note="another worker or replica is running a pass")
