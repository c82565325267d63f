"""The GitHub sandbox in a process of its own for the benchmarks, so its CPU is counted apart.

`python -m bench.sandbox_process --info FILE --repos N --policy FILE` seeds N repositories
holding the policy, registers and installs an App, writes what a worker needs to FILE
(JSON), then serves until SIGTERM, when it adds a summary of the calls it answered.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from guard.sandbox import Author, Sandbox
from guard.sandbox.calllog import CallRecord

OWNER = "bench-org"
POLICY_PATH = ".github/deploy-guard.yml"
DEVELOPER = Author(name="Bench Mark", email="bench@example.com", login="bench")
# GitHub would answer 5,000 calls an hour per installation; the benchmark makes more in a
# minute, and measures the guard rather than GitHub's limits.
RATE_LIMIT = 10**9
_NUMBERS = re.compile(r"(?<=[/-])\d+")


def repository_names(count: int) -> list[str]:
    return [f"{OWNER}/service-{number}" for number in range(count)]


def call_summary(calls: list[CallRecord]) -> dict[str, Any]:
    """Calls by method and path (numbers folded), their outcomes and their mean duration."""
    kinds: Counter[str] = Counter()
    for call in calls:
        kinds[f"{call.method} {_NUMBERS.sub('N', call.path)}"] += 1
    durations = [call.duration_ms for call in calls]
    return {
        "total": len(calls),
        "by_kind": dict(kinds.most_common()),
        "outcomes": dict(Counter(call.outcome for call in calls)),
        "mean_ms": sum(durations) / len(durations) if durations else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--info", type=Path, required=True)
    parser.add_argument("--repos", type=int, default=1)
    parser.add_argument("--policy", type=Path, required=True)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _number, _frame: stop.set())
    policy = args.policy.read_text()
    with Sandbox(strict=False, rate_limit=RATE_LIMIT) as sandbox:
        shas = {}
        for name in repository_names(args.repos):
            sandbox.create_repo(name, {"README.md": "# service\n", POLICY_PATH: policy})
            shas[name] = sandbox.branch_sha(name)
        app = sandbox.register_app("deploy-guard")
        installation = sandbox.install_app(app.app_id, OWNER, list(shas))
        info = {
            "base_url": sandbox.base_url,
            "app_id": app.app_id,
            "private_key_pem": app.private_key_pem,
            "installation_id": installation,
            "owner_token": sandbox.register_token(OWNER),
            "shas": shas,
        }
        partial = args.info.with_suffix(".partial")
        partial.write_text(json.dumps(info))
        partial.rename(args.info)
        stop.wait()
        summary = call_summary(sandbox.calls.all())
        summary["violations"] = len(sandbox.violations())
        summary["crashes"] = len(sandbox.crashes())
    args.info.with_suffix(".calls.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
