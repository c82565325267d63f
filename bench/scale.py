"""Scale: many verifications watching at once (5 s rounds) on this machine: round lag and memory."""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from bench.common import (
    TreeSampler,
    clean_environment,
    free_port,
    percentile,
    service_process,
    target_process,
)
from guard.github.auth import TokenAuth
from guard.github.client import GitHubClient
from guard.jobs.queue import make_queue
from guard.settings import load_settings
from guard.store import ProbeResultRow, Verification, make_engine, record_deployment, upgrade

GOAL_LAG_P99_S = 1.0
GOAL_RSS_BYTES = 500 * 2**20
DEPLOY_GUARD = str(Path(sys.executable).with_name("deploy-guard"))
ENVIRONMENT = "production"
POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# The tests use Redis database 15; the benchmark keeps to its own.
REDIS_DB = 11
FINAL_STATES = ("finished", "superseded", "error")

POLICY = """\
version: 1
environments:
  production:
    smoke:
      - name: health
        get: /health
        timeout: 2s
        expect: {{status: 200}}
    watch:
      interval: {interval}s
      duration: {duration}s
      probes:
        - name: health
          get: /api/health
          timeout: 2s
          expect: {{status: 200}}
      fail_when:
        consecutive_failures: 2
    on_failure:
      action: notify
"""


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    queue_url: str
    # The processes that serve the backend for us (PostgreSQL backends), found as they come.
    server_pids: Callable[[], Iterable[int]] = lambda: ()
    server_cpu: Callable[[], float] | None = None


@contextmanager
def sqlite_backend(directory: Path) -> Iterator[Backend]:
    yield Backend(
        "SQLite + SQLite queue",
        f"sqlite:///{directory / 'deploy-guard.db'}",
        f"sqlite:///{directory / 'deploy-guard-queue.db'}",
    )


def _postgres_pids(database: str) -> list[int]:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchall()
    except psycopg.Error:
        return []
    return [int(row[0]) for row in rows]


def _redis_cpu() -> float:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    finally:
        client.close()


@contextmanager
def postgres_redis_backend() -> Iterator[Backend]:
    """A database of our own on the PostgreSQL server, dropped afterwards, and the queue in a
    Redis database no test uses, emptied of our keys afterwards."""
    import psycopg
    import redis

    database = f"bench_scale_{uuid.uuid4().hex[:10]}"
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    if client.dbsize():
        raise RuntimeError(f"Redis database {REDIS_DB} is in use; the benchmark needs it empty")
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    try:
        yield Backend(
            "PostgreSQL + Redis",
            f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
            f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            server_pids=lambda: _postgres_pids(database),
            server_cpu=_redis_cpu,
        )
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for key in client.scan_iter("huey.*"):
            client.delete(key)
        client.close()


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    base_url: str
    app_id: int
    private_key_pem: str
    installation_id: int
    owner_token: str
    shas: dict[str, str]
    calls_path: Path


@contextmanager
def sandbox_process(directory: Path, repos: int, policy: str) -> Iterator[SandboxInfo]:
    policy_path = directory / "policy.yml"
    policy_path.write_text(policy)
    info_path = directory / "sandbox.json"
    command = [sys.executable, "-m", "bench.sandbox_process", "--info", str(info_path)]
    command += ["--repos", str(repos), "--policy", str(policy_path)]
    with service_process(
        command, env=clean_environment({}), log_path=directory / "sandbox.log"
    ) as process:
        deadline = time.monotonic() + 120
        while not info_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start: {directory / 'sandbox.log'}")
            time.sleep(0.1)
        info = json.loads(info_path.read_text())
        yield SandboxInfo(
            pid=process.pid,
            base_url=info["base_url"],
            app_id=info["app_id"],
            private_key_pem=info["private_key_pem"],
            installation_id=info["installation_id"],
            owner_token=info["owner_token"],
            shas=info["shas"],
            calls_path=info_path.with_suffix(".calls.json"),
        )


@dataclass(frozen=True)
class Planned:
    repository: str
    sha: str
    github_id: int


def create_deployments(sandbox: SandboxInfo, target_url: str, count: int) -> list[Planned]:
    """Deployments on the sandbox, each with a success status pointing at the target."""
    repositories = sorted(sandbox.shas)

    def one(number: int) -> Planned:
        repository = repositories[number % len(repositories)]
        sha = sandbox.shas[repository]
        client = GitHubClient(
            TokenAuth(sandbox.owner_token),
            sandbox.base_url,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        try:
            created = client.create_deployment(repository, sha, ENVIRONMENT)
            client.create_deployment_status(
                repository,
                created.id,
                "success",
                environment_url=target_url,
                environment=ENVIRONMENT,
            )
        finally:
            client.close()
        return Planned(repository, sha, created.id)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, range(count)))


