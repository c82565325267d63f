"""CPU time per HTTP probe, against a bare `requests.get` loop on the same local server."""

from __future__ import annotations

import argparse
import time

import requests

from bench.common import best_of, target_server, verdict
from guard.outcomes import Phase
from guard.policy.models import HttpCheck
from guard.probes.http import HttpProber
from guard.probes.network import NetworkPolicy

GOAL = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    check = HttpCheck.model_validate(
        {
            "name": "api health",
            "get": "/api/health",
            "expect": {"status": 200, "json": {"$.db.connected": True}, "max_latency": "2s"},
        }
    )
    with target_server() as url:

        def bare() -> float:
            start = time.process_time()
            for _ in range(args.probes):
                response = requests.get(f"{url}/api/health", timeout=10)
                response.json()
            return time.process_time() - start

        def guarded() -> float:
            with HttpProber(network=NetworkPolicy(deny_private=False), environ={}) as prober:
                start = time.process_time()
                for _ in range(args.probes):
                    result = prober.probe(check, url, phase=Phase.SMOKE)
                    assert not result.failed, result.detail
                return time.process_time() - start

        baseline = best_of(args.repeats, bare) / args.probes
        ours = best_of(args.repeats, guarded) / args.probes
    ratio = ours / baseline
    print(f"probe overhead: requests.get {baseline * 1e6:.0f} us/probe CPU, ", end="")
    print(f"deploy-guard HttpProber {ours * 1e6:.0f} us/probe CPU")
    print(f"probe overhead ratio: {ratio:.2f}x (goal <= {GOAL}x) {verdict(ratio, GOAL)}")


if __name__ == "__main__":
    main()
