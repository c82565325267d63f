"""CODEOWNERS as GitHub reads it: the first file found, gitignore-style patterns, last rule wins."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from guard.github.port import GitHubPort

# Where GitHub looks, in this order; the first one found is the only one used.
LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@dataclass(frozen=True)
class Rule:
    """One line: a path pattern and its owners (none: the paths have no owner)."""

    pattern: str
    owners: tuple[str, ...]
    line: int
    regex: re.Pattern[str]


@dataclass(frozen=True)
class Owners:
    """The owners of some paths, sorted by kind: only users can be assignees."""

    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


def parse(text: str) -> tuple[Rule, ...]:
    """The rules of a CODEOWNERS file; lines GitHub would ignore are skipped."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        pattern, *owners = line.split()
        if pattern.startswith("!") or "[" in pattern:
            # GitHub does not support negation or character ranges: it skips such lines.
            continue
        pattern = pattern.replace("\\#", "#")
        rules.append(Rule(pattern, tuple(owners), number, compile_pattern(pattern)))
    return tuple(rules)


def _strip_comment(line: str) -> str:
    # "#" starts a comment unless escaped ("\#"), as at the start of a pattern.
    for index, char in enumerate(line):
        if char == "#" and (index == 0 or line[index - 1] != "\\"):
            return line[:index]
    return line


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regular expression for the paths (relative, with /) that `pattern` matches."""
    directory_only = pattern.endswith("/")
    body = pattern.strip("/")
    # A slash at the start or in the middle ties the pattern to the root; otherwise it
    # matches at any depth.
    anchored = pattern.startswith("/") or "/" in body
    parts = body.split("/")
    regex = "/".join(_segment(part) for part in parts)
    # Stitch "**" segments so that they may also match no directory at all.
    regex = regex.replace("/(?:.*)/", "(?:/.*)?/")
    if regex.startswith("(?:.*)/"):
        regex = "(?:.*/)?" + regex[len("(?:.*)/") :]
    prefix = "" if anchored else "(?:.*/)?"
    if directory_only:
        suffix = "/.*"
    elif parts[-1] == "*":
        # "docs/*" owns the files directly in docs, not those further down (GitHub's rule).
        suffix = ""
    else:
        # A name may be a directory: it owns everything below it too.
        suffix = "(?:/.*)?"
    return re.compile(f"{prefix}{regex}{suffix}", re.DOTALL)


def _segment(part: str) -> str:
    if part == "**":
        return "(?:.*)"
    out = []
    index = 0
    while index < len(part):
        char = part[index]
        if char == "*":
            if part[index : index + 2] == "**":
                out.append(".*")
                index += 2
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and index + 1 < len(part):
            index += 1
            out.append(re.escape(part[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def owners_of(rules: Iterable[Rule], path: str) -> tuple[str, ...]:
    """The owners of one path: those of the last rule that matches it."""
    found: tuple[str, ...] = ()
    for rule in rules:
        if rule.regex.fullmatch(path.lstrip("/")):
            found = rule.owners
    return found


def owners_for(rules: Iterable[Rule], paths: Iterable[str]) -> Owners:
    """Every owner of any of `paths`, in order of first appearance, sorted by kind."""
    listed = tuple(rules)
    users: list[str] = []
    teams: list[str] = []
    emails: list[str] = []
    for path in paths:
        for owner in owners_of(listed, path):
            if owner.startswith("@") and "/" in owner:
                bucket, name = teams, owner
            elif owner.startswith("@"):
                bucket, name = users, owner[1:]
            else:
                bucket, name = emails, owner
            if name.lower() not in {known.lower() for known in bucket}:
                bucket.append(name)
    return Owners(tuple(users), tuple(teams), tuple(emails))


def load(port: GitHubPort, repository: str, ref: str) -> tuple[str, tuple[Rule, ...]] | None:
    """The CODEOWNERS GitHub would use at `ref` (its path and rules), or None."""
    for path in LOCATIONS:
        content = port.get_file(repository, path, ref)
        if content is not None:
            return path, parse(content.decode("utf-8", errors="replace"))
    return None