def guard_environment(backend: Backend, sandbox: SandboxInfo) -> dict[str, str]:
    return clean_environment(
        {
            "GUARD_GITHUB_APP_ID": str(sandbox.app_id),
            "GUARD_GITHUB_PRIVATE_KEY": sandbox.private_key_pem,
            "GUARD_GITHUB_API_URL": sandbox.base_url,
            "GUARD_DATABASE_URL": backend.database_url,
            "GUARD_QUEUE_URL": backend.queue_url,
            "GUARD_WEBHOOK_SECRET": "bench webhook secret",
            # The target listens on loopback, which probes refuse by default.
            "GUARD_ALLOW_PRIVATE_NETWORKS": "true",
        }
    )


def start_verifications(
    environment: dict[str, str], planned: list[Planned], installation_id: int, rate: float
) -> None:
    """What the webhook handler does for each success status, at `rate` per second: record
    the deployment (committed), then queue its verification."""
    settings = load_settings(environment)
    queue = make_queue(settings)
    engine = make_engine(settings.database_url)
    started = time.monotonic()
    try:
        for number, deployment in enumerate(planned):
            pause = started + number / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with sa.orm.Session(engine) as session, session.begin():
                record_deployment(
                    session,
                    repository=deployment.repository,
                    github_id=deployment.github_id,
                    environment=ENVIRONMENT,
                    sha=deployment.sha,
                    ref=deployment.sha,
                    created_at=datetime.now(UTC),
                    installation_id=installation_id,
                    environment_url=environment["BENCH_TARGET_URL"],
                    production=True,
                )
            queue.enqueue_verification(deployment.github_id)
    finally:
        engine.dispose()
        queue.close()


@dataclass
class Progress:
    final: int = 0
    states: Counter[str] = field(default_factory=Counter)


def progress(engine: sa.Engine) -> Progress:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(Verification.state, sa.func.count()).group_by(Verification.state)
        ).all()
    states = Counter({str(state.value): int(count) for state, count in rows})
    return Progress(sum(states[state] for state in FINAL_STATES), states)


def _seconds(moment: datetime) -> float:
    # SQLite gives naive datetimes back; the guard stores UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# "All watching at once": at least this share of the verifications between their smoke and
# their verdict (a few finish a round early or start a round late at the edges).
AT_ONCE_SHARE = 0.95


@dataclass
class Lags:
    all: list[float]
    # Rounds due while at least AT_ONCE_SHARE of the verifications were watching.
    steady: list[float]
    # The most verifications watching at the same moment (smoke recorded, no verdict yet).
    most_watching: int
    rounds_run: int
    rounds_planned: int
    verdicts: Counter[str]


def round_lags(engine: sa.Engine, interval_s: float) -> Lags:
    """When each round's first probe ran, minus when the round was due (the smoke's record
    time plus (n - 1) intervals); `steady` only counts rounds due while nearly all of the
    verifications were watching at once (AT_ONCE_SHARE of them: smoke recorded, no verdict)."""
    with engine.connect() as connection:
        started = dict(
            connection.execute(
                sa.select(Verification.id, Verification.smoke_recorded_at).where(
                    Verification.smoke_recorded_at.is_not(None)
                )
            ).all()
        )
        firsts = connection.execute(
            sa.select(
                ProbeResultRow.verification_id, ProbeResultRow.round, sa.func.min(ProbeResultRow.at)
            )
            .where(ProbeResultRow.round > 0)
            .group_by(ProbeResultRow.verification_id, ProbeResultRow.round)
        ).all()
        planned = connection.execute(sa.select(sa.func.sum(Verification.rounds_planned))).scalar()
        finished = [
            _seconds(at)
            for at in connection.execute(sa.select(Verification.finished_at)).scalars()
            if at is not None
        ]
        verdicts = connection.execute(
            sa.select(Verification.verdict, sa.func.count()).group_by(Verification.verdict)
        ).all()
    smoke_times = {key: _seconds(value) for key, value in started.items() if value is not None}
    smokes, ends = sorted(smoke_times.values()), sorted(finished)

    def watching(at: float) -> int:
        return bisect.bisect_right(smokes, at) - bisect.bisect_right(ends, at)

    at_once = AT_ONCE_SHARE * len(started)
    lags, steady = [], []
    for verification_id, number, probed_at in firsts:
        due = smoke_times[verification_id] + (number - 1) * interval_s
        lag = float(probed_at) - due
        lags.append(lag)
        if started and watching(due) >= at_once:
            steady.append(lag)
    return Lags(
        lags,
        steady,
        max((watching(at) for at in smokes), default=0),
        len(firsts),
        int(planned or 0),
        Counter({str(v.value) if v else "none": int(n) for v, n in verdicts}),
    )


