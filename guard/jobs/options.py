"""How the job workers pace themselves: threads, scheduler tick, leases and the reconciler."""

from __future__ import annotations

from dataclasses import dataclass

# The scheduler tick of `deploy-guard worker` and of serve's embedded workers.
DEFAULT_TICK_S = 0.1


@dataclass(frozen=True)
class WorkerOptions:
    """Tuning of the workers; the defaults suit production, tests shorten the waits."""

    threads: int = 2
    # How often due delayed jobs move to the queue, and the longest an idle worker waits
    # before it looks at the queue again (huey's own floor is one second; rounds can be
    # shorter, so the guard's scheduler takes a finer tick). A due round waits up to a tick
    # to be queued and up to another to be picked up: 0.1 s keeps that a fifth of the
    # one-second lag goal, for a few cheap queue polls per second per idle thread.
    tick_s: float = DEFAULT_TICK_S
    # How often the reconciler looks for verifications whose next job was lost.
    reconcile_every_s: float = 30.0
    # How late a due step may be before the reconciler queues it again: a busy queue is
    # not a lost job.
    grace_s: float = 10.0
    # A step's lease, on top of the time its probes may take (their timeouts added up):
    # a worker killed mid-step holds the verification no longer than this.
    lease_s: float = 60.0
    # What a verdict's remedy and incident may take on top of the lease: a revert pull request
    # clones the repository, and GitHub may ask the guard to wait out a rate limit.
    remedy_s: float = 600.0
    # A remedy or an incident claimed by a worker that then made no progress for this long
    # was abandoned (the worker died): the next attempt takes it over.
    takeover_after_s: float = 600.0
    # A verification whose steps keep failing (GitHub down, a bug of ours) stops after this
    # many failed attempts, with its check run saying so.
    max_step_failures: int = 10
    # GitHub asks for serial requests and a second between writes; only the local sandbox
    # may go faster.
    github_pacing: bool = True
    # How long stopping waits for the step each worker is running.
    shutdown_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError("a worker needs at least one thread")
        for name in (
            "tick_s",
            "reconcile_every_s",
            "lease_s",
            "shutdown_timeout_s",
            "remedy_s",
            "takeover_after_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.grace_s < 0:
            raise ValueError("grace_s cannot be negative")
        if self.max_step_failures < 1:
            raise ValueError("max_step_failures is at least 1")
