"""The pieces every webhook payload shares: who sent it, which repository, which installation."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# What the guard's tables can hold (BIGINT ids, 255-character names): a signed body beyond
# them is refused at the edge with a 400 naming the field, never a database error.
GitHubId = Annotated[int, Field(ge=0, le=2**63 - 1)]
GitHubName = Annotated[str, Field(max_length=255)]


class PayloadModel(BaseModel):
    """Base for every payload model: keys we do not read are ignored, values are read-only."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Account(PayloadModel):
    """A user, bot or organization; the guard only ever needs the login."""

    login: GitHubName
    id: GitHubId | None = None
    type: str | None = None


class InstallationRef(PayloadModel):
    """The App installation a delivery was sent for (absent on repository and org hooks)."""

    id: GitHubId


class Repository(PayloadModel):
    """The repository an event happened in."""

    id: GitHubId
    full_name: GitHubName
    owner: Account
    default_branch: str
    html_url: str

    @property
    def owner_login(self) -> str:
        return self.owner.login


class WebhookEvent(PayloadModel):
    """One webhook delivery's body. Subclasses name their event and read only what they use."""

    # The X-GitHub-Event header value this model parses.
    event_name: ClassVar[str]

    action: str | None = None
    installation: InstallationRef | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """(event, action): the key handlers are routed by."""
        return (self.event_name, self.action)

    @property
    def installation_id(self) -> int | None:
        return self.installation.id if self.installation is not None else None


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


# GitHub sends "" for URLs and descriptions that were never set; the guard treats them as absent.
OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]
