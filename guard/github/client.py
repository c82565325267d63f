"""The PyGithub adapter that implements `GitHubPort`: one client per installation (or token).

    client = GitHubClient(AppAuth(app_id, pem, api_url=url), url, installation_id=42)

`base_url` is `GUARD_GITHUB_API_URL`: api.github.com, `https://HOST/api/v3` on GHES, or the
local sandbox. Retries, error classification and rate-limit observation happen here once;
see `guard.github.retry` for the policy.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from github.ContentFile import ContentFile

from guard.github import convert
from guard.github.client_deployments import DeploymentOperations
from guard.github.client_git import GitOperations
from guard.github.client_issues import IssueOperations
from guard.github.client_lists import ListOperations
from guard.github.errors import GitHubError, NotFoundError
from guard.github.models import CheckConclusion, CheckRunRef, CheckStatus, ReviewState
from guard.github.port import GitHubPort


def _output(title: str | None, summary: str | None, text: str) -> dict[str, str] | None:
    if title is None or summary is None:
        return None
    output = {"title": title, "summary": summary}
    if text:
        output["text"] = text
    return output


class GitHubClient(DeploymentOperations, GitOperations, IssueOperations, ListOperations):
    """Every operation of the port, over PyGithub, retried and observed."""

    def get_file(self, repo: str, path: str, ref: str) -> bytes | None:
        """The file's bytes at `ref`; None when absent (or a directory)."""

        def call() -> bytes | None:
            found = self._repo(repo).get_contents(path, ref=ref)
            if not isinstance(found, ContentFile) or found.raw_data.get("type") != "file":
                return None
            if found.raw_data.get("encoding") != "base64":
                # Over 1 MB the contents API sends no content; our files are never that big.
                raise GitHubError(f"{repo}:{path} at {ref} is too large to read through the API")
            return base64.b64decode(found.raw_data.get("content") or "")

        try:
            return self._idempotent(f"read {path} at {ref} in {repo}", call)
        except NotFoundError:
            return None

    def default_branch(self, repo: str) -> str:
        """The repository's default branch name."""
        data = self._idempotent(f"read {repo}", lambda: self._repo(repo).raw_data)
        return str(data["default_branch"])

    def create_check_run(
        self,
        repo: str,
        head_sha: str,
        name: str,
        *,
        status: CheckStatus,
        title: str,
        summary: str,
        text: str = "",
        details_url: str | None = None,
        conclusion: CheckConclusion | None = None,
        external_id: str | None = None,
    ) -> CheckRunRef:
        """Create a check run. With `external_id` an ambiguous failure is settled by looking
        the run up (`find_check_run`); without one it raises AmbiguousWriteError rather than
        risk a second run."""
        body: dict[str, Any] = {
            "name": name,
            "head_sha": head_sha,
            "status": status,
            "output": _output(title, summary, text),
        }
        if details_url is not None:
            body["details_url"] = details_url
        if conclusion is not None:
            body["conclusion"] = conclusion
        if external_id is not None:
            body["external_id"] = external_id
        url = f"{self._repo(repo).url}/check-runs"

        def call() -> CheckRunRef:
            return convert.check_run(self._api("POST", url, body))

        what = f"create check run {name!r} in {repo}"
        if external_id is None:
            return self._create(what, call)
        key = external_id
        return self._create(
            what, call, recover=lambda: self.find_check_run(repo, head_sha, name, key)
        )

    def find_check_run(
        self, repo: str, head_sha: str, name: str, external_id: str
    ) -> CheckRunRef | None:
        """The newest check run named `name` on `head_sha` that carries `external_id`."""
        for run in self.list_check_runs_for_ref(repo, head_sha, name, every=True):
            if run.external_id == external_id and run.name == name:
                return CheckRunRef(run.id, run.html_url)
        return None

    def update_check_run(
        self,
        repo: str,
        check_run_id: int,
        *,
        status: CheckStatus | None = None,
        conclusion: CheckConclusion | None = None,
        title: str | None = None,
        summary: str | None = None,
        text: str = "",
    ) -> None:
        """Update a check run; the same PATCH twice leaves the same state, so it is retried."""
        body: dict[str, Any] = {}
        if status is not None:
            body["status"] = status
        if conclusion is not None:
            body["conclusion"] = conclusion
        output = _output(title, summary, text)
        if output is not None:
            body["output"] = output
        url = f"{self._repo(repo).url}/check-runs/{check_run_id}"
        self._idempotent(
            f"update check run {check_run_id} in {repo}", lambda: self._api("PATCH", url, body)
        )

    def review_protection_rule(
        self,
        repo: str,
        run_id: int,
        environment: str,
        state: ReviewState | None,
        comment: str,
    ) -> None:
        """Answer a custom deployment protection rule (PyGithub 2.10 does not wrap this route).

        An approval or rejection sets a state and may be sent again; a bare report is one of
        at most ten per deployment, so a lost answer to it is not repeated.
        """
        body: dict[str, Any] = {"environment_name": environment, "comment": comment[:1024]}
        if state is not None:
            body["state"] = state
        url = f"{self._repo(repo).url}/actions/runs/{run_id}/deployment_protection_rule"
        what = f"review protection rule of run {run_id} in {repo}"
        if state is not None:
            self._idempotent(what, lambda: self._api("POST", url, body))
        else:
            self._create(what, lambda: self._api("POST", url, body))

    def dispatch_workflow(
        self, repo: str, workflow_file: str, ref: str, inputs: Mapping[str, str]
    ) -> None:
        """Start a workflow run. It cannot be looked up afterwards, so never sent twice blindly."""
        workflow = quote(workflow_file, safe="")
        url = f"{self._repo(repo).url}/actions/workflows/{workflow}/dispatches"
        body = {"ref": ref, "inputs": dict(inputs)}
        self._create(
            f"dispatch {workflow_file} on {ref} in {repo}", lambda: self._api("POST", url, body)
        )


def _conforms(client: GitHubClient) -> GitHubPort:
    # mypy checks here, once, that the adapter really implements the port.
    return client