def bare_probe_cpu(url: str, probes: int) -> float:
    """CPU seconds per plain `requests.get` of the target: the least a round could cost."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(probes):
            with requests.Session() as session:
                session.get(f"{url}/api/health", timeout=10).json()
        best = min(best, time.process_time() - start)
    return best / probes


@contextmanager
def guard_processes(
    mode: str, environment: dict[str, str], directory: Path, args: argparse.Namespace
) -> Iterator[list[int]]:
    """The guard under test: `deploy-guard worker` processes, or one `deploy-guard serve`."""
    with ExitStack() as stack:
        if mode == "serve":
            port = free_port()
            process = stack.enter_context(
                service_process(
                    [DEPLOY_GUARD, "serve", "--port", str(port)],
                    env=environment,
                    log_path=directory / "serve.log",
                    ready_url=f"http://127.0.0.1:{port}/healthz",
                    cwd=directory,
                )
            )
            yield [process.pid]
            return
        command = [DEPLOY_GUARD, "worker", "--threads", str(args.threads)]
        command += ["--tick", str(args.tick), "--no-github-pacing"]
        pids = []
        for number in range(args.processes):
            process = stack.enter_context(
                service_process(
                    command,
                    env=environment,
                    log_path=directory / f"worker-{number}.log",
                    ready_text="workers.started",
                )
            )
            pids.append(process.pid)
        yield pids


def mb(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


@dataclass
class Run:
    """What one backend's run measured."""

    label: str
    how: str
    verifications: int
    ramp_s: float
    wall_s: float
    state: Progress
    lags: Lags
    peak_rss: dict[str, int]
    cpu: dict[str, float]
    machine_busy_s: float
    baseline_s: float
    calls: dict[str, Any]


