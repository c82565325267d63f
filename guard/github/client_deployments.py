"""Deployments and their statuses: listed in a defined order, the last good one, new ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from github.GithubObject import NotSet

from guard.github import convert
from guard.github.client_identity import IdentityOperations
from guard.github.errors import RefusedError
from guard.github.identity import find_own_deployment
from guard.github.models import (
    PAYLOAD_NAMESPACE,
    DeploymentRef,
    DeploymentState,
    DeploymentStatusInfo,
    truncate_description,
)


def newest_first_deployments(items: Sequence[DeploymentRef]) -> list[DeploymentRef]:
    """Our order, since GitHub documents none: newest created first, ties by higher id."""
    return sorted(items, key=lambda d: (d.created_at, d.id), reverse=True)


def newest_first_statuses(items: Sequence[DeploymentStatusInfo]) -> list[DeploymentStatusInfo]:
    """Our order for statuses, for the same reason."""
    return sorted(items, key=lambda s: (s.created_at, s.id), reverse=True)


class DeploymentOperations(IdentityOperations):
    """The deployment half of the port."""

    def list_deployments(self, repo: str, environment: str) -> list[DeploymentRef]:
        """The environment's deployments, newest first, at most `list_limit` of them."""

        url = f"{self._repo(repo).url}/deployments"

        def call() -> list[DeploymentRef]:
            return [convert.deployment(d) for d in self._list(url, {"environment": environment})]

        return newest_first_deployments(self._idempotent(f"list deployments of {repo}", call))

    def list_deployment_statuses(self, repo: str, deployment_id: int) -> list[DeploymentStatusInfo]:
        """A deployment's statuses, newest first."""

        url = f"{self._repo(repo).url}/deployments/{deployment_id}/statuses"

        def call() -> list[DeploymentStatusInfo]:
            return [convert.deployment_status(s) for s in self._list(url)]

        what = f"list statuses of deployment {deployment_id} in {repo}"
        return newest_first_statuses(self._idempotent(what, call))

    def last_successful_deployment(
        self, repo: str, environment: str, exclude_ids: Sequence[int] = ()
    ) -> DeploymentRef | None:
        """The newest deployment with a `success` among its statuses.

        Not only the newest status: `auto_inactive` puts an `inactive` on top of the success
        of every deployment a newer one superseded, and those are exactly the good ones.
        """
        excluded = set(exclude_ids)
        for deployment in self.list_deployments(repo, environment):
            if deployment.id in excluded:
                continue
            statuses = self.list_deployment_statuses(repo, deployment.id)
            if any(s.state == "success" for s in statuses):
                return deployment
        return None

    def create_deployment_status(
        self,
        repo: str,
        deployment_id: int,
        state: DeploymentState,
        *,
        description: str = "",
        log_url: str | None = None,
        environment_url: str | None = None,
        environment: str | None = None,
    ) -> DeploymentStatusInfo:
        """Add a status; PyGithub's create_status cannot send `log_url`, so this posts directly."""
        body: dict[str, Any] = {"state": state, "description": truncate_description(description)}
        for key, value in (
            ("log_url", log_url),
            ("environment_url", environment_url),
            ("environment", environment),
        ):
            if value is not None:
                body[key] = value
        url = f"{self._repo(repo).url}/deployments/{deployment_id}/statuses"

        def recover() -> DeploymentStatusInfo | None:
            # Only the newest status can be ours: anything older was there before we posted.
            newest = self.list_deployment_statuses(repo, deployment_id)[:1]
            for status in newest:
                if status.state == state and status.description == body["description"]:
                    return status
            return None

        return self._create(
            f"post {state} status on deployment {deployment_id} in {repo}",
            lambda: convert.deployment_status(self._api("POST", url, body)),
            recover=recover,
        )

    def create_deployment(
        self,
        repo: str,
        ref: str,
        environment: str,
        *,
        payload: Mapping[str, Any] | None = None,
        description: str = "",
        auto_merge: bool = False,
        required_contexts: Sequence[str] = (),
        production_environment: bool | None = None,
        idempotency_key: str | None = None,
    ) -> DeploymentRef:
        """Create a deployment of `ref`; GitHub's defaults would merge and check contexts.

        `auto_merge=False` and `required_contexts=[]` by default: a rollback to an old SHA
        must deploy that SHA, not merge the default branch into it or wait on its checks.
        """
        body_payload = dict(payload or {})
        if idempotency_key is not None:
            ours = dict(body_payload.get(PAYLOAD_NAMESPACE) or {})
            ours["idempotency_key"] = idempotency_key
            body_payload[PAYLOAD_NAMESPACE] = ours

        def create() -> DeploymentRef:
            created = self._repo(repo).create_deployment(
                ref,
                auto_merge=auto_merge,
                required_contexts=list(required_contexts),
                payload=body_payload,
                environment=environment,
                description=description,
                production_environment=(
                    NotSet if production_environment is None else production_environment
                ),
            )
            data = created.raw_data
            if not data.get("id"):
                # 202: GitHub merged the default branch into the ref instead of deploying it.
                message = str(data.get("message") or "no deployment was created")
                raise RefusedError(f"create deployment of {ref} in {repo}: {message}", status=202)
            return convert.deployment(data)

        def recover() -> DeploymentRef | None:
            # The key is predictable: only a deployment GitHub says we created can be ours.
            listed = self.list_deployments(repo, environment)
            if not any(d.idempotency_key == idempotency_key for d in listed):
                return None
            return find_own_deployment(listed, idempotency_key, self.own_identity())

        return self._create(
            f"create deployment of {ref} to {environment} in {repo}",
            create,
            recover=recover if idempotency_key is not None else None,
        )
