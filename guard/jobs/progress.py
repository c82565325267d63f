"""When a watch step shows its progress on the check run: every 30 s of watch, or on a failure.

An ordinary round makes no GitHub call. The check run is created with its first in-progress
output and the verdict's output replaces whatever progress it shows; in between, progress is
shown after the round that completes each PROGRESS_EVERY_S of the watch, and at once after a
step that saw a new failure. The cadence is counted in rounds of the plan, not read from a
clock, so every worker and replica agrees on which rounds show it.
"""

from __future__ import annotations

import math

from guard.verification import VerificationPlan

# At most one progress update per this many seconds of watch (GitHub's secondary rate limits
# and the guard's CPU both prefer fewer writes; a person reading the check run needs no more).
PROGRESS_EVERY_S = 30.0


def _periods(elapsed_s: float) -> int:
    # Rounded first: 6 rounds of 5 s are 30 s, not 29.999...
    return math.floor(round(elapsed_s / PROGRESS_EVERY_S, 9))


def progress_due(
    plan: VerificationPlan, rounds_done: int, *, failures_before: int, failures_after: int
) -> bool:
    """Whether the step that brought the watch to `rounds_done` shows progress on GitHub."""
    if failures_after > failures_before:
        return True
    if rounds_done < 1 or plan.watch is None:
        return False
    interval_s = plan.watch.interval_s
    return _periods(rounds_done * interval_s) > _periods((rounds_done - 1) * interval_s)