def measure(backend: Backend, mode: str, args: argparse.Namespace, directory: Path) -> Run:
    """One whole run on one backend: the world, the guard, the ramp, the wait, the rows."""
    policy = POLICY.format(interval=args.interval, duration=args.duration)
    upgrade(backend.database_url)
    with ExitStack() as stack:
        target_url, target_pid = stack.enter_context(target_process())
        sandbox = stack.enter_context(sandbox_process(directory, args.repos, policy))
        environment = guard_environment(backend, sandbox)
        environment["BENCH_TARGET_URL"] = target_url
        planned = create_deployments(sandbox, target_url, args.verifications)
        baseline = bare_probe_cpu(target_url, 200)
        pids = stack.enter_context(guard_processes(mode, environment, directory, args))
        sampler = TreeSampler(
            {
                "guard": lambda: pids,
                "sandbox": lambda: [sandbox.pid],
                "target": lambda: [target_pid],
                "database": backend.server_pids,
            }
        ).start()
        stack.callback(sampler.stop)
        sampler.since_now()
        queue_cpu = backend.server_cpu() if backend.server_cpu else 0.0
        bench_cpu = time.process_time()
        machine = machine_busy_seconds()
        started = time.monotonic()
        start_verifications(environment, planned, sandbox.installation_id, args.ramp_rate)
        ramp_s = time.monotonic() - started
        engine = make_engine(backend.database_url)
        stack.callback(engine.dispose)
        deadline = started + ramp_s + args.duration + args.interval + args.grace
        state = progress(engine)
        while state.final < len(planned) and time.monotonic() < deadline:
            time.sleep(1.0)
            state = progress(engine)
        wall_s = time.monotonic() - started
        sampler.stop()
        machine = machine_busy_seconds() - machine
        cpu = {
            "guard": sampler.cpu("guard"),
            "sandbox (GitHub)": sampler.cpu("sandbox"),
            "target": sampler.cpu("target"),
            "postgresql": sampler.cpu("database"),
            "redis (whole server)": (backend.server_cpu() if backend.server_cpu else 0.0)
            - queue_cpu,
            "bench (ramp, polling)": time.process_time() - bench_cpu,
        }
        lags = round_lags(engine, args.interval)
    calls = json.loads(sandbox.calls_path.read_text()) if sandbox.calls_path.exists() else {}
    how = (
        "deploy-guard serve (its embedded workers)"
        if mode == "serve"
        else f"{args.processes} x deploy-guard worker --threads {args.threads} --tick {args.tick}"
    )
    return Run(
        f"scale {backend.name}",
        how,
        len(planned),
        ramp_s,
        wall_s,
        state,
        lags,
        dict(sampler.peak_rss),
        cpu,
        machine,
        baseline,
        calls,
    )


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all processes, ours and others')."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in fields]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def report(run: Run, args: argparse.Namespace) -> bool:
    """Print one run's figures; whether its goals were met."""
    label, lags = run.label, run.lags
    print(
        f"{label}: {run.verifications} verifications over {args.repos} repositories, started "
        f"at {args.ramp_rate:.0f}/s ({run.ramp_s:.1f} s); watch {args.duration} s every "
        f"{args.interval} s; {run.how}"
    )
    print(
        f"{label}: {run.state.final}/{run.verifications} finished in {run.wall_s:.0f} s "
        f"{dict(run.state.states)}; rounds run {lags.rounds_run}/{lags.rounds_planned}; "
        f"verdicts {dict(lags.verdicts)}"
    )
    complete = lags.rounds_run == run.verifications * int(args.duration // args.interval)
    p99 = percentile(lags.all, 0.99)
    lag_ok = complete and p99 < GOAL_LAG_P99_S
    missing = "" if complete else " (rounds missing: lag of those not counted)"
    print(
        f"{label}: round start lag p50 {percentile(lags.all, 0.5) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {max(lags.all, default=0) * 1000:.0f} ms{missing} "
        f"(goal p99 < {GOAL_LAG_P99_S:.0f} s) {'ok' if lag_ok else 'NOT MET'}"
    )
    print(
        f"{label}: most watching at once {lags.most_watching} of {run.verifications}; rounds due "
        f"while at least {AT_ONCE_SHARE:.0%} were watching ({len(lags.steady)}): p99 "
        f"{percentile(lags.steady, 0.99) * 1000:.0f} ms"
    )
    peak = run.peak_rss["guard"]
    rss_ok = peak < GOAL_RSS_BYTES
    print(
        f"{label}: peak RSS of the guard's processes {mb(peak)} (goal < {mb(GOAL_RSS_BYTES)}) "
        f"{'ok' if rss_ok else 'OVER'}; sandbox {mb(run.peak_rss['sandbox'])}, "
        f"target {mb(run.peak_rss['target'])}"
    )
    ours = sum(run.cpu.values())
    shares = ", ".join(f"{name} {seconds:.0f}" for name, seconds in run.cpu.items() if seconds)
    print(
        f"{label}: CPU seconds over {run.wall_s:.0f} s ({2 * run.wall_s:.0f} core-s on 2 cores; "
        f"machine busy {run.machine_busy_s:.0f}, of which others' {run.machine_busy_s - ours:.0f})"
        f": {shares}"
    )
    steps = lags.rounds_run + run.verifications
    per_step = run.cpu["guard"] / max(1, steps)
    print(
        f"{label}: guard CPU per step (smoke or round) {per_step * 1000:.1f} ms, with the sandbox "
        f"{(run.cpu['guard'] + run.cpu['sandbox (GitHub)']) / max(1, steps) * 1000:.1f} ms; bare "
        f"requests.get {run.baseline_s * 1000:.2f} ms: ratio {per_step / run.baseline_s:.0f}x"
    )
    if run.calls:
        kinds = dict(list(run.calls["by_kind"].items())[:5])
        print(
            f"{label}: the sandbox answered {run.calls['total']} calls "
            f"(mean {run.calls['mean_ms']:.1f} ms): {kinds}"
        )
    return lag_ok and rss_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--verifications", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=5, help="seconds between rounds")
    parser.add_argument("--duration", type=int, default=60, help="seconds of watch")
    parser.add_argument("--repos", type=int, default=10, help="repositories deployed to")
    parser.add_argument("--ramp-rate", type=float, default=100.0, help="verifications started/s")
    parser.add_argument("--grace", type=float, default=60.0, help="seconds allowed past the plan")
    parser.add_argument("--processes", type=int, default=2, help="deploy-guard worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--tick", type=float, default=0.1, help="worker scheduler tick")
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="sqlite, postgres, sqlite-serve"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args()
    met = True
    for choice in args.backends.split(","):
        directory = Path(tempfile.mkdtemp(prefix=f"bench-scale-{choice}-"))
        backend = postgres_redis_backend() if choice == "postgres" else sqlite_backend(directory)
        mode = "serve" if choice == "sqlite-serve" else "workers"
        try:
            with backend as chosen:
                met &= report(measure(chosen, mode, args, directory), args)
        finally:
            if not args.keep:
                shutil.rmtree(directory, ignore_errors=True)
        sys.stdout.flush()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
