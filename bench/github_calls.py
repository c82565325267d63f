"""GitHub calls per outcome, counted at the sandbox's call log: only the guard's own calls.

The demo's stage (sandbox GitHub, example shop, a real `deploy-guard serve` as the App), with
the pipeline shipping only when told, so each outcome's calls are counted apart:
a first verified-good deployment (it also pays for the installation token), a second one
(the steady state, the goal's figure), a failed deployment with its redeploy and incident,
and the rollback's own verification with its "service restored" comment.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from guard.demo.facts import StoryFacts, by_guard
from guard.demo.stage import Stage, StageOptions, open_stage
from guard.demo.world import (
    DEVELOPER,
    VERSION_PATH,
    commit_broken_version,
    commit_healthy_version,
)
from guard.sandbox.calllog import CallRecord
from guard.store import Deployment, Verification, VerificationState, make_engine

GOALS = {"verified-good deployment": 6, "failed + redeploy + incident": 15}
# GitHub would allow 5,000 calls an hour; the benchmark measures the guard, not the limit.
RATE_LIMIT = 10**9
START_BUDGET_S = 120.0
PHASE_BUDGET_S = 90.0
# After an outcome is final, calls still arriving this late would be the outcome's stragglers.
SETTLE_S = 2.0
POLL_S = 0.05
_SHA = re.compile(r"\b[0-9a-f]{40}\b")
_NUMBER = re.compile(r"/\d+(?=/|$)")


def route(call: CallRecord, repo: str) -> str:
    """METHOD and path with the repository, commits and numbers folded."""
    path = call.path.replace(f"/repos/{repo}", "/repos/{repo}")
    path = _NUMBER.sub("/{n}", _SHA.sub("{sha}", path))
    return f"{call.method} {path}"


def is_guards(call: CallRecord) -> bool:
    """A call made by the guard: as its App (JWT) or as one of its installations."""
    return call.auth.startswith(("installation:", "app:"))


class GuardRecords:
    """Reads serve's database (our own SQLite file) for how a verification stands."""

    def __init__(self, stage: Stage) -> None:
        self.engine = make_engine(f"sqlite:///{stage.guard.database_path}")

    def verification(self, deployment_id: int) -> Verification | None:
        with Session(self.engine) as session:
            return session.scalars(
                sa.select(Verification)
                .join(Deployment, Verification.deployment_id == Deployment.id)
                .where(Deployment.github_id == deployment_id)
                .order_by(Verification.id.desc())
            ).first()

    def final(self, deployment_id: int) -> bool:
        row = self.verification(deployment_id)
        return row is not None and row.state is VerificationState.FINISHED

    def verdict_at(self, deployment_id: int) -> datetime | None:
        row = self.verification(deployment_id)
        return row.verdict_at if row is not None else None

    def close(self) -> None:
        self.engine.dispose()


def wait(what: str, condition: Callable[[], bool], budget_s: float = PHASE_BUDGET_S) -> None:
    deadline = time.monotonic() + budget_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"never happened within {budget_s:.0f} s: {what}")
        time.sleep(POLL_S)


def settle(stage: Stage) -> int:
    """Wait until the guard has made no call for SETTLE_S; the call log's last number."""
    calls = stage.sandbox.calls
    while True:
        seen = calls.last_seq
        time.sleep(SETTLE_S)
        if not [c for c in calls.all(since=seen) if is_guards(c)]:
            return calls.last_seq


def deploy_and_ship(stage: Stage, description: str) -> int:
    """Create a deployment of main as the developer and ship it; its id."""
    created = stage.pipeline.create_deployment("main", description=description)
    stage.pipeline.poll_once()
    return int(created["id"])


def facts(stage: Stage, failed: int | None = None) -> StoryFacts:
    return StoryFacts.read(stage.sandbox, stage.world.repo, None, failed)


@dataclass
class Phase:
    name: str
    calls: list[CallRecord]


def count_phase(stage: Stage, name: str, since: int, until: int) -> Phase:
    calls = [c for c in stage.sandbox.calls.all(since=since) if c.seq <= until and is_guards(c)]
    return Phase(name, calls)


def run_phases(stage: Stage) -> list[Phase]:
    records = GuardRecords(stage)
    sandbox, world = stage.sandbox, stage.world
    phases = []
    try:
        mark = sandbox.calls.last_seq
        commit_healthy_version(sandbox, world)
        first = deploy_and_ship(stage, "v1")
        wait("v1 verified", lambda: records.final(first))
        end = settle(stage)
        phases.append(count_phase(stage, "first verified-good (cold)", mark, end))

        mark = end
        sandbox.commit(world.repo, {VERSION_PATH: "v1.1\n"}, "Shop v1.1", author=DEVELOPER)
        good = deploy_and_ship(stage, "v1.1")
        wait("v1.1 verified", lambda: records.final(good))
        end = settle(stage)
        phases.append(count_phase(stage, "verified-good deployment", mark, end))

        mark = end
        commit_broken_version(sandbox, world)
        bad = deploy_and_ship(stage, "v2")
        wait(
            "v2 failed, rolled back and filed",
            lambda: (
                records.final(bad)
                and any(by_guard(d) for d in facts(stage).tables.deployments)
                and facts(stage, bad).incident is not None
            ),
        )
        end = settle(stage)
        phases.append(count_phase(stage, "failed + redeploy + incident", mark, end))

        mark = end
        [rollback] = stage.pipeline.poll_once()
        wait("the rollback verified", lambda: records.final(rollback.deployment_id))
        wait("service restored commented", lambda: facts(stage, bad).restored)
        end = settle(stage)
        phases.append(count_phase(stage, "rollback verified + restored", mark, end))
    finally:
        records.close()
    return phases


def report(phases: list[Phase], repo: str) -> int:
    routes: dict[str, Counter[str]] = {}
    for phase in phases:
        for call in phase.calls:
            routes.setdefault(route(call, repo), Counter())[phase.name] += 1
    width = max(len(name) for name in routes) if routes else 10
    heads = [f"{index + 1:>5}" for index in range(len(phases))]
    for index, phase in enumerate(phases):
        print(f"  ({index + 1}) {phase.name}")
    print(f"{'route':<{width}} " + " ".join(heads))
    for name in sorted(routes, key=lambda r: (r.split(" ", 1)[1], r)):
        counts = [f"{routes[name][phase.name]:>5}" for phase in phases]
        print(f"{name:<{width}} " + " ".join(counts))
    print(f"{'total':<{width}} " + " ".join(f"{len(phase.calls):>5}" for phase in phases))
    missed = 0
    for phase in phases:
        goal = GOALS.get(phase.name)
        if goal is None:
            continue
        verdict = "ok" if len(phase.calls) <= goal else "OVER the goal"
        missed += len(phase.calls) > goal
        print(f"{phase.name}: {len(phase.calls)} GitHub calls (goal <= {goal}) {verdict}")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    options = StageOptions(rate_limit=RATE_LIMIT, ship_in_background=False)
    with ExitStack() as stack:
        stage = open_stage(stack, time.monotonic() + START_BUDGET_S, options)
        phases = run_phases(stage)
        print("GitHub calls per outcome (the guard's own, at the sandbox's call log):")
        report(phases, stage.world.repo)


if __name__ == "__main__":
    main()
