"""A sandbox repository's commits, trees and refs, kept in a real bare git repository on disk."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from guard.sandbox.gitobjects import (
    CommitInfo,
    FileChange,
    GitIdentity,
    ObjectReader,
    RawTreeEntry,
    TreeChange,
    TreeEntry,
)

ZERO_SHA = "0" * 40
_BAD_REF = re.compile(r"[\x00-\x20~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)")
# git knows the empty tree without it being written; diffs of a root commit start from it.
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def _git_environment() -> dict[str, str]:
    """The environment for git: no inherited GIT_* (a hook's GIT_DIR, GIT_OBJECT_DIRECTORY) and
    no user or system config (hooks, default branch, signing), so only the sandbox decides."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    return {
        **inherited,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }


class GitError(Exception):
    """A git command failed in a way the API layer did not anticipate."""


class GitStore:
    """A bare repository: reads through a long-lived batch process, writes through plumbing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._env = _git_environment()
        self._reader = ObjectReader(path, self._env)

    def initialize(self, default_branch: str) -> None:
        """`git init --bare` the repository, its HEAD on the default branch."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "git",
                "init",
                "--quiet",
                "--bare",
                f"--initial-branch={default_branch}",
                str(self.path),
            ],
            check=True,
            capture_output=True,
            env=self._env,
        )

    def close(self) -> None:
        self._reader.close()

    def _run(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok_codes: Iterable[int] = (0,),
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            ["git", f"--git-dir={self.path}", *args],
            input=stdin,
            capture_output=True,
            env={**self._env, **(env or {})},
            check=False,
        )
        if result.returncode not in tuple(ok_codes):
            detail = result.stderr.decode(errors="replace").strip()
            raise GitError(f"git {args[0]} failed ({result.returncode}): {detail}")
        return result

    def _out(self, *args: str, stdin: bytes | None = None) -> str:
        return self._run(*args, stdin=stdin).stdout.decode().strip()

    # objects ------------------------------------------------------------------------------

    def write_blob(self, data: bytes) -> str:
        return self._out("hash-object", "-w", "--stdin", stdin=data)

    def read_blob(self, sha: str) -> bytes:
        found = self._reader.contents(sha)
        if found is None or found[0].type != "blob":
            raise GitError(f"{sha} is not a blob")
        return found[1]

    def object_type(self, sha: str) -> str | None:
        info = self._reader.info(sha)
        return info.type if info else None

    def resolve(self, rev: str, kind: str = "commit") -> str | None:
        """The sha a branch, tag, ref or sha names (peeled to `kind`), or None."""
        if not rev or rev.startswith("-"):
            return None
        info = self._reader.info(f"{rev}^{{{kind}}}")
        return info.sha if info else None

    def read_commit(self, sha: str) -> CommitInfo:
        found = self._reader.contents(sha)
        if found is None or found[0].type != "commit":
            raise GitError(f"{sha} is not a commit")
        header, _, message = found[1].decode(errors="replace").partition("\n\n")
        tree = ""
        parents: list[str] = []
        author = committer = None
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author = GitIdentity.parse_line(value)
            elif key == "committer":
                committer = GitIdentity.parse_line(value)
        if author is None or committer is None:
            raise GitError(f"commit {sha} has no author or committer")
        return CommitInfo(found[0].sha, tree, tuple(parents), author, committer, message)

    def write_commit(
        self,
        tree: str,
        parents: Iterable[str],
        message: str,
        author: GitIdentity,
        committer: GitIdentity,
    ) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": author.git_date(),
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": committer.git_date(),
        }
        # -F - stores the message byte for byte, as the Git Data API does.
        return self._run(*args, "-F", "-", stdin=message.encode(), env=env).stdout.decode().strip()

    # trees --------------------------------------------------------------------------------

    def list_tree(self, tree: str, *, recursive: bool = False) -> list[TreeEntry]:
        """A tree's entries (a commit stands for its tree); recursive adds what subtrees hold."""
        root = self.resolve(tree, "tree")
        return [] if root is None else self._walk(root, "", recursive=recursive)

    def _walk(self, tree: str, prefix: str, *, recursive: bool) -> list[TreeEntry]:
        entries = []
        for raw in self._reader.tree(tree):
            path = f"{prefix}{raw.name}"
            entries.append(self._entry(raw, path))
            if recursive and raw.type == "tree":
                entries.extend(self._walk(raw.sha, f"{path}/", recursive=True))
        return entries

    def _entry(self, raw: RawTreeEntry, path: str) -> TreeEntry:
        size = None
        if raw.type == "blob":
            info = self._reader.info(raw.sha)
            size = info.size if info else 0
        return TreeEntry(raw.mode, raw.type, raw.sha, path, size)

    def entry_at(self, commit: str, path: str) -> TreeEntry | None:
        """The tree entry at `path` in a commit; a path naming a directory gives its tree."""
        current = self.resolve(commit, "tree")
        if current is None:
            return None
        if path == "":
            return TreeEntry("040000", "tree", current, "", None)
        parts = path.split("/")
        for depth, part in enumerate(parts):
            found = next((raw for raw in self._reader.tree(current) if raw.name == part), None)
            if found is None:
                return None
            if depth == len(parts) - 1:
                return self._entry(found, path)
            if found.type != "tree":
                return None
            current = found.sha
        return None

    def write_tree(self, base_tree: str | None, changes: Iterable[TreeChange]) -> str:
        """Apply create-tree entries (paths with slashes, deletions) to a base tree."""
        files: dict[str, tuple[str, str, str]] = {}
        if base_tree is not None:
            for entry in self.list_tree(base_tree, recursive=True):
                if entry.type != "tree":
                    files[entry.path] = (entry.mode, entry.type, entry.sha)
        for change in changes:
            _clear(files, change.path)
            if change.sha is None and change.content is None:
                continue
            if change.type == "tree":
                for entry in self.list_tree(change.sha or EMPTY_TREE, recursive=True):
                    if entry.type != "tree":
                        files[f"{change.path}/{entry.path}"] = (entry.mode, entry.type, entry.sha)
                continue
            sha = change.sha if change.content is None else self.write_blob(change.content)
            files[change.path] = (change.mode, change.type, sha or "")
        return self._make_tree(files)

    def _make_tree(self, files: Mapping[str, tuple[str, str, str]]) -> str:
        direct: list[tuple[str, str, str, str]] = []
        subdirs: dict[str, dict[str, tuple[str, str, str]]] = {}
        for path, (mode, kind, sha) in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                subdirs.setdefault(head, {})[rest] = (mode, kind, sha)
            else:
                direct.append((mode, kind, sha, head))
        for name, content in subdirs.items():
            direct.append(("040000", "tree", self._make_tree(content), name))
        lines = "".join(f"{mode} {kind} {sha}\t{name}\0" for mode, kind, sha, name in direct)
        # Names read from trees keep undecodable bytes as surrogates; write them back unchanged.
        return self._out("mktree", "-z", stdin=lines.encode(errors="surrogateescape"))

    # refs ---------------------------------------------------------------------------------

    def ref_target(self, ref: str) -> str | None:
        """The object a full ref name (`refs/heads/main`) points at, or None."""
        if not valid_ref_name(ref):
            return None
        info = self._reader.info(ref)
        return info.sha if info else None

    def list_refs(self, prefix: str) -> list[tuple[str, str]]:
        """(ref, sha) pairs under a prefix; for tags, the sha is the tagged commit."""
        out = self._out("for-each-ref", "--format=%(refname) %(objectname) %(*objectname)", prefix)
        pairs = []
        for line in out.splitlines():
            ref, sha, peeled = ([*line.split(" "), ""])[:3]
            pairs.append((ref, peeled or sha))
        return pairs

    def update_ref(self, ref: str, new: str, expected_old: str | None) -> bool:
        """Compare-and-swap a ref: with expected_old None the ref must not exist yet."""
        old = expected_old if expected_old is not None else ZERO_SHA
        result = self._run("update-ref", ref, new, old, ok_codes=(0, 1, 128))
        return result.returncode == 0

    def delete_ref(self, ref: str, expected_old: str) -> bool:
        result = self._run("update-ref", "-d", ref, expected_old, ok_codes=(0, 1, 128))
        return result.returncode == 0

    # history ------------------------------------------------------------------------------

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        result = self._run("merge-base", "--is-ancestor", ancestor, descendant, ok_codes=(0, 1))
        return result.returncode == 0

    def merge_base(self, left: str, right: str) -> str | None:
        result = self._run("merge-base", left, right, ok_codes=(0, 1))
        return result.stdout.decode().strip() or None

    def rev_list(self, exclude: str | None, include: str) -> list[str]:
        """Commits reachable from include but not exclude, oldest first (as compare lists them)."""
        args = ["rev-list", "--reverse", include]
        if exclude is not None:
            args.append(f"^{exclude}")
        return self._out(*args).split()

    def diff(self, old_tree: str | None, new_tree: str) -> list[FileChange]:
        """File-level changes between two tree-ish objects, with unified-diff hunks."""
        old = old_tree or EMPTY_TREE
        raw = self._run("diff-tree", "-r", "-z", "--no-renames", old, new_tree).stdout.decode()
        numstat = self._run(
            "diff-tree", "-r", "-z", "--no-renames", "--numstat", old, new_tree
        ).stdout.decode()
        patch_text = self._run(
            "diff-tree", "-r", "-p", "--no-renames", "--no-color", old, new_tree
        ).stdout.decode(errors="replace")
        raw_fields = [field for field in raw.split("\0") if field]
        counts = [field for field in numstat.split("\0") if field]
        patches = _split_patches(patch_text)
        changes = []
        for index in range(0, len(raw_fields), 2):
            meta, path = raw_fields[index], raw_fields[index + 1]
            _, _, _, new_sha, letter = meta.split()
            added, deleted = counts[index // 2].split("\t")[:2]
            status = {"A": "added", "D": "deleted", "M": "modified"}.get(letter, "changed")
            changes.append(
                FileChange(
                    path=path,
                    status="removed" if status == "deleted" else status,
                    sha=None if letter == "D" else new_sha,
                    additions=int(added) if added.isdigit() else 0,
                    deletions=int(deleted) if deleted.isdigit() else 0,
                    patch=patches[index // 2] if index // 2 < len(patches) else None,
                )
            )
        return changes

    def patch_text(self, old_tree: str | None, new_tree: str) -> str:
        """`git diff` output between two tree-ish objects, as GitHub's diff media type gives it."""
        return self._run(
            "diff-tree", "-r", "-p", "--no-renames", "--no-color", old_tree or EMPTY_TREE, new_tree
        ).stdout.decode(errors="replace")

    def merge_trees(self, ours: str, theirs: str) -> str | None:
        """The merged tree of two commits, or None when they conflict."""
        result = self._run("merge-tree", "--write-tree", ours, theirs, ok_codes=(0, 1))
        if result.returncode == 1:
            return None
        return result.stdout.decode().split("\n", 1)[0].strip()


def valid_ref_name(ref: str) -> bool:
    """A full ref name git accepts, and no revision syntax (`main~1`, `x^{tree}`) in disguise."""
    return ref.startswith("refs/") and _BAD_REF.search(ref) is None and not ref.endswith(("/", "."))


def _clear(files: dict[str, tuple[str, str, str]], path: str) -> None:
    """Drop whatever sits at path: the file, everything below it, and files that are its parents."""
    for existing in [p for p in files if p == path or p.startswith(f"{path}/")]:
        del files[existing]
    parts = path.split("/")
    for depth in range(1, len(parts)):
        files.pop("/".join(parts[:depth]), None)


def _split_patches(text: str) -> list[str | None]:
    """One hunk text per file of a `diff-tree -p` output, None for binary files."""
    patches: list[str | None] = []
    for chunk in text.split("\ndiff --git ") if text else []:
        hunk_at = chunk.find("\n@@")
        patches.append(chunk[hunk_at + 1 :].rstrip("\n") if hunk_at >= 0 else None)
    return patches
