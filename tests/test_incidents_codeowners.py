"""CODEOWNERS matched by GitHub's documented rules, and who gets assigned from the policy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from guard.incidents import codeowners
from guard.incidents.assignees import MAX_ASSIGNEES, People, resolve
from guard.incidents.context import SuspectCommit
from tests.test_incidents_support import FIXTURES, watch_rollback_done

# GitHub's documented examples: pattern -> (paths it owns, paths it does not).
EXAMPLES = {
    "*": (["README.md", "a/b/c.txt"], []),
    "*.js": (["app.js", "src/deep/x.js"], ["app.jsx", "src/app.ts"]),
    "/build/logs/": (["build/logs/x.log", "build/logs/a/b.log"], ["x/build/logs/y", "build/logs"]),
    "docs/*": (["docs/getting-started.md"], ["docs/build-app/troubleshooting.md", "x/docs/a"]),
    "apps/": (["apps/a.py", "x/apps/b/c.py"], ["apps", "myapps/a.py"]),
    "/docs/": (["docs/a.md", "docs/x/y.md"], ["src/docs/a.md"]),
    "/scripts/": (["scripts/run.sh"], ["tools/scripts/run.sh"]),
    "**/logs": (["logs/a", "build/logs/a", "a/b/logs/c/d"], ["logs2/a", "a/blogs/b"]),
    "/apps/github": (["apps/github", "apps/github/x.rb"], ["apps/githubber", "x/apps/github"]),
    "src/**/test_*.py": (["src/test_a.py", "src/x/y/test_b.py"], ["src/x/atest_b.py"]),
    "README?.md": (["README1.md", "docs/READMEx.md"], ["README.md", "README10.md"]),
    "\\#notes": (["#notes"], ["notes"]),
}


@pytest.mark.parametrize("pattern", list(EXAMPLES))
def test_patterns_match_as_github_documents(pattern: str) -> None:
    regex = codeowners.compile_pattern(pattern.replace("\\#", "#"))
    owned, not_owned = EXAMPLES[pattern]
    for path in owned:
        assert regex.fullmatch(path), (pattern, path)
    for path in not_owned:
        assert not regex.fullmatch(path), (pattern, path)


def test_the_last_matching_rule_wins_and_an_ownerless_rule_unowns() -> None:
    rules = codeowners.parse((FIXTURES / "CODEOWNERS").read_text(encoding="utf-8"))
    assert [rule.line for rule in rules] == [2, 3, 4, 5, 6]
    assert codeowners.owners_of(rules, "README.md") == ("@acme/platform",)
    assert codeowners.owners_of(rules, "app/db.py") == ("@mona",)
    assert codeowners.owners_of(rules, "web/api/v1/health.py") == ("@dee", "@acme/web")
    assert codeowners.owners_of(rules, "web/health.py") == ("@dee", "@acme/web")
    assert codeowners.owners_of(rules, "docs/guide.md") == ("docs@example.com",)
    assert codeowners.owners_of(rules, "app/generated/schema.py") == ()


def test_owners_of_many_paths_are_sorted_into_users_teams_and_emails() -> None:
    rules = codeowners.parse((FIXTURES / "CODEOWNERS").read_text(encoding="utf-8"))
    owners = codeowners.owners_for(
        rules, ["web/health.py", "app/db.py", "docs/guide.md", "README.md", "web/x.py"]
    )
    assert owners == codeowners.Owners(
        users=("dee", "mona"),
        teams=("@acme/web", "@acme/platform"),
        emails=("docs@example.com",),
    )


def test_lines_github_ignores_are_skipped() -> None:
    rules = codeowners.parse("!negated @a\n[Section] @b\n  # comment\n*.md @c # trailing\n")
    assert [(rule.pattern, rule.owners) for rule in rules] == [("*.md", ("@c",))]


def test_deployer_committer_and_literal_entries_resolve_in_order() -> None:
    context = watch_rollback_done()
    people = resolve(["deployer", "committer", "@Ops-Lead", "@acme/sre", "ops-lead"], context)
    assert people == People(
        assignees=("dee", "mona", "Ops-Lead"),
        teams=("@acme/sre",),
        notes=(),
    )


def test_codeowners_are_skipped_without_a_port_and_bots_are_never_assigned() -> None:
    context = watch_rollback_done()
    made = replace(context, deployment=replace(context.deployment, creator_login="ci[bot]"))
    people = resolve(["deployer", "codeowners"], made)
    assert people.assignees == ()
    assert people.notes == ("ci[bot] is an app, not a person, so it was not assigned (deployer).",)


def test_unlinked_authors_and_missing_deployers_are_noted() -> None:
    context = watch_rollback_done()
    unlinked = (SuspectCommit(sha="f" * 40, subject="x", author_name="Ann Other"),)
    made = replace(
        context,
        suspects=unlinked,
        deployment=replace(context.deployment, creator_login=None),
    )
    people = resolve(["deployer", "committer"], made)
    assert people.assignees == ()
    assert people.notes == (
        "The deployment has no creator to assign (deployer).",
        "Commits by Ann Other are linked to no GitHub account, so nobody was assigned for them.",
    )
    assert resolve(["committer"], replace(context, suspects=())).notes == (
        "No suspect commit has a GitHub account to assign (committer).",
    )


def test_no_more_than_ten_people_are_assigned() -> None:
    logins = [f"user{i}" for i in range(12)]
    people = resolve(logins, watch_rollback_done())
    assert len(people.assignees) == MAX_ASSIGNEES
    assert people.notes == ("GitHub assigns at most 10 people; not assigned: user10, user11.",)
    assert people.without(["USER3"]).assignees == tuple(x for x in logins[:10] if x != "user3")
