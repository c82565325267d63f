"""The sandbox's pre-receive hook: refuses pushes that branch protection forbids, in GitHub's words.

git runs this (through the wrapper `git_http` writes) inside `git receive-pack`, with the pushed
objects quarantined and each ref update on stdin as `<old> <new> <ref>`. The sandbox hands over
the protection rules that apply to the caller in SANDBOX_PROTECTION (JSON, one entry per
branch), so the hook needs nothing but git and this file: standard library only, no imports
from the package (it runs with `python -I`, outside any virtual environment's paths).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

ZERO_SHA = "0" * 40
HEADS = "refs/heads/"
PROTECTION_VARIABLE = "SANDBOX_PROTECTION"
# GitHub's own lines (git prefixes each with "remote: "), as a refused push shows them.
REFUSED = "error: GH006: Protected branch update failed for {ref}."
PULL_REQUEST_REQUIRED = "error: Changes must be made through a pull request."
CHECK_EXPECTED = 'error: Required status check "{context}" is expected.'
NO_FORCE_PUSH = "error: Cannot force-push to this branch"
NO_DELETION = "error: Cannot delete this branch"


def is_ancestor(old: str, new: str) -> bool:
    """True for a fast-forward; the quarantined objects are visible to git in this hook."""
    done = subprocess.run(
        ["git", "merge-base", "--is-ancestor", old, new], capture_output=True, check=False
    )
    return done.returncode == 0


def problems(rule: dict[str, Any], old: str, new: str) -> list[str]:
    """What this branch's protection says about moving it from `old` to `new`."""
    if new == ZERO_SHA:
        return [] if rule.get("allow_deletions") else [NO_DELETION]
    found = []
    if old != ZERO_SHA and not rule.get("allow_force_pushes") and not is_ancestor(old, new):
        found.append(NO_FORCE_PUSH)
    passing = set(rule.get("passing", {}).get(new, ()))
    found += [
        CHECK_EXPECTED.format(context=context)
        for context in rule.get("required_status_checks", ())
        if context not in passing
    ]
    if rule.get("require_pull_request"):
        found.append(PULL_REQUEST_REQUIRED)
    return found


def main() -> int:
    rules = json.loads(os.environ.get(PROTECTION_VARIABLE) or "{}")
    refused = False
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith(HEADS):
            continue
        old, new, ref = parts
        rule = rules.get(ref[len(HEADS) :])
        found = problems(rule, old, new) if isinstance(rule, dict) else []
        if found:
            refused = True
            print(REFUSED.format(ref=ref), file=sys.stderr)
            for problem in found:
                print(problem, file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
