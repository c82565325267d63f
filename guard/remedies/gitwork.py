"""git in a temporary clone: a real revert of a commit range, pushed to a new branch.

The installation token reaches git only through the environment of each command (an
`http.<url>.extraHeader` in GIT_CONFIG_*): it is never in a remote URL, a config file or a
command line, and the clone is deleted when the work is done, whatever happened.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from guard.remedies import messages
from guard.remedies.errors import GitCommandError, RevertConflictError
from guard.remedies.models import short

# Who the revert commits are by; GitHub links the noreply address to no one.
AUTHOR_NAME = "deploy-guard"
AUTHOR_EMAIL = "deploy-guard@users.noreply.github.com"


@dataclass(frozen=True)
class RevertedBranch:
    """The pushed branch: its head, the branch it was made on, and that branch's head then."""

    sha: str
    base_head: str
    reverted: tuple[str, ...]


class Workspace:
    """One temporary repository and the git commands run in it, with the token in memory."""

    def __init__(self, directory: Path, url: str, token: str) -> None:
        self.directory = directory
        self.url = url
        self._secrets = (token, _basic(token))
        self._environment = _environment(url, token)

    def git(self, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["git", *args],
            cwd=self.directory,
            env=self._environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode not in ok:
            output = self.redact((done.stderr or done.stdout).strip())
            raise GitCommandError(f"git {args[0]} failed: {output}")
        return done

    def out(self, *args: str) -> str:
        return self.git(*args).stdout.strip()

    def redact(self, text: str) -> str:
        """git never prints the header, but whatever it prints passes through here first."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def has_commit(self, sha: str) -> bool:
        return self.git("cat-file", "-e", f"{sha}^{{commit}}", ok=(0, 1, 128)).returncode == 0


def _basic(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


def _environment(url: str, token: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_"))}
    settings = (
        # Scoped to the remote: a redirect elsewhere would not carry the token.
        (f"http.{url}.extraHeader", f"Authorization: Basic {_basic(token)}"),
        ("credential.helper", ""),
        ("core.hooksPath", os.devnull),
        ("advice.detachedHead", "false"),
    )
    environment = {
        **inherited,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": AUTHOR_NAME,
        "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
        "GIT_COMMITTER_NAME": AUTHOR_NAME,
        "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        "GIT_CONFIG_COUNT": str(len(settings)),
        "LC_ALL": "C",
    }
    for index, (key, value) in enumerate(settings):
        environment[f"GIT_CONFIG_KEY_{index}"] = key
        environment[f"GIT_CONFIG_VALUE_{index}"] = value
    return environment


def _revert_one(space: Workspace, commit: str, context: dict[str, str]) -> bool:
    """Revert one commit; False when it changed nothing (already undone on the branch)."""
    merge = len(space.out("rev-list", "--parents", "-n", "1", commit).split()) > 2
    args = ["revert", "--no-edit", *(["-m", "1"] if merge else []), commit]
    done = space.git(*args, ok=(0, 1))
    if done.returncode == 0:
        return True
    conflicted = tuple(space.out("diff", "--name-only", "--diff-filter=U").splitlines())
    if conflicted:
        space.git("revert", "--abort", ok=(0, 1, 128))
        files = ", ".join(conflicted)
        raise RevertConflictError(
            messages.REVERT_CONFLICT.format(files=files, **context), conflicted
        )
    if not space.out("status", "--porcelain"):
        # Nothing to commit: the branch already undid this one. git leaves no revert in
        # progress for a single commit; --quit clears one if a later git version does.
        space.git("revert", "--quit", ok=(0, 128))
        return False
    space.git("revert", "--abort", ok=(0, 1, 128))
    raise GitCommandError(f"git revert {short(commit)} failed: {space.redact(done.stderr.strip())}")


def revert_onto_branch(
    *,
    url: str,
    token: str,
    base: str,
    good: str,
    bad: str,
    new_branch: str,
    workdir: Path | None = None,
) -> RevertedBranch:
    """Revert `good..bad` (first-parent, newest first) on `base`'s head and push `new_branch`.

    Raises RevertConflictError with the files when a commit does not revert cleanly, GitCommandError
    when git itself fails or nothing is left to revert.
    """
    with tempfile.TemporaryDirectory(prefix="deploy-guard-revert-", dir=workdir) as directory:
        space = Workspace(Path(directory), url, token)
        space.git("init", "--quiet", "--initial-branch=deploy-guard")
        space.git("fetch", "--quiet", "--no-tags", url, f"+refs/heads/{base}:refs/remotes/{base}")
        for sha in (good, bad):
            if not space.has_commit(sha):
                space.git("fetch", "--quiet", "--no-tags", url, sha)
        space.git("checkout", "--quiet", "--detach", f"refs/remotes/{base}")
        head = space.out("rev-parse", "HEAD")
        commits = space.out("rev-list", "--first-parent", f"{good}..{bad}").split()
        context = {"good": short(good), "bad": short(bad), "branch": base, "head": short(head)}
        if not commits:
            raise GitCommandError(messages.EMPTY_RANGE.format(**context))
        reverted = tuple(c for c in commits if _revert_one(space, c, context))
        if not reverted:
            raise GitCommandError(messages.NOTHING_TO_REVERT.format(**context))
        space.git("push", "--quiet", url, f"HEAD:refs/heads/{new_branch}")
        return RevertedBranch(space.out("rev-parse", "HEAD"), head, reverted)
