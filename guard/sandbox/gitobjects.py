"""Git objects as values, and fast reads of them: one `git cat-file --batch-command` per repo.

Starting a process costs milliseconds; a GET that reads a ref, a commit and a tree would pay it
several times. The batch process answers each lookup over a pipe instead, and it sees objects
and refs other git commands write after it started (git re-reads loose refs and objects).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class GitIdentity:
    """An author or committer line: who and when."""

    name: str
    email: str
    when: datetime

    @classmethod
    def now(cls, name: str, email: str) -> GitIdentity:
        return cls(name, email, datetime.now(UTC).replace(microsecond=0))

    def git_date(self) -> str:
        offset = self.when.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        hours, mins = divmod(abs(minutes), 60)
        return f"{int(self.when.timestamp())} {sign}{hours:02d}{mins:02d}"

    def iso_date(self) -> str:
        """GitHub reports git dates in UTC with a trailing Z."""
        return self.when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @classmethod
    def parse_line(cls, line: str) -> GitIdentity:
        """Parse `Name <email> 1700000000 +0100` from a commit header."""
        name_part, _, rest = line.partition(" <")
        email, _, stamp = rest.partition("> ")
        seconds, _, zone = stamp.partition(" ")
        sign = -1 if zone.startswith("-") else 1
        offset = timedelta(hours=int(zone[1:3] or 0), minutes=int(zone[3:5] or 0)) * sign
        return cls(name_part, email, datetime.fromtimestamp(int(seconds), timezone(offset)))


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: GitIdentity
    committer: GitIdentity
    message: str


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str
    path: str
    size: int | None


@dataclass(frozen=True)
class TreeChange:
    """One entry of a create-tree request: a blob by sha or content, a subtree, or a deletion."""

    path: str
    mode: str
    type: str
    sha: str | None
    content: bytes | None = None


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str
    sha: str | None
    additions: int
    deletions: int
    patch: str | None


@dataclass(frozen=True)
class ObjectInfo:
    sha: str
    type: str
    size: int


@dataclass(frozen=True)
class RawTreeEntry:
    mode: str
    name: str
    sha: str

    @property
    def type(self) -> str:
        if self.mode == "040000":
            return "tree"
        return "commit" if self.mode == "160000" else "blob"


class ObjectReader:
    """Thread-safe; restarts its process if it died. close() ends it."""

    def __init__(self, git_dir: Path, env: Mapping[str, str]) -> None:
        self._git_dir = git_dir
        self._env = dict(env)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    def _pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        if self._closed:
            raise RuntimeError(f"the reader of {self._git_dir} is closed")
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                ["git", f"--git-dir={self._git_dir}", "cat-file", "--batch-command"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=self._env,
            )
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None
        assert stdout is not None
        return stdin, stdout

    def _ask(
        self, command: str, name: str, *, with_content: bool
    ) -> tuple[ObjectInfo, bytes] | None:
        # The protocol is line-based: a name with whitespace cannot be asked about (nor exist).
        if not name or any(character.isspace() for character in name):
            return None
        with self._lock:
            stdin, stdout = self._pipes()
            stdin.write(f"{command} {name}\n".encode())
            stdin.flush()
            header = stdout.readline().decode().rstrip("\n")
            parts = header.split(" ")
            if len(parts) != 3 or parts[-1] in {"missing", "ambiguous"}:
                return None
            info = ObjectInfo(parts[0], parts[1], int(parts[2]))
            if not with_content:
                return info, b""
            data = stdout.read(info.size)
            stdout.read(1)  # the newline after the content
            return info, data

    def info(self, name: str) -> ObjectInfo | None:
        """Sha, type and size of any revision git can name (`main`, `sha^{tree}`, `sha:path`)."""
        found = self._ask("info", name, with_content=False)
        return found[0] if found else None

    def contents(self, name: str) -> tuple[ObjectInfo, bytes] | None:
        return self._ask("contents", name, with_content=True)

    def tree(self, sha: str) -> list[RawTreeEntry]:
        """The entries of one tree object, parsed from git's binary tree format."""
        found = self.contents(sha)
        if found is None or found[0].type != "tree":
            return []
        data, entries, position = found[1], [], 0
        while position < len(data):
            space = data.index(b" ", position)
            nul = data.index(b"\0", space)
            mode = data[position:space].decode()
            name = data[space + 1 : nul].decode(errors="surrogateescape")
            sha_hex = data[nul + 1 : nul + 21].hex()
            entries.append(RawTreeEntry(mode.rjust(6, "0"), name, sha_hex))
            position = nul + 21
        return entries

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
            self._closed = True
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
