"""Files the one incident issue of a failed deployment, then comments its later events on it.

    filer = IncidentFiler(port, "acme/shop", policy=on_failure.incident, notify=on_failure.notify,
                          environ=os.environ, web_url=web_url_for_api(settings.github_api_url))
    filed = filer.file(context)          # safe to call again: finds the issue by its marker
    filer.add_update(filed.issue.number, UpdateKind.REMEDY_DONE, "deployment 4243 created")

`claim_incident` in the store decides which replica files; `file` makes the filing itself
idempotent, so a step that is killed and repeated finds the issue instead of filing another.
`file` is `file_issue` (the one write people need first) then `after_filing` (comments on
suspect pull requests, the chat message): a caller with other urgent writes puts them between.

Labels are not created one by one: GitHub creates the labels an issue names that the
repository lacks, in its default grey, when it files the issue. So the issue goes first, and
the guard colours only the labels that came back grey, afterwards (`after_filing`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from guard.github.errors import AmbiguousWriteError, GitHubError, RefusedError
from guard.github.models import CommentRef, IssueRef
from guard.github.port import GitHubPort
from guard.incidents import assignees
from guard.incidents.assignees import People
from guard.incidents.context import IncidentContext, SuspectCommit
from guard.incidents.labels import GUARD_LABEL, grey_labels_to_colour, incident_labels
from guard.incidents.ledger import CommentLedger, MemoryLedger
from guard.incidents.notices import Notices
from guard.incidents.render import RenderedIssue, redacted, render_issue
from guard.incidents.repository_template import (
    RepositoryTemplate,
    TemplateProblem,
    load_template,
)
from guard.incidents.slack import SlackNotifier, slack_notifier
from guard.incidents.updates import UpdateDetails, UpdateKind, render_update
from guard.observability.logs import get_logger
from guard.policy.models import Incident as IncidentPolicy
from guard.policy.models import Notify
from guard.policy.secrets import secret_values

log = get_logger(__name__)

DEFAULT_WEB_URL = "https://github.com"
# A long suspect range must not become a burst of comments (GitHub's content-creation limit
# is 80 a minute): the first pull requests get one, the issue lists them all.
MAX_PULL_COMMENTS = 10
REFUSED_ONE = "GitHub refused to assign @{login}, so the issue was filed without them."
REFUSED_SOME = (
    "GitHub refused to assign some of {logins} without saying which, so the issue was filed "
    "without any of them; assign someone who can act."
)


@dataclass(frozen=True)
class FiledIncident:
    """The incident's issue and what filing it did."""

    issue: IssueRef
    # False when an earlier attempt had filed it already.
    created: bool
    code: str
    title: str
    template: str = ""
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    refused_assignees: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    commented_pulls: tuple[int, ...] = ()
    # The issue as rendered when this call filed it (for the chat message afterwards).
    rendered: RenderedIssue | None = field(default=None, compare=False, repr=False)
    # The colours the guard gives its labels: name -> hex.
    colours: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


