"""Git Data API: commits, trees and refs, written with git plumbing into the repository on disk."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request

from guard.sandbox.errors import ApiError, not_found, unprocessable, validation_failed
from guard.sandbox.gitobjects import GitIdentity, TreeChange
from guard.sandbox.gitstore import GitStore
from guard.sandbox.models import RepoRecord
from guard.sandbox.payloads_git import git_commit_json, git_ref_json, git_tree_json
from guard.sandbox.repo_ops import check_ref_update
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
from guard.sandbox.state import utc_now

blueprint = Blueprint("sandbox_git", __name__)

SHA = re.compile(r"^[0-9a-f]{40}$")
_MODES = {
    "100644": "blob",
    "100755": "blob",
    "120000": "blob",
    "040000": "tree",
    "160000": "commit",
}
# Refs need `refs/` and at least two slashes, as GitHub demands for create-ref.
_REF_NAME = re.compile(r"^refs/[^/]+/.+$")


def _repo(owner: str, name: str, write: bool = False) -> tuple[RepoRecord, GitStore]:
    repo = repo_for(owner, name, "contents", write=write)
    return repo, current().git(repo)


@blueprint.get("/repos/<owner>/<name>/git/commits/<sha>")
def get_commit(owner: str, name: str, sha: str) -> Response:
    repo, git = _repo(owner, name)
    if git.object_type(sha) != "commit":
        raise not_found()
    return respond(git_commit_json(links(), repo.full_name, git.read_commit(sha)))


@blueprint.post("/repos/<owner>/<name>/git/commits")
def create_commit(owner: str, name: str) -> Response:
    repo, git = _repo(owner, name, write=True)
    body = json_body()
    message, tree = body.get("message"), body.get("tree")
    if not isinstance(message, str):
        raise validation_failed("Commit", "message", "missing_field")
    if not isinstance(tree, str) or git.object_type(tree) != "tree":
        raise unprocessable("Tree SHA does not exist")
    parents = body.get("parents") or []
    if not isinstance(parents, list):
        raise validation_failed("Commit", "parents")
    for parent in parents:
        if not isinstance(parent, str) or git.object_type(parent) != "commit":
            raise unprocessable("Parent SHA does not exist or is not a commit object")
    # Without author or committer GitHub records the caller (an App's bot for its tokens).
    fallback = acting_identity()
    author = _identity(body.get("author"), fallback)
    committer = _identity(body.get("committer"), author if body.get("author") else fallback)
    sha = git.write_commit(tree, parents, message, author, committer)
    payload = git_commit_json(links(), repo.full_name, git.read_commit(sha))
    return respond(payload, 201, {"Location": payload["url"]})


def _identity(raw: Any, fallback: GitIdentity) -> GitIdentity:
    if raw is None:
        return fallback
    if not isinstance(raw, dict) or not raw.get("name") or not raw.get("email"):
        raise validation_failed("Commit", "author", "invalid", "name and email are required")
    when = fallback.when
    if raw.get("date"):
        try:
            when = datetime.fromisoformat(str(raw["date"]).replace("Z", "+00:00"))
        except ValueError as error:
            raise validation_failed("Commit", "date", "invalid") from error
    return GitIdentity(str(raw["name"]), str(raw["email"]), when)


@blueprint.get("/repos/<owner>/<name>/git/ref/<path:ref>")
def get_ref(owner: str, name: str, ref: str) -> Response:
    repo, git = _repo(owner, name)
    full_ref = f"refs/{ref}"
    sha = git.ref_target(full_ref)
    if sha is None:
        raise not_found()
    return respond(_ref_payload(repo, git, full_ref, sha))


def _ref_payload(repo: RepoRecord, git: GitStore, ref: str, sha: str) -> dict[str, Any]:
    kind = git.object_type(sha) or "commit"
    return git_ref_json(links(), repo.full_name, ref, sha, kind)


@blueprint.post("/repos/<owner>/<name>/git/refs")
def create_ref(owner: str, name: str) -> Response:
    repo, git = _repo(owner, name, write=True)
    body = json_body()
    ref, sha = body.get("ref"), body.get("sha")
    if not isinstance(ref, str) or not _REF_NAME.match(ref) or ".." in ref:
        raise unprocessable(f"{ref} is not a valid ref name.")
    if not isinstance(sha, str) or not SHA.match(sha) or git.object_type(sha) is None:
        raise unprocessable("Object does not exist")
    if git.ref_target(ref) is not None or not git.update_ref(ref, sha, None):
        raise unprocessable("Reference already exists")
    payload = _ref_payload(repo, git, ref, sha)
    return respond(payload, 201, {"Location": payload["url"]})


@blueprint.patch("/repos/<owner>/<name>/git/refs/<path:ref>")
def update_ref(owner: str, name: str, ref: str) -> Response:
    repo, git = _repo(owner, name, write=True)
    body = json_body()
    sha, force = body.get("sha"), bool(body.get("force", False))
    full_ref = f"refs/{ref}"
    old = git.ref_target(full_ref)
    if old is None:
        raise unprocessable("Reference does not exist")
    if not isinstance(sha, str) or not SHA.match(sha) or git.object_type(sha) is None:
        raise unprocessable("Object does not exist")
    fast_forward = git.object_type(sha) == "commit" and git.is_ancestor(old, sha)
    if not force and not fast_forward:
        raise unprocessable("Update is not a fast forward")
    state = current().state
    check_ref_update(state, repo, caller(), full_ref, sha, forced=not fast_forward)
    if not git.update_ref(full_ref, sha, old):
        raise ApiError(409, "Reference update failed")
    repo.pushed_at = utc_now()
    return respond(_ref_payload(repo, git, full_ref, sha))


@blueprint.delete("/repos/<owner>/<name>/git/refs/<path:ref>")
def delete_ref(owner: str, name: str, ref: str) -> Response:
    repo, git = _repo(owner, name, write=True)
    full_ref = f"refs/{ref}"
    old = git.ref_target(full_ref)
    if old is None:
        raise unprocessable("Reference does not exist")
    if full_ref == f"refs/heads/{repo.default_branch}":
        raise unprocessable("Cannot delete the default branch")
    check_ref_update(current().state, repo, caller(), full_ref, None, forced=False)
    if not git.delete_ref(full_ref, old):
        raise ApiError(409, "Reference update failed")
    return no_content()


@blueprint.post("/repos/<owner>/<name>/git/trees")
def create_tree(owner: str, name: str) -> Response:
    repo, git = _repo(owner, name, write=True)
    body = json_body()
    entries = body.get("tree")
    if not isinstance(entries, list):
        raise validation_failed("Tree", "tree", "missing_field")
    base_tree = body.get("base_tree")
    if base_tree is not None:
        resolved = git.resolve(base_tree, "tree") if isinstance(base_tree, str) else None
        if resolved is None:
            raise unprocessable("base_tree is not a valid tree oid")
        base_tree = resolved
    changes = [_tree_change(git, entry, index) for index, entry in enumerate(entries)]
    sha = git.write_tree(base_tree, changes)
    payload = git_tree_json(links(), repo.full_name, sha, git.list_tree(sha))
    return respond(payload, 201, {"Location": payload["url"]})


def _tree_change(git: GitStore, entry: Any, index: int) -> TreeChange:
    if not isinstance(entry, dict):
        raise unprocessable(f"tree.{index} is not an object")
    path, mode, kind = entry.get("path"), entry.get("mode"), entry.get("type")
    if (
        not isinstance(path, str)
        or not path
        or any(part in {"", ".", ".."} for part in path.split("/"))
    ):
        raise unprocessable(f"tree.path contains a malformed path component: {path!r}")
    if mode not in _MODES:
        raise unprocessable(f"tree.mode must be one of {', '.join(_MODES)}")
    kind = kind or _MODES[mode]
    if _MODES[mode] != kind:
        raise unprocessable(f"tree.type {kind} does not match mode {mode}")
    has_content = "content" in entry and entry["content"] is not None
    sha = entry.get("sha")
    if has_content and sha is not None:
        raise unprocessable("Must supply either tree.sha or tree.content, not both")
    if has_content:
        if kind != "blob":
            raise unprocessable("tree.content is only for blobs")
        content = entry["content"]
        data = content.encode() if isinstance(content, str) else b""
        return TreeChange(path, mode, kind, None, data)
    if sha is None and "sha" in entry:
        # `"sha": null` removes the path from the base tree.
        return TreeChange(path, mode, kind, None, None)
    if sha is None:
        raise unprocessable("Must supply either tree.sha or tree.content")
    if not isinstance(sha, str) or git.object_type(sha) != kind:
        raise unprocessable(f"tree.sha {sha} is not a valid {kind}")
    return TreeChange(path, mode, kind, sha)


@blueprint.get("/repos/<owner>/<name>/git/trees/<tree_sha>")
def get_tree(owner: str, name: str, tree_sha: str) -> Response:
    repo, git = _repo(owner, name)
    sha = git.resolve(tree_sha, "tree")
    if sha is None:
        raise not_found()
    recursive = request.args.get("recursive") not in {None, "", "0", "false"}
    entries = git.list_tree(sha, recursive=recursive)
    return respond(git_tree_json(links(), repo.full_name, sha, entries))
