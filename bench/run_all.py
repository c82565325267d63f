"""Run every benchmark in turn; each prints its ratio against a baseline from the same run."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["bench.startup", "bench.probe_overhead"]


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        failed += subprocess.run([sys.executable, "-m", module], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
