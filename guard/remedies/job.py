"""One remedy being carried out: its plan, its rows, and the short writes that record progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guard.github.port import GitHubPort
from guard.remedies import records
from guard.remedies.models import FailedStatus, RemedyContext, RemedyRequest
from guard.remedies.plan import RemedyPlan


@dataclass
class RemedyJob:
    """What a strategy works with; each write is its own short transaction."""

    ctx: RemedyContext
    request: RemedyRequest
    plan: RemedyPlan
    remedy_id: int
    # The failed deployment's row in the store (not GitHub's id).
    row_id: int
    # Taken over from an attempt that died: what it made may be on GitHub unrecorded.
    resumed: bool = False
    # The statuses a strategy left for the caller to post (`RemedyContext.statuses_later`).
    status: FailedStatus | None = None

    @property
    def look_first(self) -> bool:
        """Whether to look on GitHub for what an earlier attempt made before creating it:
        always, unless durable records show this is the first attempt."""
        return self.resumed or not self.ctx.durable_records

    @property
    def github(self) -> GitHubPort:
        return self.ctx.github

    @property
    def repo(self) -> str:
        return self.request.repo

    def record(self, **values: Any) -> None:
        """Store what the remedy made so far on its row (a resumed run reads it back)."""
        with self.ctx.sessions.begin() as session:
            records.update(session, self.remedy_id, self.ctx.clock(), **values)

    def note(self, kind: str, message: str) -> None:
        """A line on the failed deployment's timeline."""
        with self.ctx.sessions.begin() as session:
            records.note(session, self.row_id, kind, message, self.ctx.clock())

    def noted(self, kind: str) -> bool:
        with self.ctx.sessions() as session:
            return records.noted(session, self.row_id, kind)

    def switch_to(self, plan: RemedyPlan, why: str) -> None:
        """Go on with another strategy (a revert that must become a pull request)."""
        self.plan = plan
        with self.ctx.sessions.begin() as session:
            records.update(session, self.remedy_id, self.ctx.clock(), strategy=plan.strategy)
            records.note(session, self.row_id, "remedy_fell_back", why, self.ctx.clock())
