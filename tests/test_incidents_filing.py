"""Filing incidents end to end against the GitHub sandbox over HTTP; Slack on a local server.

One issue per failed deployment however often `file` runs; labels created with colours;
assignees from deployer, committers and CODEOWNERS; a refused assignee dropped with a note;
updates as comments; one comment per suspect pull request; one chat message per event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from guard.github.client import GitHubClient
from guard.github.errors import AmbiguousWriteError
from guard.incidents.context import (
    DeploymentInfo,
    GoodDeployment,
    IncidentContext,
    Links,
    RemedyReport,
)
from guard.incidents.filer import IncidentFiler
from guard.incidents.ledger import MemoryLedger
from guard.incidents.suspects import gather_suspects
from guard.incidents.updates import UpdateDetails, UpdateKind
from guard.policy.models import Incident, Notify
from guard.sandbox import Author, Sandbox
from tests.github_world import World
from tests.test_incidents_support import CREATED, FIXTURES, judged, watch_failure_results

REPO = "acme/shop"
DEE = Author(name="Dee Veloper", email="dee@example.com", login="dee")
MONA = Author(name="Mona Lisa", email="mona@example.com", login="mona")
STRANGER = Author(name="Ann Other", email="ann@elsewhere.example")
SECRET = "xoxb-not-a-real-token-123"
CODEOWNERS = "*  @acme/platform\n/app/  @mona\nweb/  @dee @acme/web\n"


@dataclass(frozen=True)
class Shop:
    """The sandbox with acme/shop: a good commit, a merged pull request and a bad commit."""

    world: World
    client: GitHubClient
    good_sha: str
    bad_sha: str
    pull: int

    @property
    def sandbox(self) -> Sandbox:
        return self.world.sandbox

    def issues(self) -> list[Any]:
        state = self.sandbox.runtime.state
        return [i for i in state.issues.values() if i.repo == REPO and not i.is_pull]

    def comments_on(self, number: int) -> list[str]:
        state = self.sandbox.runtime.state
        return [c.body for c in state.comments.values() if c.issue_number == number]


@pytest.fixture
def shop(sandbox: Sandbox) -> Shop:
    sandbox.add_user("dee", name=DEE.name, email=DEE.email)
    sandbox.add_user("mona", name=MONA.name, email=MONA.email)
    sandbox.create_repo(REPO, {"README.md": "# shop\n", "app/db.py": "POOL = 1\n"}, author=DEE)
    app = sandbox.register_app("deploy-guard")
    world = World(sandbox, app, sandbox.install_app(app.app_id, "acme"))
    client = world.client()
    good = sandbox.branch_sha(REPO)
    assert good is not None
    sandbox.commit(REPO, {"app/db.py": "POOL = 8\n"}, "Pool per worker", branch="pool", author=MONA)
    pull = client.create_pull(REPO, "pool", "main", "Pool per worker", "Faster.").number
    sandbox.commit(REPO, {"app/db.py": "POOL = 8\n"}, f"Pool per worker (#{pull})", author=MONA)
    sandbox.commit(REPO, {"docs/notes.md": "hi\n"}, "Notes from a stranger", author=STRANGER)
    template = (FIXTURES / "templates" / "deploy-incident.md").read_text(encoding="utf-8")
    bad = sandbox.commit(
        REPO,
        {
            "web/health.py": "def health(): ...\n",
            ".github/CODEOWNERS": CODEOWNERS,
            # GitHub reads .github/CODEOWNERS first: this one must be ignored.
            "CODEOWNERS": "*  @root-owner\n",
            ".github/ISSUE_TEMPLATE/deploy-incident.md": template,
        },
        "Faster health checks",
        author=DEE,
    )
    return Shop(world, client, good, bad, pull)


def incident(shop: Shop, *, deployment_id: int = 4242) -> IncidentContext:
    found = gather_suspects(shop.client, REPO, shop.good_sha, shop.bad_sha, shop.sandbox.base_url)
    smoke, rounds = watch_failure_results()
    verdict, decision, results = judged(smoke, rounds)
    return IncidentContext(
        repository=REPO,
        environment="production",
        code="INC-20261122-001",
        deployment=DeploymentInfo(deployment_id, shop.bad_sha, "main", "dee", CREATED),
        last_good=GoodDeployment(shop.good_sha, "v1.3.2"),
        verdict=verdict,
        decision=decision,
        remedy=RemedyReport.rolled_back("v1.3.2", "redeploy"),
        detected_at=CREATED,
        results=results,
        suspects=found.commits,
        changed_paths=found.changed_paths,
        links=Links(compare=found.compare_url, run_page="https://guard.example.com/runs/1"),
    )


def filer(shop: Shop, ledger: MemoryLedger | None = None, **policy: Any) -> IncidentFiler:
    return IncidentFiler(
        shop.client,
        REPO,
        policy=Incident(**policy),
        environ={"GUARD_SECRET_SLACK": "unused", "GUARD_SECRET_API": SECRET},
        web_url=shop.sandbox.base_url,
        ledger=ledger or MemoryLedger(),
    )


def test_suspects_come_from_the_comparison_with_pull_requests_and_authors(shop: Shop) -> None:
    found = gather_suspects(shop.client, REPO, shop.good_sha, shop.bad_sha, "https://gh.example")
    assert [c.subject for c in found.commits] == [
        f"Pool per worker (#{shop.pull})",
        "Notes from a stranger",
        "Faster health checks",
    ]
    pooled, stranger, bad = found.commits
    assert (pooled.author_login, pooled.pull_number) == ("mona", shop.pull)
    assert pooled.pull_url == f"https://gh.example/{REPO}/pull/{shop.pull}"
    assert (stranger.author_login, stranger.author_name) == (None, "Ann Other")
    assert bad.author_login == "dee"
    assert set(found.changed_paths) >= {"app/db.py", "web/health.py", ".github/CODEOWNERS"}
    assert (
        found.compare_url == f"https://gh.example/{REPO}/compare/{shop.good_sha}...{shop.bad_sha}"
    )
    alone = gather_suspects(shop.client, REPO, None, shop.bad_sha, "https://gh.example")
    assert [c.subject for c in alone.commits] == ["Faster health checks"]
    assert alone.compare_url is None


def test_filing_twice_makes_one_issue_with_labels_assignees_and_one_pull_comment(
    shop: Shop,
) -> None:
    ledger = MemoryLedger()
    guard = filer(
        shop, ledger, labels=["incident"], assignees=["deployer", "committer", "codeowners"]
    )
    context = incident(shop)
    first = guard.file(context)
    again = guard.file(context)
    # A second replica (its own filer) finds the issue by its marker too.
    other = filer(shop, ledger).file(context)
    assert first.created
    assert not again.created
    assert not other.created
    assert first.issue.number == again.issue.number == other.issue.number
    (issue,) = shop.issues()
    assert issue.title == "[P1] production: deployment of " + shop.bad_sha[:7] + (
        " failed verification (INC-20261122-001)"
    )
    assert issue.labels == ["incident", "severity:P1", "env:production", "deploy-guard"]
    labels = shop.sandbox.runtime.state.labels
    assert labels[f"{REPO}:severity:p1"].color == "d93f0b"
    assert labels[f"{REPO}:env:production"].color == "1d76db"
    assert issue.assignees == ["dee", "mona"]
    assert "@acme/web" in issue.body
    assert "@acme/platform" in issue.body
    assert "Commits by Ann Other are linked to no GitHub account" in issue.body
    assert first.commented_pulls == (shop.pull,)
    assert again.commented_pulls == other.commented_pulls == ()
    (comment,) = shop.comments_on(shop.pull)
    assert f"[INC-20261122-001]({first.issue.html_url})" in comment


def test_codeowners_of_the_changed_files_are_assigned_and_teams_mentioned(shop: Shop) -> None:
    filed = filer(shop, assignees=["codeowners"]).file(incident(shop))
    (issue,) = shop.issues()
    # app/db.py is @mona's, web/health.py @dee's; the rest the teams'.
    assert issue.assignees == ["mona", "dee"]
    assert filed.assignees == ("mona", "dee")
    assert "@root-owner" not in issue.body
    assert (
        "- **Code owners (teams are mentioned, as GitHub cannot assign them):** "
        "@acme/platform, @acme/web"
    ) in issue.body


def test_a_refused_assignee_is_dropped_with_a_note(shop: Shop) -> None:
    filed = filer(shop, assignees=["deployer", "nobody-here", "committer"]).file(incident(shop))
    (issue,) = shop.issues()
    assert issue.assignees == ["dee", "mona"]
    assert filed.refused_assignees == ("nobody-here",)
    assert (
        "GitHub refused to assign @nobody-here, so the issue was filed without them." in issue.body
    )
    # Every refused attempt created nothing: one issue only.
    creates = shop.sandbox.calls.matching("POST", f"/repos/{REPO}/issues")
    assert [call.status for call in creates] == [422, 422, 201]


def test_when_several_are_refused_the_issue_is_filed_without_assignees(shop: Shop) -> None:
    filed = filer(shop, assignees=["ghost-one", "ghost-two"]).file(incident(shop))
    (issue,) = shop.issues()
    assert issue.assignees == []
    assert filed.refused_assignees == ("ghost-one", "ghost-two")
    assert "GitHub refused to assign some of @ghost-one, @ghost-two" in issue.body


def test_the_repository_template_is_used_from_the_deployed_commit(shop: Shop) -> None:
    filed = filer(shop, template="deploy-incident.md").file(incident(shop))
    (issue,) = shop.issues()
    assert filed.template == ".github/ISSUE_TEMPLATE/deploy-incident.md"
    assert (
        issue.title == f"P1 INC-20261122-001: acme/shop production is failing ({shop.bad_sha[:7]})"
    )
    assert issue.labels[:2] == ["incident", "on-call"]
    # ops-lead from the front matter has no account: refused, noted, dropped.
    assert issue.assignees == ["dee"]
    assert "@ops-lead" in issue.body


def test_a_template_missing_at_the_ref_falls_back_with_a_note(shop: Shop) -> None:
    guard = replace_ref(filer(shop, template="deploy-incident.md"), shop.good_sha)
    filed = guard.file(incident(shop))
    (issue,) = shop.issues()
    assert filed.template == "built-in"
    assert (
        "The incident template `.github/ISSUE_TEMPLATE/deploy-incident.md` does not exist at "
        f"`{shop.good_sha[:12]}`, so the built-in one was used." in issue.body
    )


def test_an_issue_form_is_not_a_markdown_template(shop: Shop) -> None:
    filer(shop, template="incident.yml").file(incident(shop))
    (issue,) = shop.issues()
    assert "it is an issue form (YAML); only Markdown templates can be filled in" in issue.body


def replace_ref(guard: IncidentFiler, ref: str) -> IncidentFiler:
    guard.template_ref = ref
    return guard


def test_updates_become_comments_once_each(shop: Shop) -> None:
    guard = filer(shop)
    number = guard.file(incident(shop)).issue.number
    details = UpdateDetails(target_ref="v1.3.2", time_to_detect_s=95, time_to_restore_s=400)
    done = guard.add_update(number, UpdateKind.REMEDY_DONE, f"made deployment 4243 ({SECRET})")
    assert done is not None
    assert guard.add_update(number, UpdateKind.REMEDY_DONE, "again") is None
    restored = guard.add_update(number, UpdateKind.SERVICE_RESTORED, "Healthy.", details=details)
    assert restored is not None
    bodies = shop.comments_on(number)
    assert len(bodies) == 2
    assert "**Rollback done**" in bodies[0]
    assert SECRET not in bodies[0]
    assert "made deployment 4243 (***)" in bodies[0]
    assert "| 1 min 35 s | 6 min 40 s |" in bodies[1]


def test_a_failed_comment_can_be_retried(shop: Shop) -> None:
    guard = filer(shop)
    with pytest.raises(Exception, match="Not Found"):
        guard.add_update(999, UpdateKind.NOTE, "to nowhere")
    assert guard.ledger.claim(REPO, 999, "update:note")


def test_slack_hears_of_each_event_once(shop: Shop, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    guard = IncidentFiler(
        shop.client,
        REPO,
        notify=Notify(slack_webhook="${GUARD_SECRET_SLACK}"),
        environ={"GUARD_SECRET_SLACK": httpserver.url_for("/hook")},
        web_url=shop.sandbox.base_url,
    )
    context = incident(shop)
    filed = guard.file(context)
    guard.file(context)
    details = UpdateDetails(code=context.code)
    guard.add_update(filed.issue.number, UpdateKind.REMEDY_DONE, "deployment 4243", details=details)
    messages = [json.loads(request.get_data()) for request, _ in httpserver.log]
    assert len(messages) == 2
    assert messages[0]["text"].startswith(":rotating_light: *[P1] production: deployment of")
    assert f"<{filed.issue.html_url}|Open the incident>" in messages[0]["text"]
    assert messages[1]["text"].startswith("*INC-20261122-001 · Rollback done*: deployment 4243")


def test_an_update_that_may_have_been_posted_is_never_posted_again(shop: Shop) -> None:
    guard = filer(shop)
    number = guard.file(incident(shop)).issue.number
    shop.sandbox.add_fault(
        "server_error",
        f"/repos/{REPO}/issues/{number}/comments",
        method="POST",
        times=1,
        status=502,
    )
    with pytest.raises(AmbiguousWriteError):
        guard.add_update(number, UpdateKind.REMEDY_DONE, "deployment 4243")
    assert guard.add_update(number, UpdateKind.REMEDY_DONE, "deployment 4243") is None
    # The 502 came before any work: nothing was posted, and nothing will be, by design.
    assert shop.comments_on(number) == []


def test_a_suspect_comment_that_fails_is_logged_and_the_issue_still_filed(shop: Shop) -> None:
    shop.sandbox.add_fault(
        "server_error", f"/repos/{REPO}/issues/{shop.pull}/comments", method="POST", status=502
    )
    filed = filer(shop).file(incident(shop))
    assert filed.created
    assert filed.commented_pulls == ()
    assert len(shop.issues()) == 1


def test_missing_codeowners_and_unknown_commits_are_noted_not_fatal(shop: Shop) -> None:
    context = incident(shop)
    at_good = replace(context, deployment=replace(context.deployment, sha=shop.good_sha))
    filer(shop, assignees=["codeowners"]).file(at_good)
    (issue,) = shop.issues()
    assert f"The repository has no CODEOWNERS file at `{shop.good_sha[:7]}`" in issue.body
    unknown = gather_suspects(shop.client, REPO, "0" * 40, shop.bad_sha, "https://gh.example")
    assert (unknown.commits, unknown.incomplete) == ((), True)


def test_labels_come_with_the_issue_and_only_the_guards_new_grey_ones_are_coloured(
    shop: Shop,
) -> None:
    # The repository's own colour for a severity label stays; nothing is created one by one.
    shop.client.ensure_labels(REPO, {"severity:P1": "000000"})
    context = incident(shop)
    mark = shop.sandbox.calls.last_seq
    # A first attempt (our records say so): no search for an earlier issue, no label made.
    filed = filer(shop, labels=["incident"]).file_issue(context, look_first=False)
    made = [f"{call.method} {call.path}" for call in shop.sandbox.calls.all(since=mark)]
    assert made == [f"POST /repos/{REPO}/issues"]
    # GitHub made the missing ones grey for the issue; the guard colours its own afterwards.
    labels = shop.sandbox.runtime.state.labels
    assert labels[f"{REPO}:env:production"].color == "ededed"
    filer(shop).after_filing(context, filed)
    assert labels[f"{REPO}:env:production"].color == "1d76db"
    assert labels[f"{REPO}:deploy-guard"].color == "5319e7"
    assert labels[f"{REPO}:severity:p1"].color == "000000"
    # A label the policy names is the repository's: left as GitHub made it.
    assert labels[f"{REPO}:incident"].color == "ededed"
