"""Git data in the sandbox is real git: reverts through the API are checked with `git diff`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from github import Github, GithubException, InputGitTreeElement
from github.ContentFile import ContentFile
from github.Repository import Repository

from guard.sandbox import Author

if TYPE_CHECKING:
    from tests.sandbox_fixtures import SandboxWorld


MONA = Author(name="Mona Lisa", email="mona@example.com", login="mona")


def _git(git_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=False
    )


def _file(repo: Repository, path: str, ref: str | None = None) -> bytes:
    found = repo.get_contents(path, ref=ref) if ref else repo.get_contents(path)
    assert isinstance(found, ContentFile)
    return bytes(found.decoded_content)


def _revert_tip(repo: Repository) -> tuple[str, str, str]:
    """Revert the tip of main the Git Data way; returns (parent, bad, revert) shas."""
    ref = repo.get_git_ref("heads/main")
    bad = repo.get_git_commit(ref.object.sha)
    parent = repo.get_git_commit(bad.parents[0].sha)
    subject = bad.message.splitlines()[0]
    revert = repo.create_git_commit(
        f'Revert "{subject}"\n\nThis reverts commit {bad.sha}.', parent.tree, [bad]
    )
    ref.edit(revert.sha, force=False)
    return parent.sha, bad.sha, revert.sha


def test_contents_at_a_ref(world: SandboxWorld, app_github: Github) -> None:
    first = world.sandbox.branch_sha(world.repo)
    assert first is not None
    world.sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2")
    repo = app_github.get_repo(world.repo)
    assert _file(repo, "app/version.txt") == b"2\n"
    assert _file(repo, "app/version.txt", ref=first) == b"1\n"
    listing = repo.get_contents("app")
    assert isinstance(listing, list)
    assert sorted(item.path for item in listing) == ["app/main.py", "app/version.txt"]
    with pytest.raises(GithubException) as missing:
        repo.get_contents("nope.txt")
    assert missing.value.status == 404


def test_revert_through_the_git_data_api_restores_the_parent_tree(
    world: SandboxWorld, app_github: Github
) -> None:
    world.sandbox.commit(
        world.repo, {"app/version.txt": "2\n", "README.md": None}, "Break it", author=MONA
    )
    repo = app_github.get_repo(world.repo)
    parent, bad, revert = _revert_tip(repo)
    git_dir = world.sandbox.git_dir(world.repo)
    assert _git(git_dir, "diff", "--quiet", parent, revert).returncode == 0
    assert _git(git_dir, "diff", "--quiet", bad, revert).returncode == 1
    assert _git(git_dir, "rev-parse", "refs/heads/main").stdout.strip() == revert
    assert _git(git_dir, "rev-parse", f"{revert}^").stdout.strip() == bad
    message = _git(git_dir, "log", "-1", "--format=%B", revert).stdout
    assert message.startswith('Revert "Break it"\n\nThis reverts commit ')
    assert _file(repo, "README.md") == b"# shop\n"
    # The revert carries no author, so GitHub (and the sandbox) credit the App's bot.
    assert repo.get_commit(revert).author.login == "deploy-guard[bot]"


def test_non_fast_forward_update_is_refused_unless_forced(
    world: SandboxWorld, app_github: Github
) -> None:
    world.sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2")
    repo = app_github.get_repo(world.repo)
    ref = repo.get_git_ref("heads/main")
    tip = repo.get_git_commit(ref.object.sha)
    parent = repo.get_git_commit(tip.parents[0].sha)
    sibling = repo.create_git_commit("Sideways", parent.tree, [parent])
    with pytest.raises(GithubException) as refused:
        ref.edit(sibling.sha, force=False)
    assert refused.value.status == 422
    assert refused.value.data["message"] == "Update is not a fast forward"
    assert repo.get_git_ref("heads/main").object.sha == tip.sha
    ref.edit(sibling.sha, force=True)
    assert repo.get_git_ref("heads/main").object.sha == sibling.sha


def test_protected_branch_refuses_direct_updates(world: SandboxWorld, app_github: Github) -> None:
    world.sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2")
    world.sandbox.protect_branch(world.repo, "main")
    repo = app_github.get_repo(world.repo)
    with pytest.raises(GithubException) as refused:
        _revert_tip(repo)
    assert refused.value.status == 422
    assert refused.value.data["message"] == "Changes must be made through a pull request."
    branch = repo.get_branch("main")
    assert branch.protected is True


def test_required_status_checks_gate_ref_updates(world: SandboxWorld, app_github: Github) -> None:
    world.sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2")
    world.sandbox.protect_branch(
        world.repo, "main", required_status_checks=["ci"], require_pull_request=False
    )
    repo = app_github.get_repo(world.repo)
    ref = repo.get_git_ref("heads/main")
    tip = repo.get_git_commit(ref.object.sha)
    child = repo.create_git_commit("Next", tip.tree, [tip])
    with pytest.raises(GithubException) as refused:
        ref.edit(child.sha)
    assert refused.value.data["message"] == "1 of 1 required status checks are expected."
    repo.get_commit(child.sha).create_status("success", context="ci")
    ref.edit(child.sha)
    assert repo.get_git_ref("heads/main").object.sha == child.sha


def test_revert_branch_and_pull_request_when_main_is_protected(
    world: SandboxWorld, app_github: Github
) -> None:
    bad_sha = world.sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2")
    world.sandbox.protect_branch(world.repo, "main")
    repo = app_github.get_repo(world.repo)
    bad = repo.get_git_commit(bad_sha)
    parent = repo.get_git_commit(bad.parents[0].sha)
    revert = repo.create_git_commit(
        f'Revert "Release 2"\n\nThis reverts commit {bad_sha}.', parent.tree, [bad]
    )
    branch_ref = repo.create_git_ref(f"refs/heads/revert-{bad_sha[:7]}", revert.sha)
    assert branch_ref.ref == f"refs/heads/revert-{bad_sha[:7]}"
    with pytest.raises(GithubException) as exists:
        repo.create_git_ref(f"refs/heads/revert-{bad_sha[:7]}", revert.sha)
    assert exists.value.data["message"] == "Reference already exists"
    pull = repo.create_pull(
        base="main", head=f"revert-{bad_sha[:7]}", title="Revert Release 2", body="Rollback"
    )
    assert pull.number == 1
    assert pull.head.sha == revert.sha
    assert pull.base.ref == "main"
    assert (pull.commits, pull.changed_files, pull.mergeable) == (1, 1, True)
    assert pull.user.login == "deploy-guard[bot]"
    with pytest.raises(GithubException) as duplicate:
        repo.create_pull(base="main", head=f"revert-{bad_sha[:7]}", title="Again")
    assert duplicate.value.status == 422
    assert "A pull request already exists" in duplicate.value.data["errors"][0]["message"]
    issue = repo.get_issue(1)
    assert issue.pull_request is not None


def test_create_tree_on_a_base_tree_adds_and_deletes_paths(
    world: SandboxWorld, app_github: Github
) -> None:
    repo = app_github.get_repo(world.repo)
    head = repo.get_git_commit(repo.get_git_ref("heads/main").object.sha)
    tree = repo.create_git_tree(
        [
            InputGitTreeElement("docs/deep/new.md", "100644", "blob", content="new\n"),
            InputGitTreeElement("README.md", "100644", "blob", sha=None),
        ],
        base_tree=head.tree,
    )
    paths = {
        element.path: element.type for element in repo.get_git_tree(tree.sha, recursive=True).tree
    }
    assert paths == {
        "app": "tree",
        "app/main.py": "blob",
        "app/version.txt": "blob",
        "docs": "tree",
        "docs/deep": "tree",
        "docs/deep/new.md": "blob",
    }


def test_compare_reports_ahead_behind_and_linked_authors(
    world: SandboxWorld, app_github: Github
) -> None:
    sandbox = world.sandbox
    base = sandbox.branch_sha(world.repo)
    assert base is not None
    sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2", author=MONA)
    stranger = Author(name="Nobody", email="nobody@example.com")
    head = sandbox.commit(world.repo, {"app/new.py": "x = 1\n"}, "Add new", author=stranger)
    repo = app_github.get_repo(world.repo)
    ahead = repo.compare(base, head)
    assert (ahead.status, ahead.ahead_by, ahead.behind_by, ahead.total_commits) == (
        "ahead",
        2,
        0,
        2,
    )
    assert [c.commit.message for c in ahead.commits] == ["Release 2", "Add new"]
    assert ahead.commits[0].author.login == "mona"
    # An e-mail no account claims gives `"author": null`, as on GitHub.
    assert ahead.raw_data["commits"][1]["author"] is None
    assert {(f.filename, f.status) for f in ahead.files} == {
        ("app/version.txt", "modified"),
        ("app/new.py", "added"),
    }
    assert repo.compare(head, base).status == "behind"
    assert repo.compare(head, head).status == "identical"
    side = sandbox.commit(world.repo, {"side.txt": "s\n"}, "Side", branch="side", start_from=base)
    diverged = repo.compare(side, head)
    assert (diverged.status, diverged.ahead_by, diverged.behind_by) == ("diverged", 2, 1)


def test_merges_fast_forward_merge_commit_and_conflict(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    sandbox = world.sandbox
    url = f"{world.base_url}/repos/{world.repo}/merges"
    feature = sandbox.commit(world.repo, {"f.txt": "f\n"}, "Feature", branch="feature")
    forward = owner_http.post(url, json={"base": "main", "head": "feature"})
    assert forward.status_code == 201
    assert sandbox.branch_sha(world.repo) == feature
    assert owner_http.post(url, json={"base": "main", "head": "feature"}).status_code == 204
    sandbox.commit(world.repo, {"g.txt": "g\n"}, "Other", branch="other", start_from=feature)
    sandbox.commit(world.repo, {"h.txt": "h\n"}, "Main moves")
    merged = owner_http.post(
        url, json={"base": "main", "head": "other", "commit_message": "Merge other"}
    )
    assert merged.status_code == 201
    assert len(merged.json()["parents"]) == 2
    assert merged.json()["commit"]["message"] == "Merge other"
    sandbox.commit(world.repo, {"app/version.txt": "A\n"}, "A", branch="a", start_from=feature)
    sandbox.commit(world.repo, {"app/version.txt": "B\n"}, "B")
    conflict = owner_http.post(url, json={"base": "main", "head": "a"})
    assert conflict.status_code == 409
    assert conflict.json()["message"] == "Merge conflict"
    missing = owner_http.post(url, json={"base": "main", "head": "nope"})
    assert missing.status_code == 404


def test_commit_with_files_tags_and_branch_protection_reads(
    world: SandboxWorld, app_github: Github, owner_http: requests.Session
) -> None:
    sha = world.sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2", author=MONA)
    world.sandbox.create_tag(world.repo, "v2", sha)
    repo = app_github.get_repo(world.repo)
    commit = repo.get_commit(sha)
    assert commit.author.login == "mona"
    assert [(f.filename, f.additions, f.deletions) for f in commit.files] == [
        ("app/version.txt", 1, 1)
    ]
    assert [(tag.name, tag.commit.sha) for tag in repo.get_tags()] == [("v2", sha)]
    unknown = owner_http.get(f"{world.base_url}/repos/{world.repo}/commits/{'f' * 40}")
    assert unknown.status_code == 422
    protection_url = f"{world.base_url}/repos/{world.repo}/branches/main/protection"
    assert owner_http.get(protection_url).json()["message"] == "Branch not protected"
    world.sandbox.protect_branch(world.repo, "main", required_status_checks=["ci"])
    settings = owner_http.get(protection_url).json()
    assert settings["required_status_checks"]["contexts"] == ["ci"]
    # An App without the Administration permission cannot read protection settings.
    with pytest.raises(GithubException) as hidden:
        repo.get_branch("main").get_protection()
    assert hidden.value.status == 403


def test_plain_text_media_types_for_commits_and_compare(
    world: SandboxWorld, owner_http: requests.Session
) -> None:
    sha = world.sandbox.commit(world.repo, {"app/version.txt": "2\n"}, "Release 2")
    api = f"{world.base_url}/repos/{world.repo}"
    answer = owner_http.get(f"{api}/commits/main", headers={"Accept": "application/vnd.github.sha"})
    assert answer.text == sha
    diff = owner_http.get(
        f"{api}/compare/{sha}~1...{sha}", headers={"Accept": "application/vnd.github.diff"}
    ).text
    assert diff.startswith("diff --git a/app/version.txt b/app/version.txt\n")
    assert "\n-1\n+2\n" in diff
