"""Start-up: `deploy-guard --version` and `validate` against `python -c "import requests"`."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bench.common import median_wall, verdict

GOAL = 1.5
EXAMPLE_POLICY = Path(__file__).resolve().parent.parent / "tests/fixtures/policies/example.yml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    cli = shutil.which("deploy-guard") or str(Path(sys.executable).parent / "deploy-guard")
    baseline = median_wall(args.repeats, [sys.executable, "-c", "import requests"])
    version = median_wall(args.repeats, [cli, "--version"])
    validate = median_wall(args.repeats, [cli, "validate", str(EXAMPLE_POLICY)])
    print(f"start-up: python -c 'import requests' {baseline * 1000:.0f} ms (median)")
    for name, seconds in (("--version", version), ("validate", validate)):
        ratio = seconds / baseline
        print(
            f"start-up: deploy-guard {name} {seconds * 1000:.0f} ms, ratio {ratio:.2f}x "
            f"(goal <= {GOAL}x) {verdict(ratio, GOAL)}"
        )


if __name__ == "__main__":
    main()
