"""A worker process for the story tests: `python -m tests.story_worker QUEUE_NAME`.

The guard's settings come from the environment, as for `deploy-guard worker`; the queue name
and short leases and takeovers are the test's, so a killed worker's remedy is resumed soon.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from guard.jobs.consumer import run_workers
from guard.settings import load_settings
from tests.jobs_world import FAST

# Leases and takeovers of about a second: the restarted worker goes on without a long wait.
OPTIONS = replace(FAST, reconcile_every_s=0.3, grace_s=0.3, remedy_s=1.0, takeover_after_s=1.0)

if __name__ == "__main__":
    run_workers(load_settings(), OPTIONS, name=sys.argv[1])
