"""Git data and pull requests: what a revert is built from, since GitHub has no revert endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from guard.github import convert
from guard.github.client_base import ClientBase
from guard.github.errors import GitHubError, NotFoundError, RefUpdateRefused, RefusedError
from guard.github.models import BranchRef, CommitInfo, Comparison, PullRef
from guard.github.retry import describe

# A comparison lists commits oldest first; GitHub serves at most this many.
COMPARE_COMMIT_LIMIT = 10_000


def _ref_url(repo_url: str, branch: str) -> str:
    return f"{repo_url}/git/refs/heads/{quote(branch)}"


class GitOperations(ClientBase):
    """Refs, commits, comparisons and pull requests."""

    def get_branch_head(self, repo: str, branch: str) -> str:
        """The SHA the branch points at."""
        url = f"{self._repo(repo).url}/git/ref/heads/{quote(branch)}"
        data = self._idempotent(f"read branch {branch} of {repo}", lambda: self._api("GET", url))
        return str(data["object"]["sha"])

    def get_commit(self, repo: str, sha: str) -> CommitInfo:
        """One GET of /commits/{sha}: unlike /git/commits it also names the author's login."""

        def call() -> CommitInfo:
            return convert.commit(self._repo(repo).get_commit(sha).raw_data)

        try:
            return self._idempotent(f"read commit {sha} of {repo}", call)
        except RefusedError as refused:
            # GitHub answers an unknown SHA with 422 "No commit found for SHA", not a 404.
            if "no commit found" not in refused.message.lower():
                raise
            raise NotFoundError(refused.message, status=refused.status) from refused

    def create_commit(self, repo: str, message: str, tree_sha: str, parents: Sequence[str]) -> str:
        """Create a commit object; PyGithub's create_git_commit wants objects, so post directly.

        Sending it twice is harmless: a commit no ref points at is never seen and is
        garbage-collected, so this write is retried like a read.
        """
        url = f"{self._repo(repo).url}/git/commits"
        body = {"message": message, "tree": tree_sha, "parents": list(parents)}
        data = self._idempotent(f"create commit in {repo}", lambda: self._api("POST", url, body))
        return str(data["sha"])

    def update_branch(self, repo: str, branch: str, sha: str) -> None:
        """Move the branch to `sha` with `force: false`: only a fast-forward is accepted.

        Posted directly: PyGithub's lazy GitRef would PATCH `/git/ref/...` (singular), the
        read route, instead of `/git/refs/...`.
        """
        url = _ref_url(self._repo(repo).url, branch)

        def call() -> str:
            try:
                self._api("PATCH", url, {"sha": sha, "force": False})
            except GitHubError:
                raise
            except Exception as error:
                status = getattr(error, "status", None)
                if status in (409, 422):
                    # Protected branch, required checks, or not a fast-forward: GitHub says which.
                    raise RefUpdateRefused(branch, describe(error), status=status) from error
                raise
            return sha

        def recover() -> str | None:
            # A lost answer to a move that happened: the branch is already where we wanted.
            return sha if self.get_branch_head(repo, branch) == sha else None

        self._create(f"move {branch} of {repo} to {sha}", call, recover=recover)

    def create_branch(self, repo: str, branch: str, sha: str) -> BranchRef:
        """Create `refs/heads/<branch>` at `sha`; one that exists comes back with created=False."""

        def call() -> BranchRef:
            created = self._repo(repo).create_git_ref(f"refs/heads/{branch}", sha).raw_data
            return BranchRef(name=branch, sha=str(created["object"]["sha"]), created=True)

        def recover() -> BranchRef | None:
            try:
                head = self.get_branch_head(repo, branch)
            except NotFoundError:
                return None
            return BranchRef(name=branch, sha=head, created=head == sha)

        try:
            return self._create(f"create branch {branch} in {repo}", call, recover=recover)
        except RefusedError as refused:
            # 422 "Reference already exists": a previous attempt (or a person) made it.
            if refused.status != 422 or "already exists" not in refused.message.lower():
                raise
            return BranchRef(name=branch, sha=self.get_branch_head(repo, branch), created=False)

    def compare(self, repo: str, base: str, head: str) -> Comparison:
        """`base...head`: commits on head since the merge base, and the files they change."""

        url = f"{self._repo(repo).url}/compare/{quote(base)}...{quote(head)}"

        def call() -> Comparison:
            data = self._api("GET", url)
            # Page one came with the summary; only a long history needs further pages.
            commits = data.get("commits") or []
            if len(commits) < int(data.get("total_commits") or 0):
                commits = self._list(url, list_item="commits", limit=COMPARE_COMMIT_LIMIT)
            return Comparison(
                status=str(data.get("status") or ""),
                ahead_by=int(data.get("ahead_by") or 0),
                behind_by=int(data.get("behind_by") or 0),
                commits=tuple(convert.compared_commit(c) for c in commits),
                files=tuple(convert.changed_file(f) for f in data.get("files") or ()),
                merge_base_sha=(data.get("merge_base_commit") or {}).get("sha"),
            )

        return self._idempotent(f"compare {base}...{head} in {repo}", call)

    def find_open_pull(self, repo: str, head: str, base: str) -> PullRef | None:
        """The open pull request from branch `head` (of this repository) into `base`."""
        owner = repo.split("/", 1)[0]

        url = f"{self._repo(repo).url}/pulls"
        params = {"state": "open", "head": f"{owner}:{head}", "base": base}

        def call() -> PullRef | None:
            for pull in self._list(url, params):
                found = convert.pull(pull)
                # Check what came back rather than trust every server to apply the filters.
                if found.head == head and found.base == base:
                    return found
            return None

        return self._idempotent(f"find open pull {head} -> {base} in {repo}", call)

    def find_merged_pull(self, repo: str, head: str) -> PullRef | None:
        """The newest merged pull request from branch `head` of this repository, any base."""
        owner = repo.split("/", 1)[0]
        url = f"{self._repo(repo).url}/pulls"
        params = {"state": "closed", "head": f"{owner}:{head}"}

        def call() -> PullRef | None:
            for raw in self._list(url, params):
                found = convert.pull(raw)
                # Closed unmerged pulls are listed too; the newest comes first.
                if found.head == head and found.merged:
                    return found
            return None

        return self._idempotent(f"find merged pull from {head} in {repo}", call)

    def create_pull(self, repo: str, head: str, base: str, title: str, body: str) -> PullRef:
        """Open a pull request from `head` into `base`, or return the one already open."""

        def call() -> PullRef:
            pull = self._repo(repo).create_pull(base=base, head=head, title=title, body=body)
            return convert.pull(pull.raw_data)

        try:
            return self._create(
                f"open pull {head} -> {base} in {repo}",
                call,
                recover=lambda: self.find_open_pull(repo, head, base),
            )
        except RefusedError as refused:
            # 422 "A pull request already exists for owner:head": reuse it.
            if refused.status != 422 or "already exists" not in refused.message.lower():
                raise
            existing = self.find_open_pull(repo, head, base)
            if existing is None:
                raise
            return existing
