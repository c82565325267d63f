"""How the job workers pace themselves: threads, scheduler tick, leases and the reconciler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerOptions:
    """Tuning of the workers; the defaults suit production, tests shorten the waits."""

    threads: int = 2
    # How often due delayed jobs move to the queue, and the longest an idle worker waits
    # before it looks at the queue again (huey's own floor is one second; rounds can be
    # shorter, so the guard's scheduler takes a finer tick).
    tick_s: float = 1.0
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