class IncidentFiler:
    """Files and updates the incidents of one repository through the GitHub port."""

    def __init__(
        self,
        port: GitHubPort,
        repository: str,
        *,
        policy: IncidentPolicy | None = None,
        notify: Notify | None = None,
        environ: Mapping[str, str] | None = None,
        web_url: str = DEFAULT_WEB_URL,
        ledger: CommentLedger | None = None,
        template_ref: str | None = None,
        slack: SlackNotifier | None = None,
    ) -> None:
        self.port = port
        self.repository = repository
        self.policy = policy or IncidentPolicy()
        self.web_url = web_url.rstrip("/")
        self.ledger: CommentLedger = ledger or MemoryLedger()
        self.template_ref = template_ref
        # Every secret the guard holds is redacted: by default, those of its own environment.
        environment = os.environ if environ is None else environ
        self.secrets = tuple(secret_values(environment))
        self.slack = slack or slack_notifier(notify or Notify(), environment)
        self.notices = Notices(self.secrets)

    # -- the issue ------------------------------------------------------------------------
    def file(self, context: IncidentContext, *, look_first: bool = True) -> FiledIncident:
        """The incident's issue: the one filed before for this deployment, or a new one; then
        the comments on suspect pull requests and the chat message."""
        return self.after_filing(context, self.file_issue(context, look_first=look_first))

    def file_issue(self, context: IncidentContext, *, look_first: bool = True) -> FiledIncident:
        """Only the issue: found by its marker (`look_first`), or filed.

        `look_first=False` is for a caller whose durable records show no earlier attempt: then
        there is nothing to find, and the search (a paged read) is not made.
        """
        if context.repository != self.repository:
            raise ValueError(f"this filer files incidents of {self.repository}")
        existing = None
        if look_first:
            existing = self.port.find_issue_with_marker(
                self.repository, context.marker, [GUARD_LABEL]
            )
        if existing is not None:
            return FiledIncident(
                issue=existing, created=False, code=context.code, title=existing.title
            )
        template, notes = self._template(context)
        entries = [*self.policy.assignees, *(template.assignees if template else ())]
        people = assignees.resolve(entries, context, self.port)
        configured = [*self.policy.labels, *(template.labels if template else ())]
        labels = incident_labels(configured, context.severity, context.environment)
        issue, rendered, people = self._create(context, template, people, list(labels), notes)
        log.info(
            "incident.filed", issue=issue.number, code=context.code, template=rendered.template
        )
        return FiledIncident(
            issue=issue,
            created=True,
            code=context.code,
            title=rendered.title,
            template=rendered.template,
            labels=tuple(labels),
            assignees=people.assignees,
            refused_assignees=people.refused,
            notes=rendered.notes,
            rendered=rendered,
            colours=labels,
        )

    def after_filing(self, context: IncidentContext, filed: FiledIncident) -> FiledIncident:
        """What follows the issue: label colours and the chat message when this call filed
        it, and a comment on each suspect pull request (once each, on every call)."""
        if filed.created:
            self._colour_labels(filed)
        pulls = self._comment_on_suspects(context, filed.issue)
        if filed.created and filed.rendered is not None and self.slack is not None:
            opened = self.notices.opened(
                redacted(context, self.secrets), filed.rendered, filed.issue
            )
            self.slack.post(opened)
        return replace(filed, commented_pulls=pulls)

    def _template(self, context: IncidentContext) -> tuple[RepositoryTemplate | None, list[str]]:
        if not self.policy.template:
            return None, []
        ref = self.template_ref or context.deployment.sha
        try:
            return load_template(self.port, self.repository, self.policy.template, ref), []
        except TemplateProblem as problem:
            return None, [problem.note]

    def _colour_labels(self, filed: FiledIncident) -> None:
        """Give the labels GitHub just created in grey the guard's colours; a courtesy."""
        wanted = grey_labels_to_colour(filed.colours, filed.issue.labels)
        if not wanted:
            return
        try:
            self.port.colour_labels(self.repository, wanted)
        except GitHubError as error:
            log.warning("incident.labels_not_coloured", error=error.message)

    def _create(
        self,
        context: IncidentContext,
        template: RepositoryTemplate | None,
        people: People,
        labels: Sequence[str],
        notes: Sequence[str],
    ) -> tuple[IssueRef, RenderedIssue, People]:
        """File the issue; when GitHub refuses an assignee (422), file it without them.

        GitHub's 422 does not say which login it refused, and a refused create files nothing,
        so the guard tries leaving out one person at a time, then everyone.
        """
        refused: RefusedError | None = None
        for candidate, note in _candidates(people):
            rendered = render_issue(
                context,
                template=template,
                people=candidate,
                notes=[*notes, *([note] if note else [])],
                secrets=self.secrets,
            )
            try:
                issue = self.port.create_issue(
                    self.repository,
                    rendered.title,
                    rendered.body,
                    labels,
                    candidate.assignees,
                    marker=context.marker,
                )
            except RefusedError as error:
                if error.status != 422 or not people.assignees:
                    raise
                refused = refused or error
                log.info("incident.assignees_refused", tried=list(candidate.assignees))
                continue
            return issue, rendered, candidate
        assert refused is not None  # every candidate was tried and refused
        raise refused

    # -- comments -------------------------------------------------------------------------
    def add_update(
        self,
        issue_number: int,
        kind: UpdateKind,
        text: str,
        *,
        details: UpdateDetails | None = None,
        key: str | None = None,
    ) -> CommentRef | None:
        """Comment one event on the incident, once per `key` (the kind by default).

        None when it was posted before. A failure that certainly posted nothing is raised
        and may be retried; an ambiguous one is raised too, but never posted again.
        """
        given = details or UpdateDetails()
        claim = f"update:{key or kind.value}"
        if not self.ledger.claim(self.repository, issue_number, claim):
            return None
        body = render_update(
            self.repository, issue_number, kind, text, given, key=key, secrets=self.secrets
        )
        comment = self._comment(issue_number, claim, body, quiet=False)
        if comment is not None and self.slack is not None:
            url = f"{self.web_url}/{self.repository}/issues/{issue_number}"
            self.slack.post(self.notices.update(kind, text, given, url))
        return comment

    def _comment_on_suspects(self, context: IncidentContext, issue: IssueRef) -> tuple[int, ...]:
        """One comment on each suspect pull request linking the incident; failures are logged."""
        by_pull: dict[int, list[SuspectCommit]] = {}
        for commit in context.suspects:
            if commit.pull_number is not None:
                by_pull.setdefault(commit.pull_number, []).append(commit)
        commented = []
        for number in sorted(by_pull)[:MAX_PULL_COMMENTS]:
            claim = f"suspect:{context.deployment.id}"
            if not self.ledger.claim(self.repository, number, claim):
                continue
            body = self.notices.suspect_comment(
                redacted(context, self.secrets), issue, by_pull[number], self.repository
            )
            if self._comment(number, claim, body, quiet=True) is not None:
                commented.append(number)
        if len(by_pull) > MAX_PULL_COMMENTS:
            log.info("incident.pull_comments_capped", pulls=len(by_pull))
        return tuple(commented)

    def _comment(self, number: int, claim: str, body: str, *, quiet: bool) -> CommentRef | None:
        try:
            return self.port.comment_on_issue(self.repository, number, body)
        except AmbiguousWriteError as error:
            # It may have been posted: keep the claim, so it is never posted twice.
            log.warning("incident.comment_ambiguous", number=number, error=error.message)
            if quiet:
                return None
            raise
        except GitHubError as error:
            self.ledger.release(self.repository, number, claim)
            log.warning("incident.comment_failed", number=number, error=error.message)
            if quiet:
                return None
            raise


def _candidates(people: People) -> list[tuple[People, str]]:
    """Everyone; then everyone but one, for each; then nobody. Each with its note."""
    logins = people.assignees
    candidates: list[tuple[People, str]] = [(people, "")]
    if len(logins) > 1:
        for login in logins:
            candidates.append((people.without([login]), REFUSED_ONE.format(login=login)))
    if logins:
        mentions = ", ".join(f"@{login}" for login in logins)
        note = (
            REFUSED_ONE.format(login=logins[0])
            if len(logins) == 1
            else REFUSED_SOME.format(logins=mentions)
        )
        candidates.append((people.without(logins), note))
    return candidates
