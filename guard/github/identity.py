"""Who the guard is on GitHub, so that what claims to be its work is believed only when it is.

A deployment's payload can be written by anyone who can create deployments; its `creator` and
`performed_via_github_app` are written by GitHub from the credential that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from guard.github.models import PAYLOAD_NAMESPACE, DeploymentRef

# GitHub's logins allow letters, digits and hyphens only: this suffix is reserved for Apps.
BOT_SUFFIX = "[bot]"
VIEWER_QUERY = "query { viewer { login } }"


@dataclass(frozen=True)
class OwnIdentity:
    """The account the client acts as: an App (by its id) or an account (by its login).

    For an App the id we were configured with settles it without asking GitHub; the creator
    must also be a bot, since a person's user-to-server token carries the App's id too.
    """

    login: str | None = None
    app_id: int | None = None

    def created(self, deployment: DeploymentRef) -> bool:
        """Whether GitHub says this identity created `deployment`."""
        creator = deployment.creator_login
        if creator is None:
            return False
        if self.app_id is not None:
            return deployment.app_id == self.app_id and creator.endswith(BOT_SUFFIX)
        return self.login is not None and creator.lower() == self.login.lower()

    def describe(self) -> str:
        """For logs: the identity, never a credential."""
        return f"app {self.app_id}" if self.app_id is not None else (self.login or "unknown")


def find_own_deployment(
    deployments: Sequence[DeploymentRef], key: str | None, identity: OwnIdentity
) -> DeploymentRef | None:
    """The deployment carrying idempotency `key` that `identity` created, if any.

    Anyone who can create deployments can write the key into a payload before our retry
    looks; GitHub's `creator` and `performed_via_github_app` cannot be written by them.
    """
    for deployment in deployments:
        if deployment.idempotency_key == key and identity.created(deployment):
            return deployment
    return None


def made_by_guard(
    deployment: DeploymentRef,
    identity: Callable[[], OwnIdentity],
    *,
    remedy_of: int | None = None,
) -> bool:
    """Whether `deployment` is the guard's own (of failed deployment `remedy_of`, if given).

    Its payload must claim it AND GitHub's creator must be us: a payload alone is anyone's to
    write. `identity` is called only when the payload claims it, so the common deployment
    costs no call (and an App knows itself without one).
    """
    claim = deployment.payload.get(PAYLOAD_NAMESPACE)
    if not isinstance(claim, Mapping):
        return False
    if remedy_of is not None and claim.get("remedy_of") != remedy_of:
        return False
    return identity().created(deployment)
