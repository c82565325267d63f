"""Repository endpoints: repository, branches, protection, contents, commits, compare, merges."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from guard.sandbox.errors import ApiError, not_found
from guard.sandbox.gitobjects import TreeEntry
from guard.sandbox.gitstore import GitStore
from guard.sandbox.models import RepoRecord
from guard.sandbox.pagination import paginate
from guard.sandbox.payloads_core import repository_json
from guard.sandbox.payloads_git import (
    branch_json,
    commit_json,
    content_json,
    diff_entry_json,
    protection_json,
    tag_json,
)
from guard.sandbox.payloads_work import environment_json
from guard.sandbox.repo_ops import HEADS, check_ref_update, merge_into
from guard.sandbox.runtime import (
    acting_identity,
    caller,
    current,
    json_body,
    links,
    no_content,
    repo_for,
    respond,
)
from guard.sandbox.state import branch_key, utc_now

blueprint = Blueprint("sandbox_repos", __name__)

# Compare pages its commits: 250 by default, at most 1000 (PyGithub's Comparison documents both).
COMPARE_PAGE = 250
COMPARE_MAX_PAGE = 1000


def _commit(
    repo: RepoRecord, git: GitStore, sha: str, *, with_files: bool = False
) -> dict[str, Any]:
    info = git.read_commit(sha)
    files = None
    if with_files:
        files = git.diff(info.parents[0] if info.parents else None, sha)
    return commit_json(links(), repo.full_name, info, current().state.user_for_email, files)


@blueprint.get("/repos/<owner>/<name>")
def get_repository(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "metadata")
    state = current().state
    open_issues = sum(
        1 for i in state.issues.values() if i.repo == repo.full_name and i.state == "open"
    )
    owner_user = state.ensure_user(repo.owner)
    return respond(repository_json(links(), repo, owner_user, open_issues=open_issues, full=True))


@blueprint.get("/repos/<owner>/<name>/branches/<path:branch>")
def get_branch(owner: str, name: str, branch: str) -> Response:
    repo = repo_for(owner, name, "contents")
    git = current().git(repo)
    sha = git.ref_target(HEADS + branch)
    if sha is None:
        raise ApiError(404, "Branch not found")
    protection = current().state.protection(repo.full_name, branch)
    return respond(
        branch_json(links(), repo.full_name, branch, _commit(repo, git, sha), protection)
    )


@blueprint.get("/repos/<owner>/<name>/branches/<path:branch>/protection")
def get_branch_protection(owner: str, name: str, branch: str) -> Response:
    # Reading protection settings takes admin rights (an App needs Administration: read).
    repo = repo_for(owner, name, "administration")
    if current().git(repo).ref_target(HEADS + branch) is None:
        raise ApiError(404, "Branch not found")
    protection = current().state.protection(repo.full_name, branch)
    if protection is None:
        raise ApiError(404, "Branch not protected")
    return respond(protection_json(links(), repo.full_name, protection))


@blueprint.get("/repos/<owner>/<name>/contents/", defaults={"path": ""})
@blueprint.get("/repos/<owner>/<name>/contents/<path:path>")
def get_contents(owner: str, name: str, path: str) -> Response:
    repo = repo_for(owner, name, "contents")
    git = current().git(repo)
    ref = request.args.get("ref") or repo.default_branch
    commit = git.resolve(ref)
    if commit is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    path = path.strip("/")
    entry = git.entry_at(commit, path)
    if entry is None:
        raise not_found()
    if entry.type == "tree":
        items = [
            TreeEntry(
                child.mode, child.type, child.sha, f"{path}/{child.path}".lstrip("/"), child.size
            )
            for child in git.list_tree(entry.sha)
        ]
        return respond([content_json(links(), repo.full_name, ref, item, None) for item in items])
    data = git.read_blob(entry.sha) if entry.type == "blob" else None
    return respond(content_json(links(), repo.full_name, ref, entry, data))


@blueprint.get("/repos/<owner>/<name>/tags")
def list_tags(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "contents")
    tags = sorted(current().git(repo).list_refs("refs/tags/"), reverse=True)
    page, link = paginate(tags)
    body = [tag_json(links(), repo.full_name, ref[len("refs/tags/") :], sha) for ref, sha in page]
    return respond(body, headers={"Link": link} if link else None)


@blueprint.get("/repos/<owner>/<name>/environments/<path:environment_name>")
def get_environment(owner: str, name: str, environment_name: str) -> Response:
    repo = repo_for(owner, name, "actions")
    environment = current().state.environments.get(
        branch_key(repo.full_name, environment_name.lower())
    )
    if environment is None:
        raise not_found()
    return respond(environment_json(links(), environment))


@blueprint.get("/repos/<owner>/<name>/commits/<path:ref>")
def get_commit(owner: str, name: str, ref: str) -> Response:
    repo = repo_for(owner, name, "contents")
    git = current().git(repo)
    sha = git.resolve(ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    accept = request.headers.get("Accept", "")
    if "vnd.github.sha" in accept:
        return Response(sha, mimetype="application/vnd.github.sha")
    if "vnd.github.diff" in accept:
        parents = git.read_commit(sha).parents
        return Response(
            git.patch_text(parents[0] if parents else None, sha),
            mimetype="application/vnd.github.diff",
        )
    return respond(_commit(repo, git, sha, with_files=True))


@blueprint.get("/repos/<owner>/<name>/compare/<path:basehead>")
def compare(owner: str, name: str, basehead: str) -> Response:
    repo = repo_for(owner, name, "contents")
    git = current().git(repo)
    base_name, separator, head_name = basehead.partition("...")
    if not separator:
        raise not_found()
    base_sha = git.resolve(_strip_owner(base_name))
    head_sha = git.resolve(_strip_owner(head_name))
    if base_sha is None or head_sha is None:
        raise not_found()
    merge_base = git.merge_base(base_sha, head_sha)
    if merge_base is None:
        raise ApiError(404, f"No common ancestor between {base_name} and {head_name}.")
    ahead = git.rev_list(base_sha, head_sha)
    behind = git.rev_list(head_sha, base_sha)
    if base_sha == head_sha:
        status = "identical"
    elif not behind:
        status = "ahead"
    elif not ahead:
        status = "behind"
    else:
        status = "diverged"
    if "vnd.github.diff" in request.headers.get("Accept", ""):
        return Response(
            git.patch_text(merge_base, head_sha), mimetype="application/vnd.github.diff"
        )
    page, link = paginate(ahead, default_per_page=COMPARE_PAGE, max_per_page=COMPARE_MAX_PAGE)
    api = links().repo(repo.full_name)
    html = links().html(f"{repo.full_name}/compare/{basehead}")
    body: dict[str, Any] = {
        "url": f"{api}/compare/{basehead}",
        "html_url": html,
        "permalink_url": links().html(
            f"{repo.full_name}/compare/{repo.owner}:{base_sha}...{repo.owner}:{head_sha}"
        ),
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "base_commit": _commit(repo, git, base_sha),
        "merge_base_commit": _commit(repo, git, merge_base),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [_commit(repo, git, sha) for sha in page],
    }
    if request.args.get("page", "1") == "1":
        body["files"] = [
            diff_entry_json(links(), repo.full_name, head_sha, change)
            for change in git.diff(merge_base, head_sha)
        ]
    return respond(body, headers={"Link": link} if link else None)


def _strip_owner(name: str) -> str:
    """`owner:branch` names a branch in a fork; the sandbox has no forks, so drop the owner."""
    return name.split(":", 1)[1] if ":" in name else name


@blueprint.post("/repos/<owner>/<name>/merges")
def merge(owner: str, name: str) -> Response:
    repo = repo_for(owner, name, "contents", write=True)
    git = current().git(repo)
    body = json_body()
    base, head = body.get("base"), body.get("head")
    if not isinstance(base, str) or not isinstance(head, str):
        raise ApiError(
            422, "Validation Failed", errors=[{"resource": "Merge", "code": "missing_field"}]
        )
    base_sha = git.ref_target(HEADS + base)
    if base_sha is None:
        raise ApiError(404, "Base does not exist")
    head_sha = git.resolve(head)
    if head_sha is None:
        raise ApiError(404, "Head does not exist")
    if not git.is_ancestor(head_sha, base_sha):
        try:
            check_ref_update(current().state, repo, caller(), HEADS + base, head_sha, forced=False)
        except ApiError as refused:
            raise ApiError(409, refused.message) from refused
    message = body.get("commit_message") or f"Merge {head} into {base}"
    outcome = merge_into(git, base, head_sha, str(message), acting_identity())
    if outcome.conflict:
        raise ApiError(409, "Merge conflict")
    if outcome.sha is None:
        return no_content()
    repo.pushed_at = utc_now()
    return respond(_commit(repo, git, outcome.sha), 201)
